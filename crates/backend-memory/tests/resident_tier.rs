//! A local tier's byte bound bounds resident memory too: a tier and the
//! memory store behind it, each bounded at N bytes, grow the process by at
//! most 1.25 × 2N under a flood of distinct calls, each answered once from
//! the store and then kept by the tier. Alone in its test binary, so no
//! other test's allocations are counted.

use std::time::Duration;

use memocache_core::{LocalTier, Memoizer};
use memocache_memory::{Capacity, MemoryStore};
use memocache_testkit::resident::{assert_within_bound, flood_peak_growth};

/// The bound of the store, and of the tier.
const BOUND: u64 = 16 << 20;
/// Distinct calls: enough to fill the bounds several times over.
const CALLS: u64 = 100_000;

#[test]
fn a_tier_s_byte_bound_bounds_resident_memory() {
    let memo = Memoizer::builder(MemoryStore::with_capacity(Capacity::Bytes(BOUND)))
        .namespace("flood-tier")
        .local_tier(LocalTier::bytes(BOUND).max_ttl(Duration::from_secs(3600)))
        .build();
    let peak = flood_peak_growth(&memo, CALLS);
    let tier = memo.stats().tier.expect("a tier");
    assert_within_bound(
        "the store and its tier",
        peak,
        2 * BOUND,
        tier.entries,
        CALLS,
    );
}
