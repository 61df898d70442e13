//! Shared pieces of the facade's integration tests; each test crate uses
//! part of them.
#![allow(dead_code)]

pub mod codec;
pub mod logs;
pub mod python;
pub mod rng;
pub mod vectors;
