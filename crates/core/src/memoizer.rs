//! The [`Memoizer`]: look up a call's result in the store, or compute it and
//! store it.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde::Serialize;

use crate::breaker::{BreakerPolicy, BreakerState};
use crate::codec::{Codec, JsonZlib};
use crate::condition::{Condition, should_cache};
use crate::engine::{
    Always, Async, Blocking, Bounded, Cacheable, Owned, Pending, Plain, Refreshes, Removals, Tasks,
    Threads, Throttle, Writes, block_on,
};
use crate::error::Elapsed;
use crate::flight::Flights;
use crate::hasher::{KeyHasher, Sha256};
use crate::health::Health;
use crate::identity::{Arguments, Handle, Keyed, Keys, Resolved};
use crate::instruments::Instruments;
use crate::key::{Args, KeyMatch, cache_key};
use crate::stats::{Counters, Stats};
use crate::store::{Backend, BlockingStore, Store};
use crate::tier::{LocalTier, Tier, TierCounters};
use crate::{Error, Result};

/// The default store operation timeout: 500 ms, a tenth of the reference's
/// 5 s socket timeout.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);

/// How long fail-safe serves a stale value without calling the source
/// again, by default: 30 s.
pub const DEFAULT_FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(30);

/// Memoizes calls in a store, as the reference's `cache_function` does.
///
/// A call is looked up under the reference's key for its [`Args`]; on a hit
/// the stored value is returned without running the computation, on a miss
/// the computation runs and its result is stored (with the configured
/// expiry). Cache failures never reach the caller: a store that errors or
/// hangs, a value that does not decode, an argument that does not encode:
/// each is logged through `tracing` and the call is served by the
/// computation.
///
/// Beyond the reference:
/// - **Single-flight** (on by default): concurrent calls with the same key
///   in one process run the computation once; the others wait for it. If
///   the leading call is cancelled or panics, a waiter takes over.
/// - **Operation timeout** (default [`DEFAULT_OP_TIMEOUT`]): a slow read
///   is a miss. On the async path it applies inside a tokio runtime with
///   timers.
/// - **Write-through by default**: a call returns once its result is
///   written (or the write failed or timed out), so a program that exits
///   right after a call loses nothing. [`write_behind`](MemoizerBuilder::write_behind)
///   opts the async path into returning as soon as the result is computed
///   and writing in the background. A call whose read failed does not
///   write.
/// - **Circuit breaker**: after consecutive store failures the store is
///   skipped for a cool-down, then probed; transitions are logged once. By
///   default it is the store's own ([`Backend::health`](crate::Backend::health)), shared by every
///   memoizer over that store and its clones, so one outage is learned
///   once; over a store without one, each memoizer has its own
///   ([`BreakerPolicy::default`]).
/// - **The same operation timeout on both paths**: async operations are
///   abandoned after it, blocking stores are handed it to honour (the
///   Redis stores do).
/// - **Counters** ([`stats`](Self::stats)) and a `tracing` span per call
///   (`memocache.call`, with `key`, `outcome` and `micros`).
///
/// And two fixes invisible to Python services sharing the cache: a `None`
/// result is a real cached value, and a write is one atomic `SET` with its
/// expiry instead of `DEL` then `SET`.
///
/// Cloning is cheap: clones share the store, configuration, flights,
/// breaker and counters. The async and blocking entry points run one call
/// engine; they differ only in how they wait.
///
/// ```
/// # async fn demo(store: impl memocache::store::Store + 'static) {
/// use memocache::{Args, Memoizer};
/// use std::time::Duration;
///
/// let memo = Memoizer::builder(store)
///     .namespace("orders:user")
///     .expire(Duration::from_secs(3600))
///     .build();
/// let orders: Vec<String> = memo
///     .call(&Args::new().kwarg("user_id", &123), || async { vec!["o-1".to_owned()] })
///     .await;
/// # }
/// ```
pub struct Memoizer<S, C = JsonZlib, H = Sha256> {
    inner: Arc<Inner<S, C, H>>,
}

struct Inner<S, C, H> {
    store: S,
    codec: C,
    hasher: H,
    policy: Policy,
    flights: Arc<Flights>,
    /// The keys it built, by the identity of their arguments.
    keys: Keys,
    /// Settled on the first store operation: the store's shared view, or
    /// one of this memoizer's own.
    health: OnceLock<Health>,
    /// The local tier, if configured.
    tier: Option<Arc<Tier>>,
    /// Whether the tier serves: settled on first use, when it asks the
    /// store to report changes.
    tier_live: OnceLock<bool>,
    counters: Counters,
    writes: Arc<Writes>,
    /// The removals that could not reach the store, to make again.
    removals: Removals,
    /// With fail-safe, the stale values served after a failed
    /// computation, by key.
    throttle: Option<Throttle>,
    /// The keys being refreshed ahead of their expiry.
    refreshes: Refreshes,
    /// The computations running on their own (refreshes, computations
    /// past a timeout), so that [`Memoizer::flush`] can wait for them.
    background: Arc<Writes>,
    /// Whether the settings that need an `_owned` entry point were said
    /// not to apply to another one.
    warned_not_owned: AtomicBool,
    /// Whether the memoizer said its store holds no cross-process locks.
    warned_no_locks: AtomicBool,
    /// Its metrics' handles.
    instruments: Instruments,
}

/// A memoizer held weakly, by its background work (the retry of removals).
pub(crate) struct WeakMemoizer<S, C, H>(Weak<Inner<S, C, H>>);

impl<S, C, H> WeakMemoizer<S, C, H> {
    /// The memoizer, unless every handle to it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Memoizer<S, C, H>> {
        self.0.upgrade().map(|inner| Memoizer { inner })
    }
}

/// Which circuit breaker a memoizer records in.
#[derive(Debug, Clone, Copy)]
enum BreakerChoice {
    /// The store's shared one, or a default one of its own if the store
    /// has none.
    Store,
    /// One of its own with this policy.
    Own(BreakerPolicy),
    /// None: the store is always called.
    Off,
}

#[derive(Debug)]
struct Policy {
    namespace: String,
    expire: Option<Duration>,
    cache_only_for: Option<Vec<Condition>>,
    skip_cache_keys: Vec<String>,
    single_flight: bool,
    op_timeout: Option<Duration>,
    write_behind: bool,
    breaker: BreakerChoice,
    local_tier: Option<LocalTier>,
    cache_if: Option<ByResult<bool>>,
    expire_with: Option<ByResult<Option<Duration>>>,
    /// Fail-safe's `max_stale`, when on.
    fail_safe: Option<Duration>,
    fail_safe_throttle: Duration,
    /// The fraction of an entry's life after which a hit refreshes it.
    refresh_ahead: Option<f64>,
    soft_timeout: Option<Duration>,
    hard_timeout: Option<Duration>,
    /// The lease of the cross-process lock a miss takes, when on.
    distributed_lock: Option<Duration>,
    /// Whether the memoizer reports metrics (feature `metrics`).
    metrics: bool,
}

/// A rule given a call's result (`cache_if`, `expire_with`), over one
/// result type: a result of another type gets `None`.
struct ByResult<A>(Arc<Rule<A>>);

/// What a [`ByResult`] runs: its rule, if the result is of its type.
type Rule<A> = dyn Fn(&dyn Any) -> Option<A> + Send + Sync;

impl<A> ByResult<A> {
    fn new<T: 'static>(rule: impl Fn(&T) -> A + Send + Sync + 'static) -> Self {
        ByResult(Arc::new(move |value: &dyn Any| {
            value.downcast_ref::<T>().map(&rule)
        }))
    }

    fn apply(&self, value: &dyn Any) -> Option<A> {
        (self.0)(value)
    }
}

impl<A> std::fmt::Debug for ByResult<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ByResult(..)")
    }
}

impl<S, C, H> Clone for Memoizer<S, C, H> {
    fn clone(&self) -> Self {
        Memoizer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, C, H> std::fmt::Debug for Memoizer<S, C, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memoizer")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Memoizer`]; see [`Memoizer::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct MemoizerBuilder<S, C = JsonZlib, H = Sha256> {
    store: S,
    codec: C,
    hasher: H,
    policy: Policy,
}

impl<S> Memoizer<S> {
    /// Starts configuring a memoizer over `store`, with the reference's codec
    /// (JSON + zlib) and hasher (SHA-256), an empty namespace, no expiry, no
    /// conditions and no skipped keys, and memocache's resilience defaults.
    pub fn builder(store: S) -> MemoizerBuilder<S> {
        MemoizerBuilder {
            store,
            codec: JsonZlib::default(),
            hasher: Sha256,
            policy: Policy {
                namespace: String::new(),
                expire: None,
                cache_only_for: None,
                skip_cache_keys: Vec::new(),
                single_flight: true,
                op_timeout: Some(DEFAULT_OP_TIMEOUT),
                write_behind: false,
                breaker: BreakerChoice::Store,
                local_tier: None,
                cache_if: None,
                expire_with: None,
                fail_safe: None,
                fail_safe_throttle: DEFAULT_FAIL_SAFE_THROTTLE,
                refresh_ahead: None,
                soft_timeout: None,
                hard_timeout: None,
                distributed_lock: None,
                metrics: true,
            },
        }
    }
}

impl<S, C, H> MemoizerBuilder<S, C, H> {
    /// The key prefix of every entry (the reference's `namespace`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.policy.namespace = namespace.into();
        self
    }

    /// How long entries live. As in the reference, zero means "no expiry".
    pub fn expire(mut self, expire: Duration) -> Self {
        self.policy.expire = (!expire.is_zero()).then_some(expire);
        self
    }

    /// [`expire`](Self::expire) in whole seconds, as the reference takes it
    /// (`0` means no expiry).
    pub fn expire_secs(self, seconds: u64) -> Self {
        self.expire(Duration::from_secs(seconds))
    }

    /// Caches a call only when one of these conditions matches (the
    /// reference's `cache_only_for`). Without this, every call is cached;
    /// with an empty list, none is.
    pub fn cache_only_for(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.policy.cache_only_for = Some(conditions.into_iter().collect());
        self
    }

    /// Keyword arguments left out of the key (the reference's
    /// `skip_cache_keys`). Positional arguments are always part of the key.
    pub fn skip_cache_keys<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.policy.skip_cache_keys = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether concurrent calls with one key share one computation (on by
    /// default).
    pub fn single_flight(mut self, on: bool) -> Self {
        self.policy.single_flight = on;
        self
    }

    /// How long a store operation of a call may take before it is given up
    /// (a read becomes a miss); `None` leaves it to the client. Default
    /// [`DEFAULT_OP_TIMEOUT`]. On the async path it applies inside a tokio
    /// runtime, whose timers must be enabled; on the blocking path the
    /// store is handed it ([`ReadOptions::timeout`](crate::ReadOptions::timeout))
    /// and the Redis stores honour it.
    pub fn op_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.policy.op_timeout = timeout;
        self
    }

    /// Whether the async path writes results in the background (inside a
    /// tokio runtime) instead of waiting for the write (the default).
    ///
    /// With write-behind a miss returns as soon as its result is computed
    /// (a round trip sooner) and calls in this process see the result at
    /// once, but a write still in the background is lost if the runtime
    /// shuts down first: a short-lived program must await
    /// [`Memoizer::flush`] before it exits, and a crash loses the writes
    /// under way. Writes past the operation timeout are given up either
    /// way. The blocking path always waits for its write.
    pub fn write_behind(mut self, on: bool) -> Self {
        self.policy.write_behind = on;
        self
    }

    /// A circuit breaker of this memoizer's own with `policy`, or `None`
    /// to always call the store. Without this, the memoizer shares its
    /// store's breaker ([`Backend::health`](crate::Backend::health)) with every other memoizer over
    /// that store, which is what a service with many cached functions
    /// wants: one outage is learned once.
    pub fn circuit_breaker(mut self, policy: Option<BreakerPolicy>) -> Self {
        self.policy.breaker = policy.map_or(BreakerChoice::Off, BreakerChoice::Own);
        self
    }

    /// Keeps decoded values in process, in front of the store: a hit on a
    /// local copy costs neither a round trip nor a decode, and returns a
    /// clone of the value. The copies are kept true by the store's change
    /// reports ([`Backend::track_changes`](crate::Backend::track_changes)): a copy is dropped when its key
    /// changes, in this process or another, and a value read while a
    /// change is reported is not kept. A copy lives at most as long as the
    /// store's entry and [`LocalTier::max_ttl`]. Over a store that cannot
    /// report changes the tier stays off (logged once), unless
    /// [`LocalTier::best_effort`] accepts copies up to `max_ttl` old.
    ///
    /// A copy is made from a store read: a value this process computes is
    /// written to the store (whose report of that write drops any older
    /// copy), and the next read keeps it.
    pub fn local_tier(mut self, tier: LocalTier) -> Self {
        self.policy.local_tier = Some(tier);
        self
    }

    /// Caches a computed result only when `keep` says so (cashews'
    /// `condition`, `cached`'s result filters): e.g. `cache_if(|orders:
    /// &Vec<Order>| !orders.is_empty())`. A result it rejects is returned,
    /// not written, and not shared with the flight's waiters, which then
    /// compute too. It applies to results of type `T`, the type the
    /// memoized function returns (its `Ok` type, for [`try_call`]):
    /// results of another type are cached as without it. Values written
    /// by [`cache_data`](Memoizer::cache_data) are not filtered.
    ///
    /// [`try_call`]: Memoizer::try_call
    pub fn cache_if<T: 'static>(
        mut self,
        keep: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.policy.cache_if = Some(ByResult::new(keep));
        self
    }

    /// Gives each computed result its own expiry: `Some(duration)`, or
    /// `None` for the memoizer's [`expire`](Self::expire). E.g. a short
    /// life for an empty answer: `expire_with(|orders: &Vec<Order>|
    /// orders.is_empty().then(|| Duration::from_secs(10)))`. Like
    /// [`cache_if`](Self::cache_if), it applies to results of type `T`.
    pub fn expire_with<T: 'static>(
        mut self,
        expire: impl Fn(&T) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.policy.expire_with = Some(ByResult::new(expire));
        self
    }

    /// Fail-safe: a call whose computation fails (an `Err` from
    /// [`try_call`](Memoizer::try_call), or a panic) and for which a value
    /// of its key expired less than `max_stale` ago returns that stale
    /// value instead (`Ok(stale)`; a panic is logged and does not reach
    /// the caller), and keeps returning it for
    /// [`fail_safe_throttle`](Self::fail_safe_throttle) without running
    /// the computation again, so that a dead database is not hammered. The
    /// flight's waiters get it too. Logged once per key and throttle
    /// period; counted in [`Stats::stale_served`].
    ///
    /// Where the stale value comes from: the local tier, which then keeps
    /// its copies past their expiry (marked stale: never a hit, and still
    /// dropped by every change report); else the store: with fail-safe,
    /// each write of an entry with an expiry also writes a stale copy at
    /// [`stale_key`](crate::stale_key) (the entry's key and `|stale`) that
    /// lives `max_stale` longer, so a process started during an outage
    /// survives too. Python services sharing the namespace never read it
    /// and still see the entry live exactly `expire`. It costs a second
    /// `SET` per write and the value's size again in Redis; entries
    /// without an expiry get no stale copy (they never expire).
    ///
    /// `invalidate` means gone: it removes the stale copy with the entry
    /// (every process sharing a namespace should agree on fail-safe, so
    /// that one that invalidates removes the stale copies too), and
    /// `clear_namespace` and `memocache clear` remove them all. `max_stale`
    /// of zero turns fail-safe off.
    pub fn fail_safe(mut self, max_stale: Duration) -> Self {
        self.policy.fail_safe = (!max_stale.is_zero()).then_some(max_stale);
        self
    }

    /// How long [`fail_safe`](Self::fail_safe) serves a stale value after
    /// the computation failed, without running it again (default
    /// [`DEFAULT_FAIL_SAFE_THROTTLE`]). A read that finds a fresh entry in
    /// the store (another process computed it) is served as usual
    /// meanwhile.
    pub fn fail_safe_throttle(mut self, throttle: Duration) -> Self {
        self.policy.fail_safe_throttle = throttle;
        self
    }

    /// Refresh-ahead: a hit on an entry past `fraction` of its life (`0 <
    /// fraction < 1`; e.g. `0.8` for the last fifth) returns at hit speed
    /// and starts one recomputation of the key in this process (at most
    /// one at a time per key), which rewrites the entry, so a popular key
    /// never expires under its callers. Works on local-tier hits and store
    /// hits (the store read asks the entry's remaining life in the same
    /// round trip). An entry's life is its expiry ([`expire`](Self::expire)
    /// or [`expire_with`](Self::expire_with)'s); entries without one are
    /// never refreshed. An `invalidate` or `clear_namespace` that begins
    /// while a refresh runs wins: the refresh does not write. Counted in
    /// [`Stats::refreshes`].
    ///
    /// The refresh runs on its own, so it applies to the entry points
    /// whose computation owns what it uses:
    /// [`call_owned`](Memoizer::call_owned) and
    /// [`try_call_owned`](Memoizer::try_call_owned) (a task of the current
    /// tokio runtime) and their blocking forms (a thread of its own for
    /// each refresh); the attribute uses them when this is set. Another
    /// entry point says so once in the log and does not refresh. A
    /// `fraction` outside `(0, 1)` turns it off, logged when the memoizer
    /// is built.
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.policy.refresh_ahead = Some(fraction);
        self
    }

    /// Soft timeout: when the computation of a miss takes longer than
    /// `timeout` and a stale value of its key exists
    /// ([`fail_safe`](Self::fail_safe) keeps them), the caller and the
    /// flight's waiters get that stale value, and the computation finishes
    /// in the background and updates the entry. Without a stale value the
    /// call goes on waiting (up to the [hard timeout](Self::hard_timeout),
    /// if any). Counted in [`Stats::soft_timeouts`]. Applies to the
    /// `_owned` entry points, as [`refresh_ahead`](Self::refresh_ahead)
    /// says.
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.policy.soft_timeout = Some(timeout);
        self
    }

    /// Hard timeout: a computation of a miss that takes longer than
    /// `timeout` is given up by its caller and the flight's waiters, who
    /// get a stale value if [`fail_safe`](Self::fail_safe) has one, else
    /// (for [`try_call_owned`](Memoizer::try_call_owned) and its blocking
    /// form) the error `E::from(Elapsed)`; the computation finishes in the
    /// background and updates the entry. ([`call_owned`](Memoizer::call_owned)
    /// has no error to return: without a stale value it waits on.) Counted
    /// in [`Stats::hard_timeouts`]. Applies to the `_owned` entry points,
    /// as [`refresh_ahead`](Self::refresh_ahead) says.
    pub fn hard_timeout(mut self, timeout: Duration) -> Self {
        self.policy.hard_timeout = Some(timeout);
        self
    }

    /// Cross-process stampede protection: on a miss, the process that
    /// takes the entry's lock in the store (for `lease`) computes, and the
    /// calls of every other process wait for its entry instead of
    /// computing too. Single-flight already merges the calls of one
    /// process; this merges the processes that share the store, e.g. ten
    /// replicas whose popular entry expires at the same moment.
    ///
    /// - The holder extends its lease every third of it while it computes,
    ///   and releases the lock after its write (or when the computation
    ///   fails), comparing its token first: it never deletes another
    ///   holder's lock. A holder that dies blocks nobody past its lease.
    /// - A waiter reads the entry again at each change report of the local
    ///   tier (when the store tracks changes), else at the steps of a
    ///   backoff from 5 ms growing by half to 50 ms. It computes itself once it can take
    ///   the lock (the holder released it without a value, or its lease
    ///   ran out), or at the [hard timeout](Self::hard_timeout) if one is
    ///   set.
    /// - When the store cannot be asked (an error, an open breaker) the
    ///   lock is skipped and the call computes. A store without locks (see
    ///   [`Capabilities::locks`](crate::Capabilities::locks)) says so once
    ///   in the log, and calls compute as without this setting.
    ///
    /// Counted in [`Stats::lock_waits`] and [`Stats::lock_served`]. On
    /// Redis the lock lives beside its entry, at the entry's key followed
    /// by [`LOCK_SUFFIX`](crate::LOCK_SUFFIX): the reference never reads
    /// it, and `clear_namespace` removes it. A zero `lease` turns it off,
    /// logged when the memoizer is built.
    pub fn distributed_lock(mut self, lease: Duration) -> Self {
        self.policy.distributed_lock = Some(lease);
        self
    }

    /// Whether this memoizer reports metrics through the `metrics` facade
    /// (feature `metrics`; on by default): off, it registers nothing, e.g.
    /// for a namespace of its own per tenant that would make too many
    /// series. See the README's "Metrics" for what it reports.
    pub fn metrics(mut self, on: bool) -> Self {
        self.policy.metrics = on;
        self
    }

    /// Replaces the codec, e.g. with zstd or MessagePack for caches that no
    /// Python service reads.
    pub fn codec<C2: Codec>(self, codec: C2) -> MemoizerBuilder<S, C2, H> {
        MemoizerBuilder {
            store: self.store,
            codec,
            hasher: self.hasher,
            policy: self.policy,
        }
    }

    /// Replaces the key hasher, e.g. with BLAKE3 for caches that no Python
    /// service reads.
    pub fn hasher<H2: KeyHasher>(self, hasher: H2) -> MemoizerBuilder<S, C, H2> {
        MemoizerBuilder {
            store: self.store,
            codec: self.codec,
            hasher,
            policy: self.policy,
        }
    }

    /// Finishes the configuration.
    pub fn build(mut self) -> Memoizer<S, C, H>
    where
        S: Backend,
    {
        if let Some(fraction) = self.policy.refresh_ahead
            && !(fraction > 0.0 && fraction < 1.0)
        {
            tracing::error!(
                namespace = self.policy.namespace,
                fraction,
                "memocache: refresh_ahead is off: its fraction of an entry's life must be \
                 between 0 and 1 (e.g. 0.8 to refresh in the last fifth)"
            );
            self.policy.refresh_ahead = None;
        }
        if self
            .policy
            .distributed_lock
            .is_some_and(|lease| lease.is_zero())
        {
            tracing::error!(
                namespace = self.policy.namespace,
                "memocache: distributed_lock is off: its lease must be longer than zero (e.g. \
                 30 seconds, longer than a typical computation)"
            );
            self.policy.distributed_lock = None;
        }
        let instruments = Instruments::new(
            &self.policy.namespace,
            self.store.system(),
            self.policy.metrics,
        );
        Memoizer {
            inner: Arc::new(Inner {
                store: self.store,
                codec: self.codec,
                hasher: self.hasher,
                tier: self.policy.local_tier.map(|tier| {
                    let keep_stale = self.policy.fail_safe.unwrap_or_default();
                    Arc::new(Tier::new(tier, keep_stale, instruments.tier()))
                }),
                instruments,
                throttle: self
                    .policy
                    .fail_safe
                    .map(|_| Throttle::new(self.policy.fail_safe_throttle)),
                policy: self.policy,
                flights: Arc::default(),
                keys: Keys::default(),
                health: OnceLock::new(),
                tier_live: OnceLock::new(),
                counters: Counters::default(),
                writes: Arc::default(),
                removals: Removals::default(),
                refreshes: Refreshes::default(),
                background: Arc::default(),
                warned_not_owned: AtomicBool::new(false),
                warned_no_locks: AtomicBool::new(false),
            }),
        }
    }
}

impl<S, C, H> Memoizer<S, C, H> {
    /// The store this memoizer writes to.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The codec values are stored with.
    pub fn codec(&self) -> &C {
        &self.inner.codec
    }

    /// The namespace keys start with.
    pub fn namespace(&self) -> &str {
        &self.inner.policy.namespace
    }

    /// The expiry of new entries.
    pub fn expire(&self) -> Option<Duration> {
        self.inner.policy.expire
    }

    /// What this memoizer has done so far.
    pub fn stats(&self) -> Stats {
        let breaker = self
            .inner
            .health
            .get()
            .map_or(BreakerState::Closed, Health::state);
        let mut stats = self.inner.counters.snapshot(breaker);
        stats.pending_invalidations = self.inner.removals.pending();
        stats.invalidation_overflows = self
            .inner
            .removals
            .overflows
            .load(std::sync::atomic::Ordering::Relaxed);
        if let Some(tier) = &self.inner.tier {
            let live = self.inner.tier_live.get() == Some(&true) && tier.serves();
            stats.tier = Some(tier.stats(live));
        }
        stats
    }

    /// The health view this memoizer records store operations in: its
    /// store's shared one, or its own. `None` until the memoizer first
    /// used its store.
    pub fn health(&self) -> Option<&Health> {
        self.inner.health.get()
    }

    /// Whether the `cache_only_for` conditions let this call use the cache.
    pub fn should_cache(&self, args: &Args) -> bool {
        should_cache(self.inner.policy.cache_only_for.as_deref(), args)
    }

    /// Waits until every background write started so far has finished
    /// (or timed out), and every computation running on its own (a
    /// [refresh ahead](MemoizerBuilder::refresh_ahead), a computation past
    /// its [soft](MemoizerBuilder::soft_timeout) or
    /// [hard](MemoizerBuilder::hard_timeout) timeout) has ended and written
    /// its result. With [`write_behind`](MemoizerBuilder::write_behind) on,
    /// call it before a short-lived program exits, so the last results are
    /// not lost with the runtime; without any of these there is nothing to
    /// wait for.
    pub async fn flush(&self) {
        // The computations first: one that ends starts its write (in the
        // background, with write-behind), never the other way round.
        self.inner.background.idle().await;
        self.inner.writes.idle().await;
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn removals(&self) -> &Removals {
        &self.inner.removals
    }

    pub(crate) fn refresh_ahead(&self) -> Option<f64> {
        self.inner.policy.refresh_ahead
    }

    /// Whether store reads must report the entry's remaining life, for
    /// refresh-ahead.
    pub(crate) fn refreshes_ahead(&self) -> bool {
        self.inner.policy.refresh_ahead.is_some()
    }

    pub(crate) fn soft_timeout(&self) -> Option<Duration> {
        self.inner.policy.soft_timeout
    }

    pub(crate) fn hard_timeout(&self) -> Option<Duration> {
        self.inner.policy.hard_timeout
    }

    pub(crate) fn refreshes(&self) -> &Refreshes {
        &self.inner.refreshes
    }

    /// Its metrics' handles.
    pub(crate) fn instruments(&self) -> &Instruments {
        &self.inner.instruments
    }

    /// The lease of the cross-process lock a miss takes, when on.
    pub(crate) fn distributed_lock(&self) -> Option<Duration> {
        self.inner.policy.distributed_lock
    }

    /// Says once that the store holds no cross-process locks.
    pub(crate) fn warn_no_locks(&self, backend: &'static str) {
        if !self.inner.warned_no_locks.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                namespace = self.namespace(),
                backend,
                "memocache: distributed_lock is off for this memoizer: its store holds no \
                 cross-process locks (a Redis store does)"
            );
        }
    }

    /// Says once that `settings` apply only to the `_owned` entry points.
    pub(crate) fn warn_not_owned(&self, settings: &'static str) {
        if !self.inner.warned_not_owned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                namespace = self.namespace(),
                settings,
                "memocache: these settings apply only to call_owned, try_call_owned and their \
                 blocking forms (whose computation can run on its own); this memoizer's other \
                 calls run without them"
            );
        }
    }

    /// With fail-safe, its `max_stale` and its throttle.
    pub(crate) fn fail_safe(&self) -> Option<(Duration, &Throttle)> {
        Some((self.inner.policy.fail_safe?, self.inner.throttle.as_ref()?))
    }

    pub(crate) fn downgrade(&self) -> WeakMemoizer<S, C, H> {
        WeakMemoizer(Arc::downgrade(&self.inner))
    }

    pub(crate) fn tier_counters(&self) -> &TierCounters {
        &self
            .inner
            .tier
            .as_ref()
            .expect("asked only with a tier")
            .counters
    }

    /// The local tier if it serves, settled on first use: live when
    /// `track` (asking the store to report changes) succeeds, or when the
    /// tier is best effort; off, logged once, otherwise. A live tier goes
    /// off for good when the store later says it cannot report changes
    /// after all ([`Invalidations::untracked`](crate::Invalidations::untracked),
    /// logged once by the tier), unless best effort: a best-effort tier
    /// serves on, as over any store that cannot report changes.
    pub(crate) fn tier_or_init(
        &self,
        track: impl FnOnce(&Arc<Tier>) -> Result<()>,
    ) -> Option<&Tier> {
        let tier = self.inner.tier.as_ref()?;
        let live = *self.inner.tier_live.get_or_init(|| match track(tier) {
            Ok(()) => true,
            Err(_) if tier.config().best_effort => {
                tracing::warn!(
                    namespace = self.namespace(),
                    max_ttl_ms =
                        u64::try_from(tier.config().max_ttl.as_millis()).unwrap_or(u64::MAX),
                    "memocache: local tier in best-effort mode: the store does not report \
                     changes, so a copy may be up to max_ttl old"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    namespace = self.namespace(),
                    error = %e.report(),
                    "memocache: local tier off"
                );
                false
            }
        });
        (live && tier.serves()).then_some(&**tier)
    }

    pub(crate) fn flights(&self) -> &Arc<Flights> {
        &self.inner.flights
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Whether a computed result is to be cached (`cache_if`).
    pub(crate) fn keeps(&self, value: &dyn Any) -> bool {
        let rule = self.inner.policy.cache_if.as_ref();
        rule.and_then(|rule| rule.apply(value)).unwrap_or(true)
    }

    /// A computed result's expiry (`expire_with`, else the memoizer's).
    pub(crate) fn expire_for(&self, value: &dyn Any) -> Option<Duration> {
        let rule = self.inner.policy.expire_with.as_ref();
        rule.and_then(|rule| rule.apply(value))
            .flatten()
            .or(self.expire())
    }

    pub(crate) fn single_flight(&self) -> bool {
        self.inner.policy.single_flight
    }

    pub(crate) fn op_timeout(&self) -> Option<Duration> {
        self.inner.policy.op_timeout
    }

    pub(crate) fn writes_behind(&self) -> bool {
        self.inner.policy.write_behind
    }

    pub(crate) fn pending_write(&self) -> Pending {
        self.inner.writes.start()
    }

    /// Marks a computation that runs on its own as started, for `flush`.
    pub(crate) fn background_job(&self) -> Pending {
        self.inner.background.start()
    }

    /// Waits until every background write started so far has finished.
    pub(crate) async fn writes_done(&self) {
        self.inner.writes.idle().await;
    }

    /// The health view, settled on first use from the store's (`shared`)
    /// and this memoizer's breaker choice.
    pub(crate) fn health_or_init(&self, shared: impl FnOnce() -> Option<Health>) -> &Health {
        self.inner
            .health
            .get_or_init(|| match self.inner.policy.breaker {
                BreakerChoice::Store => {
                    shared().unwrap_or_else(|| Health::new(Some(BreakerPolicy::default())))
                }
                BreakerChoice::Own(policy) => Health::new(Some(policy)),
                BreakerChoice::Off => Health::new(None),
            })
    }

    /// The namespace's key for argument-less calls, and its entries with
    /// arguments. An empty namespace has no prefix of its own: clearing it
    /// would clear every key of the store, so that is refused.
    pub(crate) fn namespace_keys(&self) -> Result<(String, KeyMatch)> {
        let ns = &self.inner.policy.namespace;
        if ns.is_empty() {
            return Err(Error::Config(
                "refusing to clear an empty namespace: its keys are not told apart from \
                 any other key in the store; give the memoizer a namespace"
                    .into(),
            ));
        }
        Ok((
            ns.trim_end_matches(':').to_owned(),
            KeyMatch::Namespace(ns.clone()),
        ))
    }
}

impl<S, C, H: KeyHasher> Memoizer<S, C, H> {
    /// The key a call with `args` is cached under: byte for byte the
    /// reference's key for the same namespace, arguments and skipped keys.
    pub fn key(&self, args: &Args) -> Result<String> {
        cache_key(
            &self.inner.policy.namespace,
            args,
            &self.inner.policy.skip_cache_keys,
            &self.inner.hasher,
        )
    }

    /// What this memoizer makes of `args`: their key (found again by a
    /// keyed hash of their JSON when it met them before, else built and
    /// remembered), or that the call bypasses the cache. The answer
    /// borrows nothing, so the arguments can then move into the
    /// computation; pass it to `call` or `refresh` of this memoizer. It
    /// holds no copy of a value: the call looks for one when it is made.
    pub fn resolve(&self, args: &(impl Arguments + ?Sized)) -> Resolved {
        let mut resolved = args.resolve(self).into_owned();
        resolved.copy = None;
        resolved
    }

    /// [`resolve`](Self::resolve), keeping the copy remembered for the
    /// arguments if it stands now: only for a call made at once with it
    /// (what `#[cache_wrapper]` expands to), since the copy is not checked
    /// again when the call is made.
    #[doc(hidden)]
    pub fn resolve_for_call(&self, args: &(impl Arguments + ?Sized)) -> Resolved {
        args.resolve(self).into_owned()
    }

    /// What the arguments of `identity` are to this memoizer: found by
    /// identity when it met them before, else built from `args` (and
    /// remembered).
    pub(crate) fn keyed<'a>(
        &self,
        identity: Option<u128>,
        args: impl FnOnce() -> Cow<'a, Args>,
    ) -> Resolved {
        let flushes = self.inner.tier.as_ref().map(|tier| tier.flushes());
        if let Some((keyed, copy)) =
            identity.and_then(|identity| self.keys().get(identity, flushes))
        {
            return Resolved {
                owner: self.keys().id(),
                keyed,
                identity,
                copy,
            };
        }
        let args = args();
        let keyed = if !self.should_cache(&args) {
            Keyed::Bypass
        } else {
            match self.key(&args) {
                Ok(key) => Keyed::Key(Arc::from(key)),
                Err(e) => {
                    return Resolved {
                        owner: self.keys().id(),
                        keyed: Keyed::Unencodable(Arc::new(e)),
                        identity: None,
                        copy: None,
                    };
                }
            }
        };
        if let Some(identity) = identity {
            self.keys().insert(identity, keyed.clone());
        }
        Resolved {
            owner: self.keys().id(),
            keyed,
            identity,
            copy: None,
        }
    }

    /// Remembers the copy a call with these arguments was served, for
    /// their next call: only when nothing but the copy itself decides a
    /// hit (no refresh-ahead, whose hits look at the entry's remaining
    /// life, and no fail-safe, whose tier keeps stale copies).
    pub(crate) fn remember(&self, resolved: &Resolved, copy: impl FnOnce() -> Option<Handle>) {
        let plain =
            self.inner.policy.refresh_ahead.is_none() && self.inner.policy.fail_safe.is_none();
        if let (true, Some(identity)) = (plain, resolved.identity)
            && let Some(copy) = copy()
        {
            self.keys().remember(identity, copy);
        }
    }
}

impl<S: Store + 'static, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// Returns the cached result for `args`, or runs `compute`, caches its
    /// result and returns it. A sync computation fits as
    /// `|| async { compute() }`.
    ///
    /// `args` is an [`Args`] (or another form of [`Arguments`]). The
    /// memoizer remembers the key it built for each call's arguments,
    /// found again by a keyed hash of their JSON: a hit builds no key.
    pub async fn call<T, F, Fut>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let compute = || async { Always(compute().await) };
        self.run(&Async::new(self), &Plain, args, compute).await.0
    }

    /// Like [`call`](Self::call) for a fallible computation: only `Ok`
    /// results are cached (as their value, so Python readers see the value
    /// itself); an `Err` is returned and the next call computes again.
    pub async fn try_call<T, E, F, Fut>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(&Async::new(self), &Plain, args, compute).await
    }

    /// [`call`](Self::call) for a computation that owns what it uses
    /// (`Send + 'static`), so that it can run on its own, in a task of the
    /// current tokio runtime: what [`refresh_ahead`](MemoizerBuilder::refresh_ahead),
    /// [`soft_timeout`](MemoizerBuilder::soft_timeout) and
    /// [`hard_timeout`](MemoizerBuilder::hard_timeout) need. Without those
    /// settings (or outside a tokio runtime) it is `call`.
    pub async fn call_owned<T, F, Fut>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let compute = move || async move { Always(compute().await) };
        let owned = Owned::<Tasks>::new();
        self.run(&Async::new(self), &owned, args, compute).await.0
    }

    /// [`try_call`](Self::try_call) for a computation that owns what it
    /// uses, as [`call_owned`](Self::call_owned) says; at the
    /// [hard timeout](MemoizerBuilder::hard_timeout), with no stale value
    /// to return, it returns `Err(E::from(Elapsed))` (to the flight's
    /// waiters too).
    pub async fn try_call_owned<T, E, F, Fut>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        E: From<Elapsed> + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let compute = move || async move { Bounded(compute().await) };
        let owned = Owned::<Tasks>::new();
        self.run(&Async::new(self), &owned, args, compute).await.0
    }

    /// Runs `compute` whatever is cached for `args`, writes its result
    /// (as a call would on a miss) and returns it: the next call is served
    /// the new value. The write is done when this returns.
    pub async fn refresh<T, F, Fut>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let compute = || async { Always(compute().await) };
        self.recompute(&Async::new(self), args, compute).await.0
    }

    /// [`refresh`](Self::refresh) for a fallible computation: an `Ok`
    /// result is written, an `Err` leaves the cached value as it was.
    pub async fn try_refresh<T, E, F, Fut>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.recompute(&Async::new(self), args, compute).await
    }

    /// Stores `value` at exactly `key` with this memoizer's codec and expiry,
    /// and hands it back (the reference's `cache_data`). The write is done
    /// when this returns; failures are logged.
    pub async fn cache_data<T: Serialize>(&self, key: &str, value: T) -> T {
        self.put(&Async::new(self), key, &value).await;
        value
    }

    /// The value stored at exactly `key` (the read side of
    /// [`cache_data`](Self::cache_data)): from the local tier if it holds
    /// it, else from the store; `None` when there is none, it does not
    /// decode as a `T` (logged), or the store failed (logged).
    pub async fn get_data<T: Cacheable>(&self, key: &str) -> Option<T> {
        self.get(&Async::new(self), key).await
    }

    /// Removes the entry of the call with `args`; answers whether there was
    /// one. A background write of that entry still under way finishes first,
    /// so it cannot bring the entry back. The local copy, if any, is
    /// dropped at once.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be reached (or
    /// [`Error::BreakerOpen`] while the breaker spares it). The removal is
    /// not lost: it is made again until the store answers (from a task of
    /// the current tokio runtime, at most a second apart; see
    /// [`Stats::pending_invalidations`]), the entry is not served
    /// meanwhile, and a later write of the key supersedes it.
    pub async fn invalidate(&self, args: &Args) -> Result<bool> {
        self.remove(&Async::new(self), args).await
    }

    /// Removes every entry of this memoizer's namespace, and nothing else
    /// (a nested namespace such as `ns:sub` keeps its entries); answers how
    /// many keys it removed (with [`fail_safe`](MemoizerBuilder::fail_safe),
    /// the entries' stale copies count too, as `memocache clear` counts
    /// them). Background writes under way finish first; the local copies
    /// are dropped at once.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty namespace, rather than clearing the
    /// whole store. The store's error when it cannot be reached: the clear
    /// is then made again until the store answers, as
    /// [`invalidate`](Self::invalidate)'s removal is.
    pub async fn clear_namespace(&self) -> Result<u64> {
        self.clear(&Async::new(self)).await
    }
}

impl<S: BlockingStore + 'static, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// The blocking form of [`call`](Self::call): for sync code, with no
    /// async runtime. The write is done before it returns.
    pub fn call_blocking<T, F>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> T,
    {
        let resolved = args.resolve(self);
        if let Some(Always(value)) = self.answered(&resolved) {
            return value;
        }
        let compute = || std::future::ready(Always(compute()));
        block_on(self.run(&Blocking::new(self), &Plain, &*resolved, compute)).0
    }

    /// The blocking form of [`try_call`](Self::try_call).
    pub fn try_call_blocking<T, E, F>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        F: FnOnce() -> Result<T, E>,
    {
        let resolved = args.resolve(self);
        if let Some(answer) = self.answered(&resolved) {
            return answer;
        }
        let compute = || std::future::ready(compute());
        block_on(self.run(&Blocking::new(self), &Plain, &*resolved, compute))
    }

    /// The blocking form of [`call_owned`](Self::call_owned): the
    /// computation runs on a thread of its own when the settings that need
    /// it are on (a refresh ahead, a computation bounded by a timeout).
    pub fn call_blocking_owned<T, F>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> T + Send + 'static,
    {
        let resolved = args.resolve(self);
        if let Some(Always(value)) = self.answered(&resolved) {
            return value;
        }
        let compute = move || std::future::ready(Always(compute()));
        let owned = Owned::<Threads>::new();
        block_on(self.run(&Blocking::new(self), &owned, &*resolved, compute)).0
    }

    /// The blocking form of [`try_call_owned`](Self::try_call_owned).
    pub fn try_call_blocking_owned<T, E, F>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        E: From<Elapsed> + Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let resolved = args.resolve(self);
        if let Some(Bounded(answer)) = self.answered(&resolved) {
            return answer;
        }
        let compute = move || std::future::ready(Bounded(compute()));
        let owned = Owned::<Threads>::new();
        block_on(self.run(&Blocking::new(self), &owned, &*resolved, compute)).0
    }

    /// The blocking form of [`refresh`](Self::refresh).
    pub fn refresh_blocking<T, F>(&self, args: &(impl Arguments + ?Sized), compute: F) -> T
    where
        T: Cacheable,
        F: FnOnce() -> T,
    {
        let compute = || std::future::ready(Always(compute()));
        block_on(self.recompute(&Blocking::new(self), args, compute)).0
    }

    /// The blocking form of [`try_refresh`](Self::try_refresh).
    pub fn try_refresh_blocking<T, E, F>(
        &self,
        args: &(impl Arguments + ?Sized),
        compute: F,
    ) -> Result<T, E>
    where
        T: Cacheable,
        F: FnOnce() -> Result<T, E>,
    {
        let compute = || std::future::ready(compute());
        block_on(self.recompute(&Blocking::new(self), args, compute))
    }

    /// The blocking form of [`cache_data`](Self::cache_data).
    pub fn cache_data_blocking<T: Serialize>(&self, key: &str, value: T) -> T {
        block_on(self.put(&Blocking::new(self), key, &value));
        value
    }

    /// The blocking form of [`get_data`](Self::get_data).
    pub fn get_data_blocking<T: Cacheable>(&self, key: &str) -> Option<T> {
        block_on(self.get(&Blocking::new(self), key))
    }

    /// The blocking form of [`invalidate`](Self::invalidate); a removal
    /// that cannot reach the store is made again from a thread of the
    /// memoizer's own.
    pub fn invalidate_blocking(&self, args: &Args) -> Result<bool> {
        block_on(self.remove(&Blocking::new(self), args))
    }

    /// The blocking form of [`clear_namespace`](Self::clear_namespace).
    pub fn clear_namespace_blocking(&self) -> Result<u64> {
        block_on(self.clear(&Blocking::new(self)))
    }
}
