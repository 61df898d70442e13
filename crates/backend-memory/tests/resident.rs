//! A byte bound bounds resident memory: under a flood of distinct calls
//! through a memoizer, the process grows by at most 1.25 × the memory
//! store's bound. Alone in its test binary (the tier's check is in
//! `resident_tier.rs`), so no other test's allocations are counted.

use memocache_core::Memoizer;
use memocache_memory::{Capacity, MemoryStore};
use memocache_testkit::resident::{assert_within_bound, flood_peak_growth};

/// The bound under test.
const BOUND: u64 = 16 << 20;
/// Distinct calls: enough to fill the bound several times over.
const CALLS: u64 = 100_000;

#[test]
fn the_memory_store_s_byte_bound_bounds_resident_memory() {
    let store = MemoryStore::with_capacity(Capacity::Bytes(BOUND));
    let memo = Memoizer::builder(store.clone()).namespace("flood").build();
    let peak = flood_peak_growth(&memo, CALLS);
    assert_within_bound("the memory store", peak, BOUND, store.len(), CALLS);
}
