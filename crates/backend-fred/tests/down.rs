//! Losing the server: operations fail with an error (they do not hang or
//! panic) while it is gone, a Memoizer keeps returning computed values, and
//! caching works again once the server is back, with no new store.

use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{Args, BlockingStore, Bytes, Error, KeyMatch, Memoizer, Store};
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::callers::Runs;
use memocache_testkit::{RedisServer, suites};
use support::runs_of_two_calls;

mod support;

/// How long a restarted server may take to be used again.
const RECOVERY: Duration = Duration::from_secs(10);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url())
}

fn assert_backend_error<T: std::fmt::Debug>(result: memocache_core::Result<T>) -> Error {
    let error = result.expect_err("an operation succeeded on a dead server");
    suites::assert_backend_error(&error, "fred");
    error
}

/// A failure of an operation on a server that just died: fred's error, or
/// a timeout for a command sent in the instant before the loss was noticed
/// (it waits for the socket timeout, and is then counted as one).
fn assert_failed<T: std::fmt::Debug>(result: memocache_core::Result<T>) {
    match result.expect_err("an operation succeeded on a dead server") {
        Error::Timeout(_) => {}
        error => suites::assert_backend_error(&error, "fred"),
    }
}

/// Every operation of `store` fails.
async fn assert_every_operation_fails(store: &dyn Store) {
    assert_failed(store.get("k").await);
    assert_failed(store.set("k", Bytes::from_static(b"v"), None).await);
    assert_failed(store.delete("k").await);
    assert_failed(store.ttl("k").await);
    assert_failed(store.delete_matching(&KeyMatch::Prefix("k".into())).await);
}

/// Writes then reads `key` until both succeed, for at most [`RECOVERY`];
/// answers the last read.
async fn write_and_read_until_served(
    store: &dyn Store,
    key: &str,
) -> memocache_core::Result<Option<Bytes>> {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let attempt = match store.set(key, Bytes::from_static(b"back"), None).await {
            Ok(()) => store.get(key).await,
            Err(e) => Err(e),
        };
        if attempt.is_ok() || Instant::now() > deadline {
            return attempt;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_fails_while_the_server_is_down_and_recovers() {
    let server = RedisServer::start();
    let store = FredStore::connect(&config(&server)).await.unwrap();
    let memo = Memoizer::builder(store.clone())
        .namespace(unique_prefix("down"))
        .build();
    store
        .set("k", Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert_eq!(runs_of_two_calls(&memo, "up").await, 1);

    server.kill();
    assert_every_operation_fails(&store).await;
    assert_eq!(
        runs_of_two_calls(&memo, "down").await,
        2,
        "nothing can be cached on a dead server"
    );

    server.restart();
    let read = write_and_read_until_served(&store, "k").await;
    assert_eq!(
        read.expect("never served again after the restart")
            .as_deref(),
        Some(&b"back"[..])
    );
    assert_eq!(
        runs_of_two_calls(&memo, "back").await,
        1,
        "caching did not resume after the restart"
    );
}

#[test]
fn the_blocking_adapter_fails_while_the_server_is_down_and_recovers() {
    let server = RedisServer::start();
    let store = FredBlockingStore::connect(&config(&server)).unwrap();
    let memo = Memoizer::builder(store.clone())
        .namespace(unique_prefix("down-blocking"))
        .build();
    store.set("k", Bytes::from_static(b"v"), None).unwrap();

    server.kill();
    for _ in 0..3 {
        assert_failed(store.get("k"));
    }
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(
            memo.call_blocking(&Args::new().arg(&1), move || r.run(7u32)),
            7
        );
    }
    assert_eq!(runs.count(), 2, "nothing can be cached on a dead server");

    server.restart();
    let deadline = Instant::now() + RECOVERY;
    let read = loop {
        let attempt = store
            .set("k", Bytes::from_static(b"back"), None)
            .and_then(|()| store.get("k"));
        if attempt.is_ok() || Instant::now() > deadline {
            break attempt;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        read.expect("never served again after the restart")
            .as_deref(),
        Some(&b"back"[..])
    );
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(
            memo.call_blocking(&Args::new().arg(&2), move || r.run(8u32)),
            8
        );
    }
    assert_eq!(runs.count(), 1, "caching did not resume after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_server_fails_and_names_it() {
    let server = RedisServer::start();
    server.kill();
    let error = FredStore::connect(&config(&server))
        .await
        .expect_err("connected to a dead server");
    suites::assert_cannot_connect(&error, "fred", server.port());
}

/// A lazy store starts while the server is down, fails (saying it is not
/// connected) until the server is up, then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_starts_while_the_server_is_down() {
    let server = RedisServer::start();
    server.kill();
    let store = FredStore::connect_lazy(&config(&server)).expect("a lazy store needs no server");
    let error = assert_backend_error(store.get("k").await);
    assert!(
        error
            .report()
            .to_string()
            .contains(&format!("not connected to 127.0.0.1:{}", server.port())),
        "{error}"
    );
    assert_every_operation_fails(&store).await;

    server.restart();
    let read = write_and_read_until_served(&store, "k").await;
    assert_eq!(
        read.expect("never served after the server came up")
            .as_deref(),
        Some(&b"back"[..])
    );
}
