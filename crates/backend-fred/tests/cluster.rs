//! FredStore on a local Redis Cluster (3 primaries, 3 replicas, started by
//! the tests): the store conformance and Memoizer behaviour suites, async
//! and through the blocking adapter; a namespace cleared across every
//! primary; the stores' only seed, a primary, killed under load.

use std::sync::Arc;

use memocache_core::testing::BlockingAsAsync;
use memocache_core::{Args, Memoizer, Store};
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::callers::Stores;
use memocache_testkit::{RedisCluster, suites};

async fn stores(config: &RedisConfig) -> Stores {
    Stores {
        async_store: Arc::new(FredStore::connect(config).await.unwrap()),
        blocking_store: Some(Arc::new(FredBlockingStore::connect(config).unwrap())),
    }
}

mod async_store {
    use super::*;
    memocache_core::store_conformance_tests!(Arc::new(
        FredStore::connect(&RedisCluster::shared().config())
            .await
            .unwrap()
    ));
}

mod blocking_store {
    use super::*;
    memocache_core::store_conformance_tests!(Arc::new(BlockingAsAsync(Arc::new(
        FredBlockingStore::connect(&RedisCluster::shared().config()).unwrap()
    ))));
}

memocache_testkit::memoizer_behaviour_tests!(
    stores(&RedisCluster::shared().config()).await,
    blocking
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_cleared_on_every_primary() {
    let cluster = RedisCluster::shared();
    let store = FredStore::connect(&cluster.config()).await.unwrap();
    let namespace = format!("fred:cluster:clear:{}", std::process::id());
    let memo = Memoizer::builder(store.clone())
        .namespace(namespace.clone())
        .write_behind(false)
        .build();
    for i in 0..600u32 {
        memo.call(&Args::new().arg(&i), || async move { i }).await;
    }
    let neighbour = Memoizer::builder(store.clone())
        .namespace(format!("{namespace}x"))
        .write_behind(false)
        .build();
    neighbour.call(&Args::new().arg(&1), || async { 1 }).await;

    assert_eq!(memo.clear_namespace().await.unwrap(), 600);
    for i in [0u32, 299, 599] {
        assert_eq!(
            store
                .get(&memo.key(&Args::new().arg(&i)).unwrap())
                .await
                .unwrap(),
            None
        );
    }
    let kept = neighbour.key(&Args::new().arg(&1)).unwrap();
    assert!(
        store.get(&kept).await.unwrap().is_some(),
        "the neighbour was cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_under_load_fails_over_without_errors() {
    suites::fail_over_under_load("fred", |seed| async move { stores(&seed).await }).await;
}
