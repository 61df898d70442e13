//! The local tier: decoded values kept in process in front of the store,
//! so a hot hit costs neither a round trip nor a decode, and kept true by
//! the store's change reports ([`Invalidations`]).
//!
//! Coherence rests on one rule: a value read from the store enters the
//! tier only if no change to its key (and no flush) was reported since the
//! read began. A read takes a ticket before it asks the store
//! ([`Tier::begin`]); a change report withdraws the key's ticket
//! ([`Tier::changed`]) and a flush every ticket ([`Tier::flushed`]);
//! [`Tier::complete`] inserts only with its ticket still standing, under
//! the same lock, so a report racing a read can never leave the read's
//! (possibly old) value behind.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::store::KeyTtl;

/// The default bound on how long a local copy lives: 60 s.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);

/// How a memoizer's local tier is bounded; see
/// [`MemoizerBuilder::local_tier`](crate::MemoizerBuilder::local_tier).
///
/// ```
/// use memocache::LocalTier;
/// use std::time::Duration;
///
/// let tier = LocalTier::bytes(64 << 20)
///     .entries(100_000)
///     .max_ttl(Duration::from_secs(30));
/// assert_eq!(tier.max_bytes, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalTier {
    /// At most this many bytes, each entry weighed by its encoded size plus
    /// its key and a fixed overhead.
    pub max_bytes: u64,
    /// At most this many entries, if set.
    pub max_entries: Option<u64>,
    /// A local copy lives at most this long (and never longer than the
    /// store's entry).
    pub max_ttl: Duration,
    /// Serve local copies over a store that cannot report changes, for at
    /// most [`max_ttl`](Self::max_ttl): another process's write may then
    /// go unseen for that long. Off by default: over such a store the tier
    /// stays off.
    pub best_effort: bool,
}

impl LocalTier {
    /// A tier bounded at `max_bytes`, with copies living at most
    /// [`DEFAULT_MAX_TTL`].
    pub fn bytes(max_bytes: u64) -> Self {
        LocalTier {
            max_bytes,
            max_entries: None,
            max_ttl: DEFAULT_MAX_TTL,
            best_effort: false,
        }
    }

    /// See [`LocalTier::max_entries`].
    #[must_use]
    pub fn entries(mut self, max_entries: u64) -> Self {
        self.max_entries = Some(max_entries);
        self
    }

    /// See [`LocalTier::max_ttl`].
    #[must_use]
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// See [`LocalTier::best_effort`].
    #[must_use]
    pub fn best_effort(mut self, on: bool) -> Self {
        self.best_effort = on;
        self
    }
}

/// Why a tier dropped everything it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushCause {
    /// The store was flushed (`FLUSHDB`, `FLUSHALL`).
    StoreFlushed,
    /// The connection the changes come on was lost or replaced: changes
    /// may have gone unreported.
    ConnectionLost,
    /// The change reports fell behind and some were dropped.
    ReportsLost,
    /// The keys moved between servers (a cluster slot moved, a failover).
    TopologyChanged,
    /// A namespace was cleared.
    Cleared,
}

impl FlushCause {
    fn name(self) -> &'static str {
        match self {
            FlushCause::StoreFlushed => "store flushed",
            FlushCause::ConnectionLost => "connection lost",
            FlushCause::ReportsLost => "change reports lost",
            FlushCause::TopologyChanged => "topology changed",
            FlushCause::Cleared => "namespace cleared",
        }
    }
}

impl fmt::Display for FlushCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a store reports changes to its keys, for the local tiers over it
/// ([`Store::track_changes`](crate::Store::track_changes)).
pub trait Invalidations: Send + Sync {
    /// `key` changed: written, removed, expired or evicted.
    fn changed(&self, key: &str);

    /// Anything may have changed.
    fn flushed(&self, cause: FlushCause);
}

/// The local tiers a store reports changes to: what a store that
/// implements [`Store::track_changes`](crate::Store::track_changes) keeps,
/// and tells of each change. It holds the tiers weakly (a dropped
/// memoizer's tier is forgotten) and is cheap to clone (clones share the
/// list).
#[derive(Clone, Default)]
pub struct TrackedTiers(Arc<Mutex<Vec<Weak<dyn Invalidations>>>>);

impl TrackedTiers {
    /// A list with no tier yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<dyn Invalidations>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `tier`, forgetting the tiers that are gone.
    pub fn add(&self, tier: Weak<dyn Invalidations>) {
        let mut tiers = self.lock();
        tiers.retain(|t| t.strong_count() > 0);
        tiers.push(tier);
    }

    /// Whether no live tier is listed (then no report needs sending).
    pub fn is_empty(&self) -> bool {
        self.lock().iter().all(|t| t.strong_count() == 0)
    }

    fn each(&self, report: impl Fn(&dyn Invalidations)) {
        let tiers: Vec<_> = self.lock().iter().filter_map(Weak::upgrade).collect();
        for tier in tiers {
            report(&*tier);
        }
    }
}

impl Invalidations for TrackedTiers {
    fn changed(&self, key: &str) {
        self.each(|tier| tier.changed(key));
    }

    fn flushed(&self, cause: FlushCause) {
        self.each(|tier| tier.flushed(cause));
    }
}

impl fmt::Debug for TrackedTiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = self.lock().iter().filter(|t| t.strong_count() > 0).count();
        f.debug_struct("TrackedTiers").field("live", &live).finish()
    }
}

/// What a memoizer's local tier has done and holds; see
/// [`Stats::tier`](crate::Stats::tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Whether the tier serves (it stays off over a store that cannot
    /// report changes, unless best effort).
    pub live: bool,
    /// Calls answered from a local copy.
    pub hits: u64,
    /// Changes to keys reported (each drops that key's copy).
    pub invalidations: u64,
    /// Times every copy was dropped.
    pub flushes: u64,
    /// Copies held now.
    pub entries: u64,
    /// Their weight in bytes (encoded size, key and overhead).
    pub bytes: u64,
}

/// A decoded value, shared between the tier and the callers it serves.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// Fixed bytes counted per entry beyond its encoded value and key: the
/// cache's own bookkeeping, the `Arc` and the decoded value's allocation.
const ENTRY_OVERHEAD: u64 = 460;

/// A local copy: the decoded value, its weight and its life.
#[derive(Clone)]
struct Held {
    value: Shared,
    weight: u32,
    life: Duration,
}

/// Gives each copy its own life.
struct HeldLife;

impl Expiry<Arc<str>, Held> for HeldLife {
    fn expire_after_create(&self, _: &Arc<str>, held: &Held, _: Instant) -> Option<Duration> {
        Some(held.life)
    }
}

/// What a read holds between asking the store and [`Tier::complete`].
pub(crate) struct Ticket {
    key: Arc<str>,
    number: u64,
}

/// A memoizer's local tier, shared by its clones.
pub(crate) struct Tier {
    config: LocalTier,
    least_weight: u64,
    copies: Cache<Arc<str>, Held>,
    /// The reads under way, by key: the ticket that may still insert.
    tickets: Mutex<HashMap<Arc<str>, u64>>,
    next_ticket: AtomicU64,
    pub(crate) counters: TierCounters,
}

/// The tier's counters.
#[derive(Default)]
pub(crate) struct TierCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

impl Tier {
    pub(crate) fn new(config: LocalTier) -> Self {
        let copies = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_: &Arc<str>, held: &Held| held.weight)
            .expire_after(HeldLife)
            .build();
        Tier {
            config,
            // The cache bounds one measure, the weight: an entry bound is
            // kept by weighing each entry at least max_bytes / max_entries.
            least_weight: config
                .max_entries
                .map_or(0, |entries| config.max_bytes.div_ceil(entries.max(1))),
            copies,
            tickets: Mutex::default(),
            next_ticket: AtomicU64::new(0),
            counters: TierCounters::default(),
        }
    }

    pub(crate) fn config(&self) -> &LocalTier {
        &self.config
    }

    /// The local copy at `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Shared> {
        self.copies.get(key).map(|held| held.value)
    }

    /// Starts a read of `key` from the store.
    pub(crate) fn begin(&self, key: &str) -> Ticket {
        let key: Arc<str> = Arc::from(key);
        let number = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(Arc::clone(&key), number);
        Ticket { key, number }
    }

    /// Ends a read that found `value` (`encoded` bytes long, with `ttl`
    /// left in the store): it becomes the local copy unless a change or a
    /// flush was reported since [`begin`](Self::begin). Answers whether it
    /// did.
    pub(crate) fn complete(
        &self,
        ticket: Ticket,
        value: Shared,
        encoded: usize,
        ttl: Option<KeyTtl>,
    ) -> bool {
        let life = match ttl {
            Some(KeyTtl::Expires(left)) => left.min(self.config.max_ttl),
            Some(KeyTtl::Missing) => return self.abandon(ticket),
            Some(KeyTtl::Persistent) | None => self.config.max_ttl,
        };
        let mut tickets = self.lock();
        if tickets.get(&ticket.key) != Some(&ticket.number) {
            return false;
        }
        tickets.remove(&ticket.key);
        if life.is_zero() {
            return false;
        }
        let weight = u64::try_from(encoded + ticket.key.len())
            .unwrap_or(u64::MAX)
            .saturating_add(ENTRY_OVERHEAD)
            .max(self.least_weight);
        let held = Held {
            value,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            life,
        };
        // Inserted under the lock: a change report waits for it, then
        // removes it.
        self.copies.insert(ticket.key, held);
        true
    }

    /// Ends a read that found nothing to keep.
    pub(crate) fn abandon(&self, ticket: Ticket) -> bool {
        let mut tickets = self.lock();
        if tickets.get(&ticket.key) == Some(&ticket.number) {
            tickets.remove(&ticket.key);
        }
        false
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, u64>> {
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many copies the tier holds, and their weight in bytes.
    pub(crate) fn size(&self) -> (u64, u64) {
        self.copies.run_pending_tasks();
        (self.copies.entry_count(), self.copies.weighted_size())
    }

    /// What the tier has done and holds; `live` says whether it serves.
    pub(crate) fn stats(&self, live: bool) -> TierStats {
        let (entries, bytes) = self.size();
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TierStats {
            live,
            hits: get(&self.counters.hits),
            invalidations: get(&self.counters.invalidations),
            flushes: get(&self.counters.flushes),
            entries,
            bytes,
        }
    }
}

impl Invalidations for Tier {
    fn changed(&self, key: &str) {
        let mut tickets = self.lock();
        tickets.remove(key);
        self.copies.invalidate(key);
        drop(tickets);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    fn flushed(&self, cause: FlushCause) {
        let mut tickets = self.lock();
        tickets.clear();
        self.copies.invalidate_all();
        drop(tickets);
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(cause = cause.name(), "memocache: local tier flushed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier() -> Tier {
        Tier::new(LocalTier::bytes(1 << 20))
    }

    fn value(n: u32) -> Shared {
        Arc::new(n)
    }

    fn read(tier: &Tier, key: &str) -> Option<u32> {
        tier.get(key).and_then(|v| v.downcast_ref::<u32>().copied())
    }

    #[test]
    fn a_read_with_no_change_since_it_began_is_kept() {
        let tier = tier();
        let ticket = tier.begin("k");
        assert!(tier.complete(ticket, value(1), 10, None));
        assert_eq!(read(&tier, "k"), Some(1));
        tier.changed("k");
        assert_eq!(read(&tier, "k"), None);
    }

    #[test]
    fn a_change_reported_while_a_read_is_in_flight_keeps_its_value_out() {
        let tier = tier();
        // The read asks the store; the key changes; the (old) answer comes.
        let ticket = tier.begin("k");
        tier.changed("k");
        assert!(!tier.complete(ticket, value(1), 10, None));
        assert_eq!(read(&tier, "k"), None);
        // The next read, begun after the change, is kept.
        let ticket = tier.begin("k");
        assert!(tier.complete(ticket, value(2), 10, None));
        assert_eq!(read(&tier, "k"), Some(2));
    }

    #[test]
    fn a_flush_during_a_read_keeps_its_value_out() {
        let tier = tier();
        let kept = tier.begin("a");
        assert!(tier.complete(kept, value(1), 10, None));
        let ticket = tier.begin("b");
        tier.flushed(FlushCause::ConnectionLost);
        assert!(!tier.complete(ticket, value(2), 10, None));
        assert_eq!((read(&tier, "a"), read(&tier, "b")), (None, None));
    }

    #[test]
    fn a_later_read_of_the_same_key_supersedes_an_earlier_one() {
        let tier = tier();
        let first = tier.begin("k");
        let second = tier.begin("k");
        assert!(!tier.complete(first, value(1), 10, None));
        assert!(tier.complete(second, value(2), 10, None));
        assert_eq!(read(&tier, "k"), Some(2));
    }

    #[test]
    fn a_copy_never_outlives_the_store_entry_nor_max_ttl() {
        let tier = Tier::new(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)));
        let ticket = tier.begin("short");
        let left = Duration::from_millis(500);
        assert!(tier.complete(ticket, value(1), 10, Some(KeyTtl::Expires(left))));
        assert_eq!(read(&tier, "short"), Some(1));
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(read(&tier, "short"), None, "outlived the store's entry");
        let gone = tier.begin("gone");
        assert!(!tier.complete(gone, value(1), 10, Some(KeyTtl::Missing)));
        let capped = Tier::new(LocalTier::bytes(1 << 20).max_ttl(Duration::from_millis(500)));
        let ticket = capped.begin("k");
        assert!(capped.complete(ticket, value(1), 10, Some(KeyTtl::Persistent)));
        assert_eq!(read(&capped, "k"), Some(1));
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(read(&capped, "k"), None, "outlived max_ttl");
    }

    #[test]
    fn the_entry_bound_holds_beside_the_byte_bound() {
        let tier = Tier::new(LocalTier::bytes(1 << 30).entries(100));
        for i in 0..1_000u32 {
            let key = format!("key-{i}");
            let ticket = tier.begin(&key);
            tier.complete(ticket, value(i), 10, None);
        }
        let (entries, _) = tier.size();
        assert!(entries <= 100, "{entries} entries held");
    }

    #[test]
    fn the_byte_bound_holds() {
        let tier = Tier::new(LocalTier::bytes(100_000));
        for i in 0..10_000u32 {
            let key = format!("key-{i}");
            let ticket = tier.begin(&key);
            tier.complete(ticket, value(i), 1_000, None);
        }
        let (_, bytes) = tier.size();
        assert!(bytes <= 100_000, "{bytes} bytes held");
    }
}
