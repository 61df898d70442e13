//! The Redis stores of memocache, on [redis-rs](redis): [`RedisStore`]
//! (async, one multiplexed connection that reconnects by itself) and
//! [`RedisBlockingStore`] (a bounded pool of connections for blocking
//! code), both
//! built from a [`RedisConfig`] with the reference's settings, TLS
//! (`rediss://`, certificate verification, a custom CA; the `tls`
//! feature) and ACL credentials.
//!
//! Each store operation is one Redis command (or a `SCAN`/`UNLINK` loop
//! for [`delete_matching`](memocache_core::Store::delete_matching), never
//! `KEYS`): `GET`; `SET key value [PX ms]`, replacing value and expiry in
//! one step; `DEL`; `PTTL`. Values are stored as the bytes the codec made,
//! so Python services using `dtpyfw.redis.caching` read them.
//!
//! Errors are [`memocache_core::Error`]s (`Config` for bad settings,
//! `Backend { backend: "redis", .. }` otherwise) and never contain the
//! password.
//!
//! ```no_run
//! # async fn demo() -> memocache::Result<()> {
//! use memocache::{Args, Memoizer, RedisConfig, RedisStore};
//!
//! let config = RedisConfig::new()
//!     .host("cache.internal")
//!     .username("app")
//!     .password("s3cret")
//!     .ssl(true)
//!     .ca_cert_file("/etc/ssl/redis-ca.pem");
//! let memo = Memoizer::builder(RedisStore::connect(&config).await?)
//!     .namespace("orders")
//!     .build();
//! let total: u64 = memo.call(&Args::new().kwarg("user_id", &5), || async { 42 }).await;
//! # Ok(()) }
//! ```
//!
//! Depend on `memocache` (feature `redis`) rather than on this crate:
//! it re-exports `memocache::RedisStore` and
//! `memocache::RedisBlockingStore`, the paths the examples use.
#![warn(missing_docs)]

mod blocking;
mod command;
pub mod connect;
mod own;
mod pool;
mod sentinel;
mod store;
mod tracking;

pub use blocking::RedisBlockingStore;
pub use memocache_redis_plumbing::config::RedisConfig;
pub use store::RedisStore;

/// The redis-rs version these stores are built on, for
/// [`RedisStore::from_client`] and friends.
pub use redis as redis_rs;
