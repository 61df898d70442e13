//! The Redis store of memocache on [fred]: [`FredStore`], an async store
//! over a multiplexed connection that reconnects by itself, built from the
//! same [`RedisConfig`] as the redis-rs store (URL or host/port/db, ACL
//! credentials, TLS with certificate verification and a custom CA (the
//! `tls` feature), timeouts, keepalive, health checks), or from a fred pool of your own. [`FredBlockingStore`] adapts it for blocking
//! code.
//!
//! Each store operation is one Redis command (or a `SCAN`/`UNLINK` loop
//! for [`delete_matching`](memocache_core::Store::delete_matching), never
//! `KEYS`): `GET`; `SET key value [PX ms]`, replacing value and expiry in
//! one step; `DEL`; `PTTL`. Values are stored as the bytes the codec made,
//! so Python services using `dtpyfw.redis.caching` read them, and so does
//! `memocache-redis`.
//!
//! A cache must not hold its callers up: commands fail at once while a
//! connection is known to be down (they are never queued for a
//! reconnection; one sent in the instant before a loss is noticed fails
//! after the socket timeout), every command gives up after the socket
//! timeout, and a first connection gives up after the connect timeout. The
//! connections are re-established in the background, retrying forever,
//! about a second apart at most.
//!
//! Errors are [`memocache_core::Error`]s (`Config` for bad settings,
//! `Backend { backend: "fred", .. }` otherwise) and never contain the
//! password; neither does `Debug`.
//!
//! Switching from `memocache-redis` is one constructor line: the
//! configuration, the [`Memoizer`](memocache_core::Memoizer) and the data
//! in Redis stay the same.
//!
//! ```no_run
//! # async fn demo() -> memocache::Result<()> {
//! use memocache::{Args, Memoizer, RedisConfig, FredStore};
//!
//! let config = RedisConfig::new()
//!     .host("cache.internal")
//!     .username("app")
//!     .password("s3cret")
//!     .ssl(true)
//!     .ca_cert_file("/etc/ssl/redis-ca.pem");
//! // Was: let store = memocache::RedisStore::connect(&config).await?;
//! let store = FredStore::connect(&config).await?;
//! let memo = Memoizer::builder(store).namespace("orders").build();
//! let total: u64 = memo.call(&Args::new().kwarg("user_id", &5), || async { 42 }).await;
//! # Ok(()) }
//! ```
//!
//! With [`RedisConfig::client_tracking`], the store tracks changes for a
//! [`Memoizer`](memocache_core::Memoizer)'s local tier: a listener
//! connection of its own (RESP2, subscribed to `__redis__:invalidate`)
//! receives the invalidations every tier-filling read asks for
//! (`CLIENT TRACKING ON REDIRECT <listener> NOLOOP`, sent with its `GET`
//! and `PTTL`), a `FLUSHDB`/`FLUSHALL` included; a lost connection flushes
//! the tiers. On a Redis Cluster there is one listener per primary, each
//! read is pinned to the connection of the primary serving its key and
//! checked to be served by that listener's node (`CLUSTER MYID` in the
//! same pipeline), and a change of the cluster's topology (a slot moved,
//! a failover) flushes the tiers. See [`FredStore`].
//!
//! A Redis Cluster is configured with [`RedisConfig::cluster`] (seed node
//! URLs): fred routes keys by slot and follows slot moves and failovers (a
//! command a node answers with `MOVED` is sent once more, to the slot's
//! new node; one answered with `ASK`, while its slot migrates, fails), and
//! `delete_matching` scans every primary. After a failover the
//! clients rediscover the cluster from the seeds and every node they last
//! knew, so one seed is enough even if it is the node that died. Unix
//! sockets are not supported.
//!
//! A primary found through Redis Sentinel is configured with
//! [`RedisConfig::sentinel`] (the master's name and the sentinels' URLs):
//! fred asks a sentinel for the primary (`SENTINEL
//! get-master-addr-by-name`), checks its `ROLE`, and asks again whenever
//! it reconnects, so a lost connection follows a failover. The store adds
//! what fred does not do: at connect it asks every sentinel in turn (no
//! sentinel that answered knows the master's name: [`Error::Config`];
//! none names a reachable primary: an error saying what each answered); it
//! keeps a subscription to `+switch-master` on every sentinel and
//! reconnects when one announces a new primary; and a `READONLY` reply (a
//! demoted primary) reconnects too. With change tracking, the listener
//! follows the primary as the pool does, every failover flushes the tiers,
//! and a read is tracked only while the pool and the listener are on the
//! same node. fred authenticates to every sentinel with the same
//! credentials and reaches sentinels and data nodes with the same TLS
//! settings: other settings are an [`Error::Config`] (`memocache-redis`
//! takes each one's own).
//!
//! [`Error::Config`]: memocache_core::Error::Config
//!
//! Depend on `memocache` (feature `fred`) rather than on this crate:
//! it re-exports `memocache::FredStore` and
//! `memocache::FredBlockingStore`, the paths the examples use.
#![warn(missing_docs)]

// One concern a file, named as in `memocache-redis` (ARCHITECTURE.md,
// "Which file holds what, in each client").
// `FredBlockingStore`: the async store, driven by a runtime of its own.
mod blocking;
// Sending commands: options, retries, redirections, the tracked `GET` and
// `PTTL`, what a failed command's error is.
mod command;
// A `RedisConfig` turned into a fred pool, and the errors of connecting;
// TLS in `connect/tls.rs`.
mod connect;
// The health check, and the background tasks a store stops when dropped.
mod health;
// The commands of the plumbing's keyspace sweep (`delete_matching`).
mod keyspace;
// A primary found through Sentinel: what the store adds to fred.
mod sentinel;
// `FredStore`: the struct, its constructors and accessors, `Store` and
// `Backend`.
mod store;
// Change tracking: the facade (`Tracking`), its parts in `tracking/`
// (cluster routing and the listeners per primary, a listener and its task,
// the watchers of the pool's connections, the wire).
mod tracking;

pub use blocking::FredBlockingStore;
pub use memocache_redis_plumbing::config::RedisConfig;
pub use store::FredStore;

/// The fred version these stores are built on, for
/// [`FredStore::from_pool`] and [`FredStore::from_client`].
pub use fred;
