//! `#[cache_wrapper]` on a real redis-server, sync and async: the entries
//! land in Redis under the reference's keys, in the reference's format,
//! and the README's recipe (one `static` store for every cached function
//! of a service, sync and async) shares one store and one breaker.

use std::sync::LazyLock;
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
    assert!(raw_get(&key).is_some(), "written before the call returned");
    assert!(orders_invalidate(9, "shipped").await.unwrap());
    assert_eq!(raw_get(&key), None);
    assert_eq!(orders(9, "shipped").await, ["9-shipped"]);
    assert_eq!(ORDERS_RUNS.load(Ordering::SeqCst), before + 2);
}

/// The README's recipe: the service's one store, built by the first call.
static REDIS: LazyLock<memocache::Result<RedisStore>> =
    LazyLock::new(|| RedisStore::connect_lazy(&config()));

#[cache_wrapper(store = &REDIS, namespace = "macro:redis:shared:orders")]
async fn shared_orders(user_id: u64) -> Vec<String> {
    vec![format!("order of {user_id}")]
}

#[cache_wrapper(store = &REDIS, namespace = "macro:redis:shared:names")]
fn shared_name(user_id: u64) -> String {
    format!("user-{user_id}")
}

/// The same recipe, its store first built by a sync caller, outside any
/// runtime.
static REDIS_SYNC_FIRST: LazyLock<memocache::Result<RedisStore>> =
    LazyLock::new(|| RedisStore::connect_lazy(&config()));

#[cache_wrapper(store = &REDIS_SYNC_FIRST, namespace = "macro:redis:sync-first:names")]
fn first_name(user_id: u64) -> String {
    format!("user-{user_id}")
}

#[cache_wrapper(store = &REDIS_SYNC_FIRST, namespace = "macro:redis:sync-first:orders")]
async fn first_orders(user_id: u64) -> Vec<String> {
    vec![format!("order of {user_id}")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipes_sync_and_async_functions_share_one_store_and_one_breaker() {
    for _ in 0..2 {
        assert_eq!(shared_orders(3).await, ["order of 3"]);
        let name = tokio::task::spawn_blocking(|| shared_name(3))
            .await
            .unwrap();
        assert_eq!(name, "user-3");
    }
    for stats in [
        shared_orders_memoizer().stats(),
        shared_name_memoizer().stats(),
    ] {
        assert_eq!((stats.misses, stats.hits), (1, 1), "{stats:?}");
    }
    assert!(raw_get(&shared_orders_cache_key(3).unwrap()).is_some());
    assert!(raw_get(&shared_name_cache_key(3).unwrap()).is_some());

    let store = REDIS.as_ref().unwrap();
    let breaker = memocache::store::Backend::health(store).expect("a Redis store's breaker");
    let async_side = shared_orders_memoizer().health().unwrap();
    let sync_side = shared_name_memoizer().health().unwrap();
    assert!(
        async_side.same(&breaker),
        "the async function uses the store's breaker"
    );
    assert!(
        sync_side.same(&breaker),
        "the sync function uses the same breaker"
    );
}

#[test]
fn a_shared_store_first_built_outside_a_runtime_serves_both_kinds() {
    for _ in 0..2 {
        assert_eq!(first_name(4), "user-4");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(runtime.block_on(first_orders(4)), ["order of 4"]);
    }
    // The store's connection runs on its own runtime, not this one: it
    // still serves once this runtime is gone.
    drop(runtime);
    assert_eq!(first_name(5), "user-5");
    for stats in [
        first_name_memoizer().stats(),
        first_orders_memoizer().stats(),
    ] {
        assert_eq!(stats.store_errors + stats.timeouts, 0, "{stats:?}");
    }
    assert_eq!(first_name_memoizer().stats().hits, 1);
    assert_eq!(first_orders_memoizer().stats().hits, 1);
    assert!(raw_get(&first_name_cache_key(5).unwrap()).is_some());
    let breaker = first_name_memoizer().health().unwrap();
    assert!(breaker.same(first_orders_memoizer().health().unwrap()));
}
