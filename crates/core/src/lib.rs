//! The core of memocache: the [`Store`], [`Codec`] and [`KeyHasher`] seams,
//! the reference's key layout, Python-exact JSON, and the [`Memoizer`].
//!
//! This crate has no network dependency; backends implement [`Store`] in
//! their own crates. Most users depend on the `memocache` facade instead.
#![warn(missing_docs)]

mod breaker;
mod codec;
mod condition;
mod dyn_codec;
mod engine;
mod error;
mod flight;
mod hasher;
mod health;
mod identity;
mod instruments;
mod key;
mod memoizer;
pub mod python;
mod reference;
mod stats;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tier;

pub use breaker::{BreakerPolicy, BreakerState};
#[cfg(all(feature = "msgpack", feature = "zstd"))]
pub use codec::MsgpackZstd;
pub use codec::{
    Codec, Compression, DEFAULT_MAX_DECODED_SIZE, Format, Json, JsonPlain, JsonZlib, Layered,
    Uncompressed, Zlib,
};
#[cfg(feature = "zstd")]
pub use codec::{JsonZstd, Zstd};
#[cfg(feature = "msgpack")]
pub use codec::{MsgPack, MsgpackPlain};
pub use condition::{Condition, should_cache};
pub use dyn_codec::{DynCodec, codec_by_name, codec_names};
pub use engine::Cacheable;
pub use error::{BoxError, Error, Result};
pub use error::{ConfigError, Elapsed, Report};
#[cfg(feature = "blake3")]
pub use hasher::Blake3;
pub use hasher::{KeyHasher, Sha256};
pub use health::Health;
pub use identity::{Arguments, Identity, LazyArgs, Resolved};
pub use instruments::names as metric_names;
pub use key::{Args, KeyMatch, LOCK_SUFFIX, STALE_SUFFIX, cache_key, stale_key};
pub use memoizer::{DEFAULT_FAIL_SAFE_THROTTLE, DEFAULT_OP_TIMEOUT, Memoizer, MemoizerBuilder};
pub use reference::{
    acache_data, acache_function, aget_data, cache_data, cache_function, get_data,
};
pub use stats::Stats;
pub use store::{
    Backend, BlockingStore, Capabilities, Decoded, Entry, KeyTtl, LockAction, LockRequest,
    ReadOptions, RemoveOptions, Store, WriteOptions, expire_millis, untracked,
};
pub use tier::{DEFAULT_MAX_TTL, FlushCause, Invalidations, LocalTier, TierStats, TrackedTiers};

// Re-exported for backends and generated code.
#[doc(hidden)]
pub use async_trait::async_trait;
pub use bytes::Bytes;
/// Drives a future whose operations complete when first polled (a
/// blocking client's) on this thread; for backends.
#[doc(hidden)]
pub use engine::block_on;
