//! The shared store conformance and Memoizer behaviour suites on the memory
//! store, through its async and its blocking interface.

use std::sync::Arc;

use memocache_core::testing::BlockingAsAsync;
use memocache_memory::MemoryStore;
use memocache_testkit::callers::Stores;

fn stores() -> Stores {
    let store = Arc::new(MemoryStore::new());
    Stores {
        async_store: store.clone(),
        blocking_store: Some(store),
    }
}

mod async_store {
    memocache_core::store_conformance_tests!(std::sync::Arc::new(
        memocache_memory::MemoryStore::new()
    ));
}

mod blocking_store {
    use super::*;
    memocache_core::store_conformance_tests!(Arc::new(BlockingAsAsync(Arc::new(
        MemoryStore::new()
    ))));
}

memocache_testkit::memoizer_behaviour_tests!(stores(), blocking);
