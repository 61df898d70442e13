#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use memocache_core::*;

/// The in-memory store (feature `memory`, on by default).
#[cfg(feature = "memory")]
pub use memocache_memory::{Capacity, MemoryStore};
