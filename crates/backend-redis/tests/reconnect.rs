//! Losing the server: operations fail (they do not hang or panic) while it
//! is gone, and both stores serve again once it is back, with no new store.

use memocache_core::{BlockingStore, Bytes, Store};
use memocache_redis::{RedisBlockingStore, RedisConfig, RedisStore};
use memocache_testkit::RedisServer;
use memocache_testkit::suites::assert_cannot_connect;

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url())
}

#[test]
fn the_blocking_store_fails_while_the_server_is_down_and_recovers() {
    let server = RedisServer::start();
    let store = RedisBlockingStore::connect(&config(&server)).unwrap();
    store.set("k", Bytes::from_static(b"v"), None).unwrap();

    server.kill();
    // The pooled connection is dead: its first use fails and closes it;
    // the next operation must open a new one, which is refused.
    assert!(store.get("k").is_err());
    let error = store.get("k").expect_err("read from a dead server");
    assert_cannot_connect(&error, "redis", server.port());

    server.restart();
    assert_eq!(store.get("k").unwrap(), None, "a restarted server is empty");
    store.set("k", Bytes::from_static(b"w"), None).unwrap();
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"w"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_store_fails_while_the_server_is_down_and_recovers() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    store
        .set("k", Bytes::from_static(b"v"), None)
        .await
        .unwrap();

    server.kill();
    for _ in 0..3 {
        assert!(store.get("k").await.is_err(), "read from a dead server");
    }

    server.restart();
    // The connection manager reconnects after the first failure it sees.
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(store.get("k").await.map_err(|e| e.report().to_string()));
    }
    assert!(
        answers.contains(&Ok(None)),
        "never served again: {answers:?}"
    );
    store
        .set("k", Bytes::from_static(b"w"), None)
        .await
        .unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"w"[..]));
}
