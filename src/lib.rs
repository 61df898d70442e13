#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

// What every user needs sits at the root; the rest is grouped by concept
// in the modules below.
pub use memocache_core::{
    Args, Cacheable, Condition, ConfigError, DEFAULT_FAIL_SAFE_THROTTLE, DEFAULT_OP_TIMEOUT,
    Elapsed, Error, LocalTier, Memoizer, MemoizerBuilder, Report, Result, Stats, TierStats,
};
/// The reference's names: `cache_data`, `acache_data`, `cache_function`,
/// `acache_function`; and `get_data`, `aget_data`, the read side of
/// `cache_data`.
pub use memocache_core::{
    acache_data, acache_function, aget_data, cache_data, cache_function, get_data,
};

/// The in-memory store (feature `memory`, on by default).
#[cfg(feature = "memory")]
pub use memocache_memory::MemoryStore;

/// Where and how to reach Redis, for the Redis stores (feature `redis` or
/// `fred`).
#[cfg(any(feature = "redis", feature = "fred"))]
pub use memocache_redis_plumbing::config::RedisConfig;

/// The Redis stores on redis-rs (feature `redis`, on by default).
#[cfg(feature = "redis")]
pub use memocache_redis::{RedisBlockingStore, RedisStore};

/// The Redis stores on fred (feature `fred`): an async client that
/// reconnects by itself, and a blocking adapter over it.
#[cfg(feature = "fred")]
pub use memocache_fred::{FredBlockingStore, FredStore};

#[cfg(feature = "macros")]
pub use memocache_macros::cache_wrapper;

/// Stores: the [`Store`](store::Store) and
/// [`BlockingStore`](store::BlockingStore) seams, what every store is and
/// offers ([`Backend`](store::Backend)), and their options.
pub mod store {
    /// The attribute a [`Store`] implementation is written with
    /// (`#[memocache::store::async_trait]`).
    pub use memocache_core::async_trait;
    pub use memocache_core::{
        Backend, BlockingStore, Bytes, Capabilities, Decoded, Entry, KeyTtl, LockAction,
        LockRequest, ReadOptions, RemoveOptions, Store, WriteOptions, expire_millis, untracked,
    };
    /// The in-memory store and its bounds (feature `memory`).
    #[cfg(feature = "memory")]
    pub use memocache_memory::{Capacity, DEFAULT_MAX_BYTES, MemoryStore};
}

/// The local tier: a memoizer's in-process copies of decoded values
/// ([`LocalTier`]), and how a store reports the changes
/// that keep them true ([`Invalidations`](tier::Invalidations),
/// [`TrackedTiers`](tier::TrackedTiers)).
pub mod tier {
    pub use memocache_core::{
        DEFAULT_MAX_TTL, FlushCause, Invalidations, LocalTier, TierStats, TrackedTiers,
    };
}

/// A store's health: the circuit breaker every memoizer over the store
/// shares ([`Health`](health::Health)), its policy and its state.
pub mod health {
    pub use memocache_core::{BreakerPolicy, BreakerState, Health};
}

/// Codecs: how values are stored. [`JsonZlib`](codec::JsonZlib) is the
/// reference's format, the only one Python services read.
pub mod codec {
    #[cfg(all(feature = "msgpack", feature = "zstd"))]
    pub use memocache_core::MsgpackZstd;
    pub use memocache_core::{
        Codec, Compression, DEFAULT_MAX_DECODED_SIZE, DynCodec, Format, Json, JsonPlain, JsonZlib,
        Layered, Uncompressed, Zlib, codec_by_name, codec_names,
    };
    #[cfg(feature = "zstd")]
    pub use memocache_core::{JsonZstd, Zstd};
    #[cfg(feature = "msgpack")]
    pub use memocache_core::{MsgPack, MsgpackPlain};
}

/// Keys: the reference's key layout, key hashers, the keys of a
/// namespace, and the forms of a call's arguments ([`Arguments`](key::Arguments)).
pub mod key {
    #[cfg(feature = "blake3")]
    pub use memocache_core::Blake3;
    pub use memocache_core::{
        Args, Arguments, Identity, KeyHasher, KeyMatch, LOCK_SUFFIX, LazyArgs, Resolved,
        STALE_SUFFIX, Sha256, cache_key, should_cache, stale_key,
    };
}

/// Python's JSON: the text `json.dumps(default=str)` writes, read and
/// written exactly, and [`PyValue`](python::PyValue) for values of any
/// shape.
pub mod python {
    pub use memocache_core::python::*;
}

/// Redis: the configuration and the client's tunables it holds, both
/// clients' stores, and the client crates themselves, for building a
/// connection of your own.
#[cfg(any(feature = "redis", feature = "fred"))]
pub mod redis {
    /// fred, for [`FredStore::from_pool`](crate::FredStore::from_pool).
    #[cfg(feature = "fred")]
    pub use memocache_fred::fred;
    #[cfg(feature = "fred")]
    pub use memocache_fred::{FredBlockingStore, FredStore};
    /// redis-rs, for [`RedisStore::from_client`](crate::RedisStore::from_client).
    #[cfg(feature = "redis")]
    pub use memocache_redis::redis_rs;
    #[cfg(feature = "redis")]
    pub use memocache_redis::{RedisBlockingStore, RedisStore};
    pub use memocache_redis_plumbing::config::{ClientSettings, RedisConfig};
}

/// The names of the metrics a memoizer reports through the `metrics`
/// facade (feature `metrics`); the README's "Metrics" lists their labels
/// and units.
pub use memocache_core::metric_names;

/// The conformance suites and test stores (feature `testing`; not a
/// stable API).
#[cfg(feature = "testing")]
pub use memocache_core::testing;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub use memocache_core::store_conformance_tests;

/// What the `#[cache_wrapper]` expansion refers to. Not a stable API.
#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
