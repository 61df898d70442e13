//! What memocache's two Redis clients (redis-rs in `memocache-redis`, fred
//! in `memocache-fred`) share, written once: removing a namespace's keys
//! ([`keyspace`]: `SCAN` → filter → `UNLINK`, over every primary of a
//! cluster), reading a cluster's topology ([`topology`]), and how a
//! command's failure becomes a [`memocache_core::Error`] and when it is
//! sent once more ([`failure`]), and a blocking store that drives an async
//! one on a runtime of its own ([`driven`]), asking Sentinel for the
//! primary ([`sentinel`]), the refusal of TLS by a store built without
//! it ([`tls`]), and what a store does when the server refuses change
//! tracking ([`refusal`]).
//!
//! Each store logs once, when built, the server it uses ([`announce`]).
//!
//! Each client only sends the commands; the decisions live here.
#![warn(missing_docs)]

pub mod announce;
pub mod driven;
pub mod failure;
pub mod keyspace;
pub mod refusal;
pub mod sentinel;
pub mod tls;
pub mod topology;
