//! Short-lived programs, run as separate processes against a real
//! redis-server (the program is this test binary itself, run again with
//! [`RUN`] set):
//!
//! - with the defaults, a program whose `async` cached function is called
//!   once before `main` returns, without any flush, loses no write: 50
//!   runs, every write found;
//! - with `write_behind = true`, the documented `name_memoizer().flush()`
//!   before exiting loses no write either;
//! - a malformed `REDIS_URL` costs the cache, not the program: the
//!   function runs uncached, and the log names the variable once.

use std::process::{Command, Output};

use memocache::codec::{Codec, JsonZlib};
use memocache::key::{Sha256, cache_key};
use memocache::{Args, RedisConfig, RedisStore, cache_wrapper};
use memocache_testkit::RedisServer;

/// Set in the program's environment: the run's number.
const RUN: &str = "MEMOCACHE_SHORT_LIVED_RUN";
/// Set in the program's environment: the server to write to.
const URL: &str = "MEMOCACHE_SHORT_LIVED_URL";

fn url() -> String {
    std::env::var(URL).expect("the program is given the server's url")
}

#[cache_wrapper(
    store = RedisStore::connect_lazy(&RedisConfig::new().url(url())),
    namespace = "short-lived"
)]
async fn report(run: u64) -> String {
    format!("report {run}")
}

#[cache_wrapper(
    store = RedisStore::connect_lazy(&RedisConfig::new().url(url())),
    namespace = "short-lived:behind",
    write_behind = true
)]
async fn report_behind(run: u64) -> String {
    format!("report {run}")
}

#[cache_wrapper(
    store = RedisStore::connect_lazy(&RedisConfig::from_env()),
    namespace = "short-lived:from-env"
)]
async fn report_from_env(run: u64) -> String {
    format!("report {run}")
}

/// A fresh runtime for one short-lived program: it goes, with any task
/// still in it, when the program returns.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs this test binary again as the program of `test`, for `run`, with
/// `env` set; the program's output, once it has exited.
fn run_program(test: &str, run: u64, env: &[(&str, &str)]) -> Output {
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            test,
            "--quiet",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(RUN, run.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("the program runs");
    assert!(
        output.status.success(),
        "run {run}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The program's run number, when this process is the program.
fn program_run() -> Option<u64> {
    std::env::var(RUN)
        .ok()
        .map(|run| run.parse().expect("a run number"))
}

/// The value stored for `run` under `namespace`, decoded.
fn stored(
    connection: &mut memocache::redis::redis_rs::Connection,
    namespace: &str,
    run: u64,
) -> Option<String> {
    let key = cache_key(namespace, &Args::new().kwarg("run", &run), &[], &Sha256).unwrap();
    let stored: Option<Vec<u8>> = memocache::redis::redis_rs::cmd("GET")
        .arg(&key)
        .query(connection)
        .unwrap();
    stored.map(|bytes| JsonZlib::default().decode(&bytes).unwrap())
}

const NO_FLUSH: &str = "with_the_defaults_a_short_lived_program_loses_no_write";

#[test]
fn with_the_defaults_a_short_lived_program_loses_no_write() {
    if let Some(run) = program_run() {
        // One call of each, and out: no flush for the default function,
        // the documented flush for the write-behind one.
        return runtime().block_on(async {
            assert_eq!(report(run).await, format!("report {run}"));
            assert_eq!(report_behind(run).await, format!("report {run}"));
            report_behind_memoizer().flush().await;
        });
    }
    let server = RedisServer::start();
    let client = memocache::redis::redis_rs::Client::open(server.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    for run in 0..50_u64 {
        run_program(NO_FLUSH, run, &[(URL, &server.url())]);
        for namespace in ["short-lived", "short-lived:behind"] {
            let value = stored(&mut connection, namespace, run)
                .unwrap_or_else(|| panic!("run {run} lost its write under {namespace}"));
            assert_eq!(value, format!("report {run}"));
        }
    }
}

const BAD_URL: &str = "a_malformed_redis_url_runs_the_function_uncached_and_says_which_variable";

#[test]
fn a_malformed_redis_url_runs_the_function_uncached_and_says_which_variable() {
    if let Some(run) = program_run() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
        return runtime().block_on(async {
            for _ in 0..3 {
                assert_eq!(report_from_env(run).await, format!("report {run}"));
            }
            let stats = report_from_env_memoizer().stats();
            assert_eq!(
                (stats.hits, stats.misses, stats.bypassed),
                (0, 0, 3),
                "{stats:?}"
            );
            assert!(report_from_env_invalidate(run).await.is_err());
            println!("program done");
        });
    }
    // The program logs to stderr through a plain fmt subscriber.
    let output = run_program(
        BAD_URL,
        1,
        &[("REDIS_URL", "redis://:s3cret@cache.internal:notaport/0")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("program done"), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("runs uncached"))
        .collect();
    assert_eq!(lines.len(), 1, "logged once: {stderr}");
    assert!(
        lines[0].contains("REDIS_URL"),
        "names the variable: {}",
        lines[0]
    );
    assert!(!stderr.contains("s3cret"), "never the password: {stderr}");
}
