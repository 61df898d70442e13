//! Building stores: settings fred cannot use, pools of the caller's own,
//! and the blocking adapter on an async runtime's thread.

use memocache_core::testing::unique_prefix;
use memocache_core::{Args, BlockingStore, Bytes, Error, KeyMatch, Memoizer, Store};
use memocache_fred::fred::interfaces::ClientLike;
use memocache_fred::fred::types::Builder;
use memocache_fred::fred::types::config::{Config, ServerConfig};
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::callers::Runs;
use memocache_testkit::{RedisCluster, RedisServer};

/// The `Error::Config` message of a failed connection.
fn config_error(result: memocache_core::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(error @ Error::Config(_)) => error.report().to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn settings_fred_cannot_use_are_refused_with_how_to_fix_them() {
    for (url, hint) in [
        ("redis://127.0.0.1:6390/300", "0 to 255"),
        ("unix:///tmp/redis.sock", "use a redis:// or rediss:// url"),
        (
            "redis+unix:///tmp/redis.sock",
            "use a redis:// or rediss:// url",
        ),
        ("http://127.0.0.1:6390", "use redis:// or rediss://"),
    ] {
        let message = config_error(FredBlockingStore::connect(&RedisConfig::new().url(url)));
        assert!(message.contains(hint), "{url}: {message}");
    }
    let message = config_error(FredBlockingStore::connect(
        &RedisConfig::new()
            .url("rediss://127.0.0.1:6390/0")
            .ca_cert_pem("not a certificate"),
    ));
    assert!(message.contains("BEGIN CERTIFICATE"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_your_own_caches_and_clears() {
    let config = Config::from_url(&RedisServer::shared().url()).unwrap();
    let pool = Builder::from_config(config).build_pool(2).unwrap();
    pool.init().await.expect("connect the pool");
    let store = FredStore::from_pool(pool.clone());
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("own-pool"))
        .build();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: u32 = memo
            .call(&Args::new().arg(&1), || async move { r.run(11) })
            .await;
        assert_eq!(value, 11);
    }
    assert_eq!(runs.count(), 1, "the second call was not a hit");
    assert_eq!(memo.clear_namespace().await.unwrap(), 1);
    pool.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_your_own_is_a_store() {
    let config = Config::from_url(&RedisServer::shared().url()).unwrap();
    let client = Builder::from_config(config).build().unwrap();
    client.init().await.expect("connect the client");
    let store = FredStore::from_client(client)
        .await
        .expect("a centralized client");
    let key = unique_prefix("own-client");
    store
        .set(&key, Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(store.delete(&key).await.unwrap());
}

/// As `RedisBlockingStore::from_client` takes a redis-rs client: a fred
/// client, not yet connected, made a blocking store outside any runtime.
#[test]
fn a_client_of_your_own_is_a_blocking_store() {
    let config = Config::from_url(&RedisServer::shared().url()).unwrap();
    let client = Builder::from_config(config).build().unwrap();
    let store = FredBlockingStore::from_client(client).expect("connected there");
    let key = unique_prefix("own-client-blocking");
    BlockingStore::set(&store, &key, Bytes::from_static(b"v"), None).unwrap();
    assert_eq!(
        BlockingStore::get(&store, &key).unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(BlockingStore::delete(&store, &key).unwrap());
}

/// Each key goes to its slot's node, and a prefix is cleared on every
/// primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_pool_of_your_own_is_taken() {
    let cluster = RedisCluster::shared();
    let seeds = cluster
        .primaries()
        .into_iter()
        .map(|port| ("127.0.0.1", port));
    let config = Config {
        server: ServerConfig::new_clustered(seeds.collect()),
        ..Config::default()
    };
    let pool = Builder::from_config(config).build_pool(1).unwrap();
    pool.init().await.expect("connected to the cluster");
    let store = FredStore::from_pool(pool);
    let prefix = unique_prefix("own-cluster-pool");
    let keys: Vec<String> = (0..32).map(|i| format!("{prefix}:{i}")).collect();
    for key in &keys {
        store
            .set(key, Bytes::from(key.clone()), None)
            .await
            .unwrap();
    }
    let primaries: std::collections::BTreeSet<u16> =
        keys.iter().map(|key| cluster.primary_of(key).0).collect();
    assert!(primaries.len() > 1, "the keys all hash to one node");
    for key in &keys {
        assert_eq!(
            store.get(key).await.unwrap().as_deref(),
            Some(key.as_bytes())
        );
    }
    let cleared = store
        .delete_matching(&KeyMatch::Prefix(format!("{prefix}:")))
        .await
        .unwrap();
    assert_eq!(cleared, keys.len() as u64);
}

/// Called straight from async code (here the only thread of a
/// current-thread runtime), the adapter blocks that thread but answers,
/// and dropping it there does not panic.
#[tokio::test(flavor = "current_thread")]
async fn the_blocking_adapter_answers_on_an_async_runtime_thread() {
    let store = FredBlockingStore::connect(&RedisConfig::new().url(RedisServer::shared().url()))
        .expect("connect from async code");
    let key = unique_prefix("adapter-in-async");
    store.set(&key, Bytes::from_static(b"v"), None).unwrap();
    assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"v"[..]));
    assert!(store.delete(&key).unwrap());
    drop(store);
}
