//! A short-lived program whose `async` cached function writes in the
//! background (write-behind) loses no write when it calls the documented
//! flush, `name_memoizer().flush()`, before it exits: the test runs such a
//! program 50 times against a real redis-server and finds every last
//! write. The program is this test binary itself, run again with
//! [`RUN`] set.

use std::process::Command;

use memocache::codec::{Codec, JsonZlib};
use memocache::key::{Sha256, cache_key};
use memocache::{Args, RedisConfig, RedisStore, cache_wrapper};
use memocache_testkit::RedisServer;

/// Set in the program's environment: the run's number.
const RUN: &str = "MEMOCACHE_SHORT_LIVED_RUN";
/// Set in the program's environment: the server to write to.
const URL: &str = "MEMOCACHE_SHORT_LIVED_URL";
const NAMESPACE: &str = "short-lived";
const THIS_TEST: &str = "a_short_lived_program_that_flushes_loses_no_write";

fn url() -> String {
    std::env::var(URL).expect("the program is given the server's url")
}

#[cache_wrapper(
    store = RedisStore::connect_lazy(&RedisConfig::new().url(url())).expect("a valid url"),
    namespace = "short-lived"
)]
async fn report(run: u64) -> String {
    format!("report {run}")
}

/// The short-lived program: one call, the flush, and out: its runtime,
/// and any write still in the background, go with it.
fn program(run: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        assert_eq!(report(run).await, format!("report {run}"));
        report_memoizer().flush().await;
    });
}

#[test]
fn a_short_lived_program_that_flushes_loses_no_write() {
    if let Ok(run) = std::env::var(RUN) {
        return program(run.parse().expect("a run number"));
    }
    let server = RedisServer::start();
    let client = memocache::redis::redis_rs::Client::open(server.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    for run in 0..50_u64 {
        let status = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--exact", THIS_TEST, "--quiet", "--test-threads=1"])
            .env(RUN, run.to_string())
            .env(URL, server.url())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("the program runs");
        assert!(status.success(), "run {run}: {status}");
        let key = cache_key(NAMESPACE, &Args::new().kwarg("run", &run), &[], &Sha256).unwrap();
        let stored: Option<Vec<u8>> = memocache::redis::redis_rs::cmd("GET")
            .arg(&key)
            .query(&mut connection)
            .unwrap();
        let stored = stored.unwrap_or_else(|| panic!("run {run} lost its write"));
        let value: String = JsonZlib::default().decode(&stored).unwrap();
        assert_eq!(value, format!("report {run}"));
    }
}
