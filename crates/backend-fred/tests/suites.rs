//! The suites every Redis client runs (conformance, Memoizer behaviour,
//! faults, TLS, ACL users), on fred.

use memocache_core::Result;
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::suites::Client;

struct Fred;

impl Client for Fred {
    const BACKEND: &'static str = "fred";
    type Async = FredStore;
    type Blocking = FredBlockingStore;
    const TRACKS_CLUSTERS: bool = true;
    const TLS: bool = cfg!(feature = "tls");
    const SENTINEL_TLS_OF_ITS_OWN: bool = false;
    const REPLACES_UNRESPONSIVE_CONNECTIONS: bool = true;

    fn connect(config: &RedisConfig) -> impl Future<Output = Result<FredStore>> + Send {
        FredStore::connect(config)
    }

    fn connect_lazy(config: &RedisConfig) -> Result<FredStore> {
        FredStore::connect_lazy(config)
    }

    fn connect_blocking(config: &RedisConfig) -> Result<FredBlockingStore> {
        FredBlockingStore::connect(config)
    }

    fn connect_blocking_lazy(config: &RedisConfig) -> Result<FredBlockingStore> {
        FredBlockingStore::connect_lazy(config)
    }

    fn blocking(store: &FredStore) -> Result<FredBlockingStore> {
        store.blocking()
    }
}

memocache_testkit::client_suite_tests!(Fred);
