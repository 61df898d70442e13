//! What memocache's two Redis clients (redis-rs in `memocache-redis`, fred
//! in `memocache-fred`) share, written once: the settings both are built
//! from ([`config`]: [`RedisConfig`](config::RedisConfig) with the
//! server's address, credentials, TLS, Sentinel and the environment's
//! variables, and the client's tunables,
//! [`ClientSettings`](config::ClientSettings)), walking and removing a
//! namespace's keys ([`keyspace`]: `SCAN` → filter → `UNLINK`, over every
//! primary of a cluster; the `memocache` command walks them too), reading
//! a cluster's topology ([`topology`]), and how a
//! command's failure becomes a [`memocache_core::Error`] and when it is
//! sent once more ([`failure`]), and a blocking store that drives an async
//! one on a runtime of its own ([`driven`]), asking Sentinel for the
//! primary ([`sentinel`]), the refusal of TLS by a store built without
//! it ([`tls`]), and what a store does when the server refuses change
//! tracking ([`refusal`]).
//!
//! Users reach the settings through the facade, as `memocache::RedisConfig`
//! and `memocache::redis::{RedisConfig, ClientSettings}` (features `redis`
//! or `fred`).
//!
//! Each store logs once, when built, the server it uses ([`announce`]).
//!
//! Each client only sends the commands; the decisions live here.
#![warn(missing_docs)]

pub mod announce;
pub mod config;
pub mod driven;
pub mod failure;
pub mod keyspace;
pub mod lock;
pub mod refusal;
pub mod sentinel;
pub mod tls;
pub mod topology;
