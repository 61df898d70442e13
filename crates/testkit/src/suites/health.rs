//! A store's health, shared by every memoizer over it, and timeouts that
//! mean the same on every client, against a real redis-server the checks
//! pause (SIGSTOP).
//!
//! The calls that wait for the operation timeout while Redis hangs are
//! counted from the memoizers' [`Stats::timeouts`]: with one breaker per
//! store they are its threshold plus one probe per cool-down, however many
//! memoizers share the store.

use std::time::{Duration, Instant};

use memocache_core::{
    Args, Backend, BlockingStore, BreakerPolicy, Error, Memoizer, ReadOptions, Stats, Store,
};
use memocache_redis_plumbing::config::RedisConfig;

use super::Client;
use crate::RedisServer;

/// Memoizers over clones of one store, as a service with that many cached
/// functions has.
const MEMOIZERS: usize = 20;
/// Calls made in turn through the memoizers while the server is paused.
const CALLS: u64 = 180;
const OP_TIMEOUT: Duration = Duration::from_millis(100);
const THRESHOLD: u32 = 5;
const COOL_DOWN: Duration = Duration::from_millis(400);

/// A config whose socket timeout is far longer than the memoizers'
/// operation timeout, so that what bounds a call is the operation timeout.
fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(Duration::from_secs(10))
        .circuit_breaker(Some(
            BreakerPolicy::new()
                .failure_threshold(THRESHOLD)
                .cool_down(COOL_DOWN),
        ))
}

fn memoizers<S: Backend + Clone>(store: &S) -> Vec<Memoizer<S>> {
    (0..MEMOIZERS)
        .map(|i| {
            Memoizer::builder(store.clone())
                .namespace(format!("health:fn{i}"))
                .op_timeout(Some(OP_TIMEOUT))
                .write_behind(false)
                .build()
        })
        .collect()
}

/// Asserts that the memoizers share one health view, and that while the
/// server hung only the breaker's threshold and its probes waited.
fn assert_outage_learned_once(label: &str, stats: &[Stats], memos_share: bool, paused: Duration) {
    assert!(
        memos_share,
        "{label}: the memoizers do not share one health view"
    );
    let timeouts: u64 = stats.iter().map(|s| s.timeouts).sum();
    let skipped: u64 = stats.iter().map(|s| s.skipped_by_breaker).sum();
    let errors: u64 = stats.iter().map(|s| s.store_errors).sum();
    // One probe per cool-down that ended while paused, and the last one.
    let probes = u64::try_from(paused.as_millis() / COOL_DOWN.as_millis()).unwrap() + 1;
    println!(
        "{label}: {CALLS} calls over {MEMOIZERS} memoizers while paused {paused:?}: \
         {timeouts} waited for the {OP_TIMEOUT:?} timeout, {skipped} skipped the store, \
         {errors} other errors (threshold {THRESHOLD}, at most {probes} probes)"
    );
    assert_eq!(errors, 0, "{label}: a hung server must show as timeouts");
    assert!(
        timeouts <= u64::from(THRESHOLD) + probes,
        "{label}: {timeouts} calls waited for the timeout, more than the threshold and probes"
    );
    assert!(
        timeouts >= u64::from(THRESHOLD),
        "{label}: the outage was not seen"
    );
    assert_eq!(
        timeouts + skipped,
        CALLS,
        "{label}: every call is one or the other"
    );
}

/// Every call returns its computed value, the store never answering.
fn expected(i: u64) -> u64 {
    i * 7
}

/// Calls each memoizer once with the server up, then [`CALLS`] times in
/// turn with it paused; asserts what [`assert_outage_learned_once`] does.
fn outage<S>(
    label: &str,
    server: &RedisServer,
    memos: &[Memoizer<S>],
    call: impl Fn(&Memoizer<S>, u64) -> u64,
) {
    for memo in memos {
        assert_eq!(call(memo, 0), expected(0));
    }
    server.pause();
    let start = Instant::now();
    for i in 1..=CALLS {
        let memo = &memos[usize::try_from(i).unwrap() % MEMOIZERS];
        assert_eq!(call(memo, i), expected(i), "{label}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let paused = start.elapsed();
    server.resume();
    let stats: Vec<Stats> = memos.iter().map(Memoizer::stats).collect();
    assert_outage_learned_once(label, &stats, shares_one_health(memos), paused);
}

/// 20 memoizers over clones of `C`'s async store, the server paused:
/// an outage is learned once, not once per memoizer.
pub fn async_memoizers_share_the_store_health<C: Client>() {
    let server = RedisServer::start();
    let runtime = runtime();
    let store = runtime.block_on(C::connect(&config(&server))).unwrap();
    outage(C::BACKEND, &server, &memoizers(&store), |memo, i| {
        runtime.block_on(memo.call(&Args::new().arg(&i), || async move { expected(i) }))
    });
}

/// The same through `C`'s blocking store and `call_blocking`.
pub fn blocking_memoizers_share_the_store_health<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect_blocking(&config(&server)).unwrap();
    let label = format!("{} blocking", C::BACKEND);
    outage(&label, &server, &memoizers(&store), |memo, i| {
        memo.call_blocking(&Args::new().arg(&i), || expected(i))
    });
}

/// A runtime for the async store, driven from the test's thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn shares_one_health<S>(memos: &[Memoizer<S>]) -> bool {
    let first = memos[0].health().expect("the memoizer used its store");
    memos
        .iter()
        .all(|m| m.health().is_some_and(|h| h.same(first)))
}

/// A hung server is [`Error::Timeout`] on `C`'s async store (after its
/// socket timeout) and on its blocking store (after the read's own
/// timeout, however long the socket timeout is).
pub fn a_hung_server_is_a_timeout<C: Client>() {
    let server = RedisServer::start();
    let runtime = runtime();
    let short = RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT);
    let store = runtime.block_on(C::connect(&short)).unwrap();
    let blocking = C::connect_blocking(&config(&server)).unwrap();
    assert!(
        Backend::capabilities(&blocking).bounded_operations,
        "a blocking store must honour a read's timeout"
    );
    server.pause();
    let answer = runtime.block_on(Store::get(&store, "health:hung"));
    assert!(
        matches!(answer, Err(Error::Timeout(_))),
        "{}: {answer:?}",
        C::BACKEND
    );
    let read = ReadOptions::new().timeout(Some(OP_TIMEOUT));
    let answer = BlockingStore::read(&blocking, "health:hung", &read);
    server.resume();
    assert!(
        matches!(answer, Err(Error::Timeout(_))),
        "{} blocking: {answer:?}",
        C::BACKEND
    );
}
