//! `#[cache_wrapper]` on a real redis-server, sync and async: the entries
//! land in Redis under the reference's keys, in the reference's format.

use std::sync::atomic::{AtomicUsize, Ordering};

use memocache::codec::{Codec, JsonZlib};
use memocache::key::{Sha256, cache_key};
use memocache::{Args, RedisBlockingStore, RedisConfig, RedisStore, cache_wrapper};
use memocache_testkit::RedisServer;

fn config() -> RedisConfig {
    RedisConfig::new().url(RedisServer::shared().url())
}

static PROFILE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(
    store = RedisBlockingStore::connect(&config()).expect("connect"),
    namespace = "macro:redis:profile",
    expire = 60,
    skip_cache_keys = ["request_id"]
)]
fn profile(user_id: u64, request_id: &str) -> (u64, String) {
    PROFILE_RUNS.fetch_add(1, Ordering::SeqCst);
    assert!(
        request_id.starts_with("r-"),
        "a request id, not part of the key"
    );
    (user_id, format!("user {user_id}"))
}

static ORDERS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(
    store = RedisStore::connect_lazy(&config()).expect("config"),
    namespace = "macro:redis:orders"
)]
async fn orders(user_id: u64, status: &str) -> Vec<String> {
    ORDERS_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![format!("{user_id}-{status}")]
}

/// Reads a key straight from the server, with redis-rs.
fn raw_get(key: &str) -> Option<Vec<u8>> {
    let client = memocache::redis::redis_rs::Client::open(RedisServer::shared().url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    memocache::redis::redis_rs::cmd("GET")
        .arg(key)
        .query(&mut connection)
        .unwrap()
}

#[test]
fn a_sync_function_caches_in_redis() {
    let before = PROFILE_RUNS.load(Ordering::SeqCst);
    assert_eq!(profile(5, "r-1"), (5, "user 5".to_owned()));
    assert_eq!(profile(5, "r-2"), (5, "user 5".to_owned()));
    assert_eq!(PROFILE_RUNS.load(Ordering::SeqCst), before + 1);

    let key = cache_key(
        "macro:redis:profile",
        &Args::new().kwarg("user_id", &5),
        &[],
        &Sha256,
    )
    .unwrap();
    assert_eq!(profile_cache_key(5, "any").unwrap(), key);
    let stored = raw_get(&key).expect("the entry is in Redis");
    let value: (u64, String) = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(value, (5, "user 5".to_owned()));

    assert!(profile_invalidate(5, "r-3").unwrap());
    assert_eq!(raw_get(&key), None);
}

#[tokio::test]
async fn an_async_function_caches_in_redis() {
    let before = ORDERS_RUNS.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(orders(9, "shipped").await, ["9-shipped"]);
    }
    assert_eq!(ORDERS_RUNS.load(Ordering::SeqCst), before + 1);
    let key = orders_cache_key(9, "shipped").unwrap();
    // Invalidation waits for the background write, so afterwards the entry
    // is gone for good.
    assert!(orders_invalidate(9, "shipped").await.unwrap());
    assert_eq!(raw_get(&key), None);
    assert_eq!(orders(9, "shipped").await, ["9-shipped"]);
    assert_eq!(ORDERS_RUNS.load(Ordering::SeqCst), before + 2);
}
