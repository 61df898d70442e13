//! The suites every Redis client runs (conformance, Memoizer behaviour,
//! faults, TLS, ACL users), on redis-rs.

use memocache_core::Result;
use memocache_redis::{RedisBlockingStore, RedisConfig, RedisStore};
use memocache_testkit::suites::Client;

struct RedisRs;

impl Client for RedisRs {
    const BACKEND: &'static str = "redis";
    type Async = RedisStore;
    type Blocking = RedisBlockingStore;
    const TRACKS_CLUSTERS: bool = true;
    const TLS: bool = cfg!(feature = "tls");
    const SENTINEL_TLS_OF_ITS_OWN: bool = true;
    const REPLACES_UNRESPONSIVE_CONNECTIONS: bool = false;

    fn connect(config: &RedisConfig) -> impl Future<Output = Result<RedisStore>> + Send {
        RedisStore::connect(config)
    }

    fn connect_lazy(config: &RedisConfig) -> Result<RedisStore> {
        RedisStore::connect_lazy(config)
    }

    fn connect_blocking(config: &RedisConfig) -> Result<RedisBlockingStore> {
        RedisBlockingStore::connect(config)
    }

    fn connect_blocking_lazy(config: &RedisConfig) -> Result<RedisBlockingStore> {
        RedisBlockingStore::connect_lazy(config)
    }

    fn blocking(store: &RedisStore) -> Result<RedisBlockingStore> {
        store.blocking()
    }
}

memocache_testkit::client_suite_tests!(RedisRs);
