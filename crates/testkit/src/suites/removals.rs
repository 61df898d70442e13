//! Removals in an outage: an `invalidate` or `clear_namespace` that cannot
//! reach the server is made once it is back, and the entries it removes
//! are never served meanwhile, although the server brings them back from
//! its append-only file.
//!
//! The server runs with `appendonly yes` and `appendfsync always`, is
//! SIGKILLed after the entries were written, and restarted on the same
//! files: the entries come back (the untouched control entry shows it),
//! and the memoizer's retries must remove the others. How long that took
//! after the restart is printed, never asserted.

use std::future::Future;
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{Args, Backend, Memoizer, Stats};
use memocache_redis_plumbing::config::RedisConfig;

use super::Client;
use crate::{RedisServer, redis_cli};

/// The memoizers' operation timeout, and the stores' socket and connect
/// timeouts.
const OP_TIMEOUT: Duration = Duration::from_millis(200);

/// How long the checks wait for the retries before they fail: a bound on
/// a broken retry loop, far beyond the one second it takes.
const GIVE_UP: Duration = Duration::from_secs(60);

fn durable_server() -> RedisServer {
    RedisServer::start_with_config("appendonly yes\nappendfsync always\n")
}

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT)
        .connect_timeout(OP_TIMEOUT)
}

fn policy<S: Backend>(store: S, namespace: &str) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(namespace)
        .expire(Duration::from_secs(3600))
        .op_timeout(Some(OP_TIMEOUT))
        .build()
}

/// Whether `key` is on the server.
fn exists(server: &RedisServer, key: &str) -> bool {
    redis_cli(server.port(), &["EXISTS", key]).trim() == "1"
}

/// Calls `probe` until it answers `true`; panics after [`GIVE_UP`].
async fn until<F: Future<Output = bool>>(what: &str, mut probe: impl FnMut() -> F) -> Duration {
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < GIVE_UP, "{what}: not after {GIVE_UP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// What the checks need of a memoizer, on either path.
trait Calls {
    async fn call(&self, args: &Args, value: u32) -> u32;
    async fn invalidate(&self, args: &Args) -> bool;
    async fn clear(&self) -> bool;
    fn key(&self, args: &Args) -> String;
    fn stats(&self) -> Stats;
}

impl<S: memocache_core::Store + 'static> Calls for Memoizer<S> {
    async fn call(&self, args: &Args, value: u32) -> u32 {
        Memoizer::call(self, args, || async move { value }).await
    }

    async fn invalidate(&self, args: &Args) -> bool {
        Memoizer::invalidate(self, args).await.is_ok()
    }

    async fn clear(&self) -> bool {
        self.clear_namespace().await.is_ok()
    }

    fn key(&self, args: &Args) -> String {
        Memoizer::key(self, args).expect("a key")
    }

    fn stats(&self) -> Stats {
        Memoizer::stats(self)
    }
}

/// A blocking memoizer, its calls made on a blocking thread.
struct OnThread<S>(Memoizer<S>);

impl<S: memocache_core::BlockingStore + 'static> Calls for OnThread<S> {
    async fn call(&self, args: &Args, value: u32) -> u32 {
        let (memo, args) = (self.0.clone(), args.clone());
        tokio::task::spawn_blocking(move || memo.call_blocking(&args, || value))
            .await
            .expect("call_blocking")
    }

    async fn invalidate(&self, args: &Args) -> bool {
        let (memo, args) = (self.0.clone(), args.clone());
        tokio::task::spawn_blocking(move || memo.invalidate_blocking(&args).is_ok())
            .await
            .expect("invalidate_blocking")
    }

    async fn clear(&self) -> bool {
        let memo = self.0.clone();
        tokio::task::spawn_blocking(move || memo.clear_namespace_blocking().is_ok())
            .await
            .expect("clear_namespace_blocking")
    }

    fn key(&self, args: &Args) -> String {
        self.0.key(args).expect("a key")
    }

    fn stats(&self) -> Stats {
        self.0.stats()
    }
}

/// Writes three entries, kills the server, invalidates two of them (both
/// fail), restarts the server on its files, and calls one of the two
/// until both removals are made: that call is never served the removed
/// value, the other entry is gone, and the third came back.
async fn invalidations_in_an_outage(server: &RedisServer, memo: &impl Calls, label: &str) {
    let (gone, called, kept) = (
        Args::new().arg(&1),
        Args::new().arg(&2),
        Args::new().arg(&3),
    );
    for args in [&gone, &called, &kept] {
        assert_eq!(memo.call(args, 1).await, 1);
    }
    server.kill();
    assert!(!memo.invalidate(&gone).await, "the server is down");
    assert!(!memo.invalidate(&called).await, "the server is down");
    assert_eq!(memo.stats().pending_invalidations, 2);
    server.restart();
    let served = std::sync::Mutex::new(Vec::new());
    let took = until("the removals made", || async {
        let value = memo.call(&called, 2).await;
        served.lock().expect("served").push(value);
        memo.stats().pending_invalidations == 0
    })
    .await;
    let served = served.into_inner().expect("served");
    println!("{label}: removals made {took:?} after the restart");
    assert!(
        !served.contains(&1),
        "an invalidated entry was served: {served:?}"
    );
    assert!(
        !exists(server, &memo.key(&gone)),
        "the invalidated entry is back"
    );
    assert!(
        exists(server, &memo.key(&kept)),
        "the server did not bring its entries back: the check shows nothing"
    );
    assert_eq!(memo.call(&called, 3).await, 2, "the call's own write stays");
}

/// `invalidate` in an outage, async path.
pub async fn an_invalidation_in_an_outage_is_made_once_the_server_is_back<C: Client>() {
    let server = durable_server();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = policy(store, &unique_prefix("removals:async"));
    invalidations_in_an_outage(&server, &memo, "async").await;
}

/// `invalidate_blocking` in an outage.
pub async fn a_blocking_invalidation_in_an_outage_is_made_once_the_server_is_back<C: Client>() {
    let server = durable_server();
    let store = super::connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = OnThread(policy(store, &unique_prefix("removals:blocking")));
    invalidations_in_an_outage(&server, &memo, "blocking").await;
}

/// Writes two entries in a namespace and one in another, kills the
/// server, clears the namespace (which fails), restarts the server on its
/// files: once the clear is made, the namespace is empty and the other
/// namespace's entry came back.
async fn a_clear_in_an_outage(server: &RedisServer, memo: &impl Calls, other: &impl Calls) {
    let (first, second) = (Args::new().arg(&1), Args::new().arg(&2));
    for args in [&first, &second] {
        assert_eq!(memo.call(args, 1).await, 1);
    }
    assert_eq!(other.call(&first, 1).await, 1);
    server.kill();
    assert!(!memo.clear().await, "the server is down");
    assert_eq!(memo.stats().pending_invalidations, 1);
    server.restart();
    until("the clear made", || async {
        memo.stats().pending_invalidations == 0
    })
    .await;
    for args in [&first, &second] {
        assert!(!exists(server, &memo.key(args)), "a cleared entry is back");
    }
    assert!(
        exists(server, &other.key(&first)),
        "the server did not bring its entries back: the check shows nothing"
    );
}

/// `clear_namespace` in an outage, on both paths.
pub async fn a_clear_in_an_outage_is_made_once_the_server_is_back<C: Client>() {
    let server = durable_server();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = policy(store.clone(), &unique_prefix("removals:clear"));
    let other = policy(store, &unique_prefix("removals:other"));
    a_clear_in_an_outage(&server, &memo, &other).await;

    let server = durable_server();
    let store = super::connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = OnThread(policy(store, &unique_prefix("removals:clear-blocking")));
    let other = policy(
        C::connect(&config(&server)).await.expect("connect"),
        &unique_prefix("removals:other"),
    );
    a_clear_in_an_outage(&server, &memo, &other).await;
}
