#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use memocache_core::*;

/// The in-memory store (feature `memory`, on by default).
#[cfg(feature = "memory")]
pub use memocache_memory::{Capacity, MemoryStore};

/// The Redis stores on redis-rs (feature `redis`, on by default).
#[cfg(feature = "redis")]
pub use memocache_redis::{RedisBlockingStore, RedisStore};

/// redis-rs, for building a client of your own
/// ([`RedisStore::from_client`]).
#[cfg(feature = "redis")]
pub use memocache_redis::redis;

/// The Redis store on fred (feature `fred`): an async pool that reconnects
/// by itself, and a blocking adapter over it.
#[cfg(feature = "fred")]
pub use memocache_fred::{FredBlockingStore, FredStore};

/// fred, for building a pool of your own ([`FredStore::from_pool`]).
#[cfg(feature = "fred")]
pub use memocache_fred::fred;

#[cfg(feature = "macros")]
pub use memocache_macros::cache_wrapper;

/// What the `#[cache_wrapper]` expansion refers to. Not a stable API.
#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
