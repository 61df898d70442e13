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

// One concern a file, named as in `memocache-fred` (ARCHITECTURE.md,
// "Which file holds what, in each client").
// `RedisBlockingStore`: a pool of plain connections, or the async store
// driven by a runtime of its own.
mod blocking;
// The Redis commands the stores send, built once for both.
mod command;
// A `RedisConfig` turned into redis-rs clients, and the errors of
// connecting; TLS in `connect/tls.rs`.
pub mod connect;
// The async store's health check.
mod health;
// The commands of the plumbing's keyspace sweep (`delete_matching`), for
// both stores.
mod keyspace;
// The connection a store opens and replaces itself (tracked single node,
// Sentinel primary).
mod own;
// The blocking store's connection pool.
mod pool;
// Finding the primary through Sentinel, and hearing of its failovers.
mod sentinel;
// `RedisStore`: the struct, its constructors and accessors, the `Link` its
// commands go through, `Store` and `Backend`.
mod store;
// Change tracking: RESP3 pushes, and the tracked cluster.
mod tracking;

pub use blocking::RedisBlockingStore;
pub use memocache_redis_plumbing::config::RedisConfig;
pub use store::RedisStore;

/// The redis-rs version these stores are built on, for
/// [`RedisStore::from_client`] and friends.
pub use redis as redis_rs;
