//! Counters of what a [`Memoizer`](crate::Memoizer) did.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::breaker::BreakerState;
use crate::tier::TierStats;

/// Running counters, shared by a memoizer's clones.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) bypassed: AtomicU64,
    pub(crate) merged: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) skipped_by_breaker: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) soft_timeouts: AtomicU64,
    pub(crate) hard_timeouts: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) lock_served: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, breaker: BreakerState) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            hits: get(&self.hits),
            misses: get(&self.misses),
            bypassed: get(&self.bypassed),
            merged: get(&self.merged),
            store_errors: get(&self.store_errors),
            timeouts: get(&self.timeouts),
            decode_errors: get(&self.decode_errors),
            skipped_by_breaker: get(&self.skipped_by_breaker),
            stale_served: get(&self.stale_served),
            refreshes: get(&self.refreshes),
            soft_timeouts: get(&self.soft_timeouts),
            hard_timeouts: get(&self.hard_timeouts),
            lock_waits: get(&self.lock_waits),
            lock_served: get(&self.lock_served),
            pending_invalidations: 0,
            invalidation_overflows: 0,
            breaker,
            tier: None,
        }
    }
}

/// What a memoizer has done since it was built; see
/// [`Memoizer::stats`](crate::Memoizer::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the store (local copies are counted in
    /// [`tier`](Self::tier)).
    pub hits: u64,
    /// Calls that ran their computation after a miss (including misses
    /// caused by store errors, timeouts, corrupt values and an open
    /// breaker).
    pub misses: u64,
    /// Calls that did not use the cache at all: no `cache_only_for`
    /// condition matched, or an argument could not be encoded.
    pub bypassed: u64,
    /// Calls that waited for a concurrent call with the same key instead of
    /// doing the same work (single-flight).
    pub merged: u64,
    /// Store operations that failed.
    pub store_errors: u64,
    /// Store operations abandoned after the operation timeout.
    pub timeouts: u64,
    /// Stored values that could not be decoded (treated as misses).
    pub decode_errors: u64,
    /// Store operations skipped because the circuit breaker was open.
    pub skipped_by_breaker: u64,
    /// Calls answered with a stale value because the computation failed
    /// or a failure of it was being throttled (fail-safe), flight waiters
    /// included.
    pub stale_served: u64,
    /// Refreshes started ahead of an entry's expiry (refresh-ahead).
    pub refreshes: u64,
    /// Computations whose caller got a stale value at the soft timeout
    /// (the computation went on in the background).
    pub soft_timeouts: u64,
    /// Computations given up at the hard timeout (they went on in the
    /// background; the caller got a stale value or the timeout's error).
    pub hard_timeouts: u64,
    /// Misses that found the entry's distributed lock held by another
    /// process and waited ([`distributed_lock`](crate::MemoizerBuilder::distributed_lock)).
    pub lock_waits: u64,
    /// Of those, the calls answered with the entry the lock's holder wrote
    /// (the others took the lock in the end and computed).
    pub lock_served: u64,
    /// `invalidate` and `clear_namespace` calls that could not reach the
    /// store and wait to be made again (a clear counts once), now.
    pub pending_invalidations: u64,
    /// Times more invalidations waited than the queue holds (10,000 keys),
    /// so that the namespace's entries will all be removed instead (or,
    /// for an empty namespace, the oldest waiting key was given up).
    pub invalidation_overflows: u64,
    /// The circuit breaker's state now.
    pub breaker: BreakerState,
    /// The local tier's counters and size, for a memoizer with one.
    pub tier: Option<TierStats>,
}
