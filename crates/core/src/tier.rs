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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::identity::Handle;
use crate::instruments::TierInstruments;
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
/// ([`Backend::track_changes`](crate::Backend::track_changes)).
pub trait Invalidations: Send + Sync {
    /// `key` changed: written, removed, expired or evicted.
    fn changed(&self, key: &str);

    /// Anything may have changed.
    fn flushed(&self, cause: FlushCause);

    /// The store cannot report changes after all (its server refused to
    /// track them, say, which a store that connects lazily learns only
    /// once it connects): nothing more will be reported. A local tier
    /// drops every copy, withdraws the reads under way, and from then on
    /// keeps and serves nothing (unless
    /// [`best_effort`](LocalTier::best_effort), which then goes on as over
    /// any store that cannot report changes).
    fn untracked(&self);
}

/// The local tiers a store reports changes to: what a store that
/// implements [`Backend::track_changes`](crate::Backend::track_changes) keeps,
/// and tells of each change. It holds the tiers weakly (a dropped
/// memoizer's tier is forgotten) and is cheap to clone (clones share the
/// list).
///
/// Once told [`untracked`](Invalidations::untracked), it tells its tiers,
/// forgets them and reports nothing more; a tier [`add`](Self::add)ed
/// after that is told at once, so a tier registered while the store
/// learns it cannot track is never left believing it can.
#[derive(Clone, Default)]
pub struct TrackedTiers(Arc<Mutex<Listed>>);

/// The tiers of a [`TrackedTiers`], and whether the store stopped tracking.
#[derive(Default)]
struct Listed {
    tiers: Vec<Weak<dyn Invalidations>>,
    untracked: bool,
}

impl TrackedTiers {
    /// A list with no tier yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Listed> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `tier`, forgetting the tiers that are gone; after
    /// [`untracked`](Invalidations::untracked), tells `tier` so instead.
    pub fn add(&self, tier: Weak<dyn Invalidations>) {
        let mut listed = self.lock();
        if listed.untracked {
            drop(listed);
            if let Some(tier) = tier.upgrade() {
                tier.untracked();
            }
            return;
        }
        listed.tiers.retain(|t| t.strong_count() > 0);
        listed.tiers.push(tier);
    }

    /// Whether no live tier is listed (then no report needs sending).
    pub fn is_empty(&self) -> bool {
        self.lock().tiers.iter().all(|t| t.strong_count() == 0)
    }

    fn each(&self, report: impl Fn(&dyn Invalidations)) {
        let tiers: Vec<_> = self.lock().tiers.iter().filter_map(Weak::upgrade).collect();
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

    fn untracked(&self) {
        let tiers = {
            let mut listed = self.lock();
            listed.untracked = true;
            std::mem::take(&mut listed.tiers)
        };
        for tier in tiers.iter().filter_map(Weak::upgrade) {
            tier.untracked();
        }
    }
}

impl fmt::Debug for TrackedTiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listed = self.lock();
        let live = listed.tiers.iter().filter(|t| t.strong_count() > 0).count();
        f.debug_struct("TrackedTiers")
            .field("live", &live)
            .field("untracked", &listed.untracked)
            .finish()
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
    /// How long the cache keeps it: its fresh life, and with fail-safe the
    /// store entry's remaining life and the stale window after it.
    life: Duration,
    /// With fail-safe, when it stops being served as fresh (it is then
    /// kept, stale, for [`Tier::stale`]); without, the cache's expiry says.
    fresh_until: Option<Instant>,
    /// When the store entry it copies expires, if it does and was asked
    /// (for refresh-ahead).
    expires: Option<Instant>,
    /// When it stops being served fresh, for a [`Handle`] on it.
    until: Option<Instant>,
    /// Cleared when a change report drops it, for the [`Handle`]s on it.
    live: Arc<AtomicBool>,
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
    /// How long a copy is kept, stale, past its store entry's expiry
    /// (fail-safe's `max_stale`; zero without fail-safe).
    keep_stale: Duration,
    least_weight: u64,
    copies: Cache<Arc<str>, Held>,
    /// The reads under way, by key: the ticket that may still insert.
    tickets: Mutex<HashMap<Arc<str>, u64>>,
    next_ticket: AtomicU64,
    /// Counts the times every copy was dropped (flushes, `untracked`):
    /// a [`Handle`] on a copy stands only while it is unchanged.
    epoch: AtomicU64,
    /// Set when the store said it cannot report changes after all
    /// ([`Invalidations::untracked`]): unless best effort, the tier then
    /// keeps and serves nothing.
    untracked: AtomicBool,
    pub(crate) counters: TierCounters,
    /// Wakes the calls that wait for another process's entry
    /// (`distributed_lock`) at each change report.
    changes: Changes,
    /// Its metrics' handles.
    instruments: TierInstruments,
}

/// A count of the change reports a tier received, which calls can wait on,
/// on the async path or blocking a thread.
#[derive(Default)]
pub(crate) struct Changes {
    seen: AtomicU64,
    /// How many wait now: nobody is woken when nobody waits.
    waiting: AtomicU64,
    guard: Mutex<()>,
    condvar: std::sync::Condvar,
    notify: tokio::sync::Notify,
}

impl Changes {
    /// How many changes were reported so far: what a wait compares with.
    pub(crate) fn mark(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// A change was reported: wakes every wait.
    fn reported(&self) {
        self.seen.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            drop(self.guard.lock().unwrap_or_else(PoisonError::into_inner));
            self.condvar.notify_all();
            self.notify.notify_waiters();
        }
    }

    /// Waits up to `limit` for a change reported after `since` (a
    /// [`mark`](Self::mark)); at once if there was one. Inside a tokio
    /// runtime (its timers enabled).
    pub(crate) async fn wait(&self, since: u64, limit: Duration) {
        let _waiting = Waiting::on(self);
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if self.mark() == since {
            let _ = tokio::time::timeout(limit, notified).await;
        }
    }

    /// [`wait`](Self::wait), blocking the thread.
    pub(crate) fn wait_blocking(&self, since: u64, limit: Duration) {
        let _waiting = Waiting::on(self);
        let guard = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .condvar
            .wait_timeout_while(guard, limit, |_| self.mark() == since);
    }
}

/// One wait on [`Changes`], counted while it lasts.
struct Waiting<'a>(&'a Changes);

impl<'a> Waiting<'a> {
    fn on(changes: &'a Changes) -> Self {
        changes.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(changes)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The tier's counters.
#[derive(Default)]
pub(crate) struct TierCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

impl Tier {
    /// A tier bounded by `config`, keeping copies `keep_stale` past their
    /// store entry's expiry for fail-safe.
    pub(crate) fn new(
        config: LocalTier,
        keep_stale: Duration,
        instruments: TierInstruments,
    ) -> Self {
        let copies = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_: &Arc<str>, held: &Held| held.weight)
            .expire_after(HeldLife)
            // A copy that leaves, however (replaced by a newer read's,
            // evicted, expired, removed), ends the handles on it: one
            // evicted and then changed in the store gets no change report
            // here, and its value may outlive it in the map's queues.
            .eviction_listener(|_: Arc<Arc<str>>, gone: Held, _| {
                gone.live.store(false, Ordering::Release);
            })
            .build();
        Tier {
            config,
            keep_stale,
            // The cache bounds one measure, the weight: an entry bound is
            // kept by weighing each entry at least max_bytes / max_entries.
            least_weight: config
                .max_entries
                .map_or(0, |entries| config.max_bytes.div_ceil(entries.max(1))),
            copies,
            tickets: Mutex::default(),
            next_ticket: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            untracked: AtomicBool::new(false),
            counters: TierCounters::default(),
            changes: Changes::default(),
            instruments,
        }
    }

    /// The change reports' count, to wait on.
    pub(crate) fn changes(&self) -> &Changes {
        &self.changes
    }

    pub(crate) fn config(&self) -> &LocalTier {
        &self.config
    }

    /// Whether the tier may serve and keep copies: always if best effort,
    /// else until the store says it cannot report changes after all.
    pub(crate) fn serves(&self) -> bool {
        self.config.best_effort || !self.untracked.load(Ordering::Acquire)
    }

    /// The fresh local copy at `key`, with when its store entry expires
    /// (if it does).
    pub(crate) fn get(&self, key: &str) -> Option<(Shared, Option<Instant>)> {
        let held = self.copies.get(key)?;
        match held.fresh_until {
            Some(until) if Instant::now() >= until => None,
            _ => Some((held.value, held.expires)),
        }
    }

    /// How many times every copy was dropped: what a [`Handle`] on a copy
    /// checks.
    pub(crate) fn flushes(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A handle on the fresh local copy at `key`, for the memoizer to
    /// serve its arguments' next call from: it stands until a change
    /// report drops the copy, a flush, or the copy's fresh life ends.
    pub(crate) fn handle(&self, key: &str) -> Option<Handle> {
        // The count first: a flush after it leaves the handle standing
        // for none of its copies.
        let flushes = self.flushes();
        let held = self.copies.get(key)?;
        Some(Handle::new(
            Arc::downgrade(&held.value),
            held.live,
            held.until,
            Some(flushes),
        ))
    }

    /// The local copy at `key`, fresh or stale (kept past its expiry for
    /// fail-safe): what a failed computation may serve.
    pub(crate) fn stale(&self, key: &str) -> Option<Shared> {
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
    /// flush was reported since [`begin`](Self::begin), and the tier still
    /// [`serves`](Self::serves). Answers whether it did.
    pub(crate) fn complete(
        &self,
        ticket: Ticket,
        value: Shared,
        encoded: usize,
        ttl: Option<KeyTtl>,
    ) -> bool {
        let (fresh, left, expires) = match ttl {
            Some(KeyTtl::Expires(left)) => (
                left.min(self.config.max_ttl),
                left,
                Instant::now().checked_add(left),
            ),
            Some(KeyTtl::Missing) => return self.abandon(ticket),
            Some(KeyTtl::Persistent) | None => (self.config.max_ttl, self.config.max_ttl, None),
        };
        let until = Instant::now().checked_add(fresh);
        let (life, fresh_until) = if self.keep_stale.is_zero() {
            (fresh, None)
        } else {
            (left.saturating_add(self.keep_stale), until)
        };
        let mut tickets = self.lock();
        if tickets.get(&ticket.key) != Some(&ticket.number) {
            return false;
        }
        tickets.remove(&ticket.key);
        // Read under the lock `untracked` sets it under: a read begun
        // before that had its ticket withdrawn, one begun after sees it.
        if life.is_zero() || !self.serves() {
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
            fresh_until,
            expires,
            until,
            live: Arc::new(AtomicBool::new(true)),
        };
        // Inserted under the lock: a change report waits for it, then
        // removes it.
        self.copies.insert(ticket.key, held);
        drop(tickets);
        self.record_size();
        true
    }

    /// Reports the tier's size to its metrics, as the map counts it now:
    /// the map applies its inserts and evictions in batches, so this lags
    /// by those not applied yet ([`size`](Self::size) applies them first).
    fn record_size(&self) {
        self.instruments
            .size(|| (self.copies.entry_count(), self.copies.weighted_size()));
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
        self.record_size();
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
        if let Some(held) = self.copies.remove(key) {
            held.live.store(false, Ordering::Release);
        }
        drop(tickets);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        self.changes.reported();
        self.instruments.invalidated();
        self.record_size();
    }

    fn flushed(&self, cause: FlushCause) {
        let mut tickets = self.lock();
        tickets.clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.copies.invalidate_all();
        drop(tickets);
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.changes.reported();
        self.instruments.flushed();
        self.record_size();
        tracing::info!(cause = cause.name(), "memocache: local tier flushed");
    }

    fn untracked(&self) {
        let mut tickets = self.lock();
        let first = !self.untracked.swap(true, Ordering::AcqRel);
        tickets.clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.copies.invalidate_all();
        drop(tickets);
        if !first {
            return;
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        if self.config.best_effort {
            tracing::warn!(
                max_ttl_ms = u64::try_from(self.config.max_ttl.as_millis()).unwrap_or(u64::MAX),
                "memocache: local tier flushed, now in best-effort mode: the store cannot \
                 report changes after all, so a copy may be up to max_ttl old"
            );
        } else {
            tracing::error!(
                "memocache: local tier flushed and off: the store cannot report changes after all"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::Instruments;

    /// A tier's handles that record nothing.
    fn quiet() -> TierInstruments {
        Instruments::new("tier-tests", "test", false).tier()
    }

    fn tier() -> Tier {
        Tier::new(LocalTier::bytes(1 << 20), Duration::ZERO, quiet())
    }

    fn value(n: u32) -> Shared {
        Arc::new(n)
    }

    fn read(tier: &Tier, key: &str) -> Option<u32> {
        tier.get(key)
            .and_then(|(v, _)| v.downcast_ref::<u32>().copied())
    }

    /// Whether a handle on a copy still serves it.
    fn stands(tier: &Tier, handle: &Handle) -> bool {
        handle.copy(Some(tier.flushes())).is_some()
    }

    fn keep(tier: &Tier, key: &str, n: u32) {
        let ticket = tier.begin(key);
        assert!(tier.complete(ticket, value(n), 8, None));
    }

    #[test]
    fn a_handle_falls_with_its_copy_however_the_copy_leaves() {
        let tier = tier();
        // A change report.
        keep(&tier, "k", 1);
        let handle = tier.handle("k").unwrap();
        assert!(stands(&tier, &handle));
        tier.changed("k");
        assert!(!stands(&tier, &handle));
        // A newer read's copy in its place, with no report between.
        keep(&tier, "k", 2);
        let handle = tier.handle("k").unwrap();
        keep(&tier, "k", 3);
        assert!(!stands(&tier, &handle), "the replaced copy's handle stands");
        assert!(stands(&tier, &tier.handle("k").unwrap()));
        // A flush.
        let handle = tier.handle("k").unwrap();
        tier.flushed(FlushCause::ConnectionLost);
        assert!(!stands(&tier, &handle));
    }

    #[test]
    fn a_handle_falls_when_its_copy_is_evicted() {
        let tier = Tier::new(
            LocalTier::bytes(4 * (ENTRY_OVERHEAD + 16)),
            Duration::ZERO,
            quiet(),
        );
        keep(&tier, "first", 1);
        let handle = tier.handle("first").unwrap();
        // Copies read more often than the first, so that the map's
        // admission policy evicts it for them.
        for n in 0..64 {
            let other = format!("other {n}");
            for _ in 0..8 {
                keep(&tier, &other, n);
                let _ = tier.copies.get(other.as_str());
            }
            tier.copies.run_pending_tasks();
        }
        assert!(tier.copies.get("first").is_none(), "the copy was evicted");
        assert!(!stands(&tier, &handle), "an evicted copy's handle stands");
    }

    /// A wait on paused time ends at once when a change comes, and only
    /// at its limit otherwise: the clock says which.
    #[tokio::test(start_paused = true)]
    async fn a_change_report_ends_an_async_wait() {
        let tier = Arc::new(tier());
        let limit = Duration::from_secs(3600);
        let mark = tier.changes().mark();
        let start = tokio::time::Instant::now();
        let waiting = tokio::spawn({
            let tier = Arc::clone(&tier);
            async move { tier.changes().wait(mark, limit).await }
        });
        while tier.changes.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tier.changed("k");
        waiting.await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO, "woken by the clock");

        // A change before the wait began: it does not wait at all.
        tier.flushed(FlushCause::StoreFlushed);
        tier.changes().wait(mark, limit).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // No change: the limit.
        let mark = tier.changes().mark();
        tier.changes().wait(mark, limit).await;
        assert_eq!(start.elapsed(), limit);
    }

    #[test]
    fn a_change_report_ends_a_blocking_wait() {
        let tier = Arc::new(tier());
        let mark = tier.changes().mark();
        let reporter = std::thread::spawn({
            let tier = Arc::clone(&tier);
            move || {
                while tier.changes.waiting.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
                tier.changed("k");
            }
        });
        // Were the report lost, this would wait the hour out.
        tier.changes()
            .wait_blocking(mark, Duration::from_secs(3600));
        reporter.join().unwrap();
        assert_ne!(tier.changes().mark(), mark);
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
        // Kept while its store entry lives...
        let tier = Tier::new(
            LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)),
            Duration::ZERO,
            quiet(),
        );
        let ticket = tier.begin("long");
        let left = Duration::from_secs(3600);
        assert!(tier.complete(ticket, value(1), 10, Some(KeyTtl::Expires(left))));
        assert_eq!(read(&tier, "long"), Some(1));
        // ...and not a moment longer: checked once the entry has expired,
        // however late the check wakes up.
        let ticket = tier.begin("short");
        let left = Duration::from_millis(50);
        assert!(tier.complete(ticket, value(1), 10, Some(KeyTtl::Expires(left))));
        std::thread::sleep(left + Duration::from_millis(1));
        assert_eq!(read(&tier, "short"), None, "outlived the store's entry");
        let gone = tier.begin("gone");
        assert!(!tier.complete(gone, value(1), 10, Some(KeyTtl::Missing)));
        // Kept until max_ttl...
        let ticket = tier.begin("k");
        assert!(tier.complete(ticket, value(1), 10, Some(KeyTtl::Persistent)));
        assert_eq!(read(&tier, "k"), Some(1));
        // ...and not past it.
        let max_ttl = Duration::from_millis(50);
        let capped = Tier::new(
            LocalTier::bytes(1 << 20).max_ttl(max_ttl),
            Duration::ZERO,
            quiet(),
        );
        let ticket = capped.begin("k");
        assert!(capped.complete(ticket, value(1), 10, Some(KeyTtl::Persistent)));
        std::thread::sleep(max_ttl + Duration::from_millis(1));
        assert_eq!(read(&capped, "k"), None, "outlived max_ttl");
    }

    #[test]
    fn with_fail_safe_an_expired_copy_is_kept_stale_until_a_change_drops_it() {
        let tier = Tier::new(
            LocalTier::bytes(1 << 20),
            Duration::from_secs(3600),
            quiet(),
        );
        let expired = Some(KeyTtl::Expires(Duration::ZERO));
        let ticket = tier.begin("k");
        assert!(tier.complete(ticket, value(1), 10, expired), "kept, stale");
        assert_eq!(read(&tier, "k"), None, "a stale copy is no hit");
        let stale = tier
            .stale("k")
            .and_then(|v| v.downcast_ref::<u32>().copied());
        assert_eq!(stale, Some(1));
        let ticket = tier.begin("fresh");
        let live = Some(KeyTtl::Expires(Duration::from_secs(60)));
        assert!(tier.complete(ticket, value(2), 10, live));
        assert_eq!(read(&tier, "fresh"), Some(2));
        tier.changed("k");
        assert!(
            tier.stale("k").is_none(),
            "a change report drops stale copies too"
        );
        tier.flushed(FlushCause::ConnectionLost);
        assert!(tier.stale("fresh").is_none());
        // Without fail-safe an expired entry is not kept at all.
        let plain = Tier::new(LocalTier::bytes(1 << 20), Duration::ZERO, quiet());
        let ticket = plain.begin("k");
        assert!(!plain.complete(ticket, value(1), 10, expired));
        assert!(plain.stale("k").is_none());
    }

    #[test]
    fn untracked_drops_every_copy_withdraws_reads_and_keeps_nothing_after() {
        let tier = tier();
        let kept = tier.begin("a");
        assert!(tier.complete(kept, value(1), 10, None));
        let in_flight = tier.begin("b");
        tier.untracked();
        assert!(!tier.serves());
        assert!(!tier.complete(in_flight, value(2), 10, None));
        let after = tier.begin("c");
        assert!(!tier.complete(after, value(3), 10, None));
        assert_eq!(
            (read(&tier, "a"), read(&tier, "b"), read(&tier, "c")),
            (None, None, None)
        );
        // Told twice (by two stores, say), it flushed once.
        tier.untracked();
        let stats = tier.stats(true);
        assert_eq!((stats.live, stats.flushes, stats.entries), (true, 1, 0));
    }

    #[test]
    fn a_best_effort_tier_serves_on_after_untracked() {
        let tier = Tier::new(
            LocalTier::bytes(1 << 20).best_effort(true),
            Duration::ZERO,
            quiet(),
        );
        let in_flight = tier.begin("a");
        tier.untracked();
        assert!(tier.serves());
        assert!(!tier.complete(in_flight, value(1), 10, None), "withdrawn");
        let after = tier.begin("a");
        assert!(tier.complete(after, value(2), 10, None));
        assert_eq!(read(&tier, "a"), Some(2));
    }

    #[test]
    fn tracked_tiers_tell_untracked_to_listed_and_later_tiers_and_report_no_more() {
        let tiers = TrackedTiers::new();
        let listed = Arc::new(tier());
        tiers.add(Arc::downgrade(&listed) as Weak<dyn Invalidations>);
        let ticket = listed.begin("k");
        tiers.untracked();
        assert!(!listed.serves());
        assert!(!listed.complete(ticket, value(1), 10, None));
        assert!(tiers.is_empty(), "the tiers were forgotten");
        // A tier registered after the store learned it cannot track.
        let later = Arc::new(tier());
        tiers.add(Arc::downgrade(&later) as Weak<dyn Invalidations>);
        assert!(!later.serves(), "a later tier was not told");
        tiers.flushed(FlushCause::ConnectionLost);
        tiers.changed("k");
        let stats = listed.stats(true);
        assert_eq!((stats.flushes, stats.invalidations), (1, 0));
    }

    /// A blocking store over a map whose server, it learns while serving
    /// its first read, refuses to track changes (as a store that connects
    /// lazily does).
    #[derive(Default)]
    struct RefusingStore {
        values: Mutex<HashMap<String, crate::Bytes>>,
        tiers: TrackedTiers,
        reads: AtomicU64,
    }

    impl crate::Backend for RefusingStore {
        fn backend(&self) -> &'static str {
            "refusing"
        }

        fn track_changes(&self, tier: Weak<dyn Invalidations>) -> crate::Result<()> {
            self.tiers.add(tier);
            Ok(())
        }
    }

    impl crate::BlockingStore for RefusingStore {
        fn read(&self, key: &str, _: &crate::ReadOptions) -> crate::Result<Option<crate::Entry>> {
            if self.reads.fetch_add(1, Ordering::SeqCst) == 0 {
                self.tiers.untracked();
            }
            let value = self.values.lock().unwrap().get(key).cloned();
            Ok(value.map(crate::Entry::new))
        }

        fn write(
            &self,
            key: &str,
            value: crate::Bytes,
            _: &crate::WriteOptions,
        ) -> crate::Result<()> {
            self.values.lock().unwrap().insert(key.to_owned(), value);
            Ok(())
        }

        fn remove(&self, key: &str, _: &crate::RemoveOptions) -> crate::Result<bool> {
            Ok(self.values.lock().unwrap().remove(key).is_some())
        }

        fn delete_matching(&self, _: &crate::KeyMatch) -> crate::Result<u64> {
            Ok(0)
        }
    }

    fn memoizer_over_refusing_store(best_effort: bool) -> crate::Memoizer<RefusingStore> {
        crate::Memoizer::builder(RefusingStore::default())
            .namespace("refused")
            .local_tier(LocalTier::bytes(1 << 20).best_effort(best_effort))
            .build()
    }

    #[test]
    fn a_tier_registered_before_the_store_learns_it_cannot_track_goes_off() {
        let memo = memoizer_over_refusing_store(false);
        let args = crate::Args::new().arg(&1);
        memo.cache_data_blocking(&memo.key(&args).unwrap(), 7u32);
        for _ in 0..3 {
            assert_eq!(memo.call_blocking(&args, || 0u32), 7);
        }
        let stats = memo.stats();
        let tier = stats.tier.expect("a tier");
        assert!(!tier.live);
        assert_eq!((tier.hits, tier.entries, tier.flushes), (0, 0, 1));
        assert_eq!(stats.hits, 3, "every call read the store");
        assert_eq!(stats.store_errors, 0);
    }

    #[test]
    fn a_best_effort_tier_serves_on_once_the_store_cannot_track() {
        let memo = memoizer_over_refusing_store(true);
        let args = crate::Args::new().arg(&1);
        memo.cache_data_blocking(&memo.key(&args).unwrap(), 7u32);
        for _ in 0..3 {
            assert_eq!(memo.call_blocking(&args, || 0u32), 7);
        }
        let tier = memo.stats().tier.expect("a tier");
        assert!(tier.live);
        // The first read was withdrawn, the second kept, the third local.
        assert_eq!((tier.hits, tier.entries), (1, 1));
    }

    #[test]
    fn the_entry_bound_holds_beside_the_byte_bound() {
        let tier = Tier::new(
            LocalTier::bytes(1 << 30).entries(100),
            Duration::ZERO,
            quiet(),
        );
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
        let tier = Tier::new(LocalTier::bytes(100_000), Duration::ZERO, quiet());
        for i in 0..10_000u32 {
            let key = format!("key-{i}");
            let ticket = tier.begin(&key);
            tier.complete(ticket, value(i), 1_000, None);
        }
        let (_, bytes) = tier.size();
        assert!(bytes <= 100_000, "{bytes} bytes held");
    }
}
