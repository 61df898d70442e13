//! The commands each operation sends, as the server counts them: a write
//! is one `SET` with its expiry (never DEL then SET), and clearing a
//! prefix is `SCAN` + `UNLINK` (never `KEYS`). Concurrent callers share
//! one connection. The test asks the server on a connection of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use memocache_core::{Backend, Bytes, KeyMatch, KeyTtl, Store};
use memocache_fred::fred::types::Value;
use memocache_fred::{FredStore, RedisConfig};
use memocache_testkit::RedisServer;
use support::Peer;

mod support;

/// The server's `INFO section` reply.
async fn info(admin: &Peer, section: &'static str) -> String {
    match admin.command("INFO", vec![Value::from(section)]).await {
        Value::String(info) => info.to_string(),
        other => panic!("INFO answered {other:?}"),
    }
}

/// `calls` per command since the last `CONFIG RESETSTAT`.
async fn command_calls(admin: &Peer) -> BTreeMap<String, u64> {
    info(admin, "commandstats")
        .await
        .lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_sends_the_documented_commands() {
    let server = RedisServer::start();
    let store = FredStore::connect(
        &RedisConfig::new()
            .url(server.url())
            .health_check_interval(None),
    )
    .await
    .unwrap();
    // Logs name the client; the operations' metric, the database.
    assert_eq!((store.backend(), store.system()), ("fred", "redis"));
    let admin = Peer::connect(&server.url()).await;
    let reset = admin
        .command("CONFIG", vec![Value::from("RESETSTAT")])
        .await;
    assert_eq!(reset, Value::from("OK"));

    store
        .set(
            "ns:a",
            Bytes::from_static(b"1"),
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    store
        .set(
            "ns:a",
            Bytes::from_static(b"2"),
            Some(Duration::from_secs(90)),
        )
        .await
        .unwrap();
    store
        .set("ns:b", Bytes::from_static(b"3"), None)
        .await
        .unwrap();
    assert!(
        matches!(store.ttl("ns:a").await.unwrap(), KeyTtl::Expires(left) if left > Duration::from_secs(60))
    );
    assert_eq!(store.get("ns:a").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert!(store.delete("ns:b").await.unwrap());
    assert_eq!(
        store
            .delete_matching(&KeyMatch::Prefix("ns:".into()))
            .await
            .unwrap(),
        1
    );

    let calls = command_calls(&admin).await;
    assert_eq!(calls.get("set"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("get"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("pttl"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("del"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("unlink"), Some(&1), "{calls:?}");
    assert!(calls.get("scan").is_some_and(|&n| n >= 1), "{calls:?}");
    for never in ["keys", "expire", "pexpire", "setex", "psetex", "getset"] {
        assert_eq!(calls.get(never), None, "{never} was sent: {calls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_connection() {
    let server = RedisServer::start();
    let store = FredStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .unwrap();
    store
        .set("shared", Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    assert_eq!(
                        store.get("shared").await.unwrap().as_deref(),
                        Some(&b"v"[..])
                    );
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    // The store's one connection, and the test's own.
    let clients = info(&Peer::connect(&server.url()).await, "clients").await;
    assert!(
        clients
            .lines()
            .any(|line| line.trim() == "connected_clients:2"),
        "{clients}"
    );
}
