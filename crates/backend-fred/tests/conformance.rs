//! The shared store conformance and Memoizer behaviour suites on a real
//! redis-server, through the async store and the blocking adapter.

use std::sync::Arc;

use memocache_core::RedisConfig;
use memocache_core::testing::{BlockingAsAsync, Stores};
use memocache_fred::{FredBlockingStore, FredStore};
use memocache_testkit::RedisServer;

fn config() -> RedisConfig {
    RedisConfig::new().url(RedisServer::shared().url())
}

async fn connect_async() -> FredStore {
    FredStore::connect(&config())
        .await
        .expect("connect the async store")
}

fn connect_blocking() -> FredBlockingStore {
    FredBlockingStore::connect(&config()).expect("connect the blocking adapter")
}

async fn stores() -> Stores {
    Stores {
        async_store: Arc::new(connect_async().await),
        blocking_store: Some(Arc::new(connect_blocking())),
    }
}

mod async_store {
    use super::*;
    memocache_core::store_conformance_tests!(Arc::new(connect_async().await));
}

mod blocking_store {
    use super::*;
    memocache_core::store_conformance_tests!(Arc::new(BlockingAsAsync(Arc::new(
        connect_blocking()
    ))));
}

memocache_core::memoizer_behaviour_tests!(stores().await, blocking);
