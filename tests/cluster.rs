//! memocache on a local Redis Cluster (3 primaries, 3 replicas, started by
//! the tests): the store conformance and Memoizer behaviour suites on the
//! redis-rs cluster client, async and blocking; a namespace cleared across
//! every primary; the stores' only seed, a primary, killed under load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache::redis::redis_rs::TypedCommands as _;
use memocache::testing::BlockingAsAsync;
use memocache::{Args, Memoizer, RedisBlockingStore, RedisConfig, RedisStore};
use memocache_testkit::callers::Stores;
use memocache_testkit::{RedisCluster, suites};

async fn stores(config: &RedisConfig) -> Stores {
    Stores {
        async_store: Arc::new(RedisStore::connect(config).await.unwrap()),
        blocking_store: Some(Arc::new(RedisBlockingStore::connect(config).unwrap())),
    }
}

mod async_store {
    use super::*;
    memocache::store_conformance_tests!(Arc::new(
        RedisStore::connect(&RedisCluster::shared().config())
            .await
            .unwrap()
    ));
}

mod blocking_store {
    use super::*;
    memocache::store_conformance_tests!(Arc::new(BlockingAsAsync(Arc::new(
        RedisBlockingStore::connect(&RedisCluster::shared().config()).unwrap()
    ))));
}

memocache_testkit::memoizer_behaviour_tests!(
    stores(&RedisCluster::shared().config()).await,
    blocking
);

/// How many keys each live primary holds under `prefix`.
fn keys_per_primary(cluster: &RedisCluster, prefix: &str) -> Vec<usize> {
    cluster
        .primaries()
        .into_iter()
        .map(|port| {
            let client =
                memocache::redis::redis_rs::Client::open(format!("redis://127.0.0.1:{port}"))
                    .unwrap();
            let mut connection = client.get_connection().unwrap();
            let pattern = format!("{prefix}*");
            connection
                .scan_match::<_, String>(&pattern)
                .unwrap()
                .count()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_cleared_on_every_primary() {
    let cluster = RedisCluster::shared();
    let namespace = format!("cluster:clear:{}", std::process::id());
    let memo = Memoizer::builder(RedisStore::connect(&cluster.config()).await.unwrap())
        .namespace(namespace.clone())
        .write_behind(false)
        .build();
    let neighbour = Memoizer::builder(RedisBlockingStore::connect(&cluster.config()).unwrap())
        .namespace(format!("{namespace}x"))
        .build();
    for i in 0..600u32 {
        memo.call(&Args::new().arg(&i), || async move { i }).await;
    }
    memo.call(&Args::new(), || async { 0u32 }).await;
    for i in 0..20u32 {
        neighbour.call_blocking(&Args::new().arg(&i), || i);
    }
    let spread = keys_per_primary(cluster, &format!("{namespace}:"));
    assert_eq!(spread.len(), 3);
    assert!(
        spread.iter().all(|n| *n > 100),
        "keys not spread over the primaries: {spread:?}"
    );
    assert_eq!(spread.iter().sum::<usize>(), 600);

    assert_eq!(memo.clear_namespace().await.unwrap(), 601);
    assert_eq!(
        keys_per_primary(cluster, &format!("{namespace}:")),
        [0, 0, 0]
    );
    assert_eq!(
        keys_per_primary(cluster, &format!("{namespace}x:"))
            .iter()
            .sum::<usize>(),
        20,
        "clearing a namespace touched its neighbour"
    );
    assert_eq!(neighbour.clear_namespace_blocking().unwrap(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_under_load_fails_over_without_errors() {
    suites::fail_over_under_load("redis", |seed| async move { stores(&seed).await }).await;
}

/// The blocking store drops a pooled connection that fails and opens
/// another from the seeds. With its only seed killed by a failover, it
/// opens the next one from the nodes its connections have seen.
#[test]
fn the_blocking_store_outlives_its_only_seed() {
    use memocache::store::{BlockingStore as _, Bytes};

    // Its own cluster: this test kills a node.
    let cluster = RedisCluster::start();
    let seed = cluster.primaries()[0];
    let store =
        RedisBlockingStore::connect(&RedisConfig::new().cluster([cluster.node(seed).url()]))
            .unwrap();
    // Keys on every primary, the seed's among them.
    let keys: Vec<String> = (0..24).map(|i| format!("outlive:{i}")).collect();
    for key in &keys {
        store.set(key, Bytes::from_static(b"v"), None).unwrap();
    }
    cluster.kill_primary(seed);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 0;
    loop {
        let errors: Vec<String> = keys
            .iter()
            .filter_map(|key| store.get(key).err().map(|e| e.report().to_string()))
            .collect();
        if errors.is_empty() {
            break;
        }
        failures += errors.len();
        assert!(
            Instant::now() < deadline,
            "the store did not come back after its only seed died: {errors:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("back after {failures} failed reads");
    store
        .set("outlive:after", Bytes::from_static(b"w"), None)
        .unwrap();
    assert_eq!(
        store.get("outlive:after").unwrap().as_deref(),
        Some(&b"w"[..])
    );
}
