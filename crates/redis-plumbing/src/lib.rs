//! What memocache's two Redis clients (redis-rs in `memocache-redis`, fred
//! in `memocache-fred`) share, written once: removing a namespace's keys
//! ([`keyspace`]: `SCAN` → filter → `UNLINK`, over every primary of a
//! cluster), reading a cluster's topology ([`topology`]), and how a
//! command's failure becomes a [`memocache_core::Error`] and when it is
//! sent once more ([`failure`]).
//!
//! Each client only sends the commands; the decisions live here.
#![warn(missing_docs)]

pub mod failure;
pub mod keyspace;
pub mod topology;
