//! The call engine: every decision of a memoized call, written once for
//! the async and the blocking entry points.
//!
//! A call goes: conditions and key ([`Memoizer::key_for_call`]), its
//! single-flight role, the breaker, the read, the decode, the computation,
//! what to share with the flight's waiters and what to write. The engine
//! is async code generic over [`Reach`], the way the store is reached:
//! the async entry points await it, the blocking ones drive it with
//! [`block_on`], where every store operation completes when first polled
//! and the thread parks only while it waits for another caller.

mod block_on;
mod detached;
mod lock;
mod outcome;
mod reach;
mod removals;
mod span;
mod stale;
mod writes;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

pub use block_on::block_on;
pub(crate) use detached::{Owned, Plain, Refreshes, Tasks, Threads};
pub use outcome::Cacheable;
pub(crate) use outcome::{Always, Bounded, Outcome};
pub(crate) use reach::{Async, Blocking, Reach};
pub(crate) use removals::Removals;
pub(crate) use stale::Throttle;
pub(crate) use writes::{Pending, Writes};

use self::lock::Contention;
use crate::error::Elapsed;
use crate::flight::{Landing, Leader, Role};
use crate::health::Health;
use crate::identity::{Arguments, Keyed, Resolved};
use crate::key::{Args, stale_key};
use crate::memoizer::Memoizer;
use crate::stats::Counters;
use crate::store::{Decoded, Entry, KeyTtl, ReadOptions, RemoveOptions, WriteOptions};
use crate::tier::{FlushCause, Invalidations, Tier};
use crate::{Codec, Error, KeyHasher, Result};
use detached::Detach;
#[cfg(feature = "metrics")]
pub(crate) use span::OUTCOMES;
use span::{CallSpan, Path};
use stale::Ended;

const CACHE_DATA: &str = "memocache::Memoizer::cache_data";
const GET_DATA: &str = "memocache::Memoizer::get_data";
const INVALIDATE: &str = "memocache::Memoizer::invalidate";
const CLEAR_NAMESPACE: &str = "memocache::Memoizer::clear_namespace";

/// A kind of store operation: what its failure's log line says, and its
/// name in the operations' metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Remove,
    /// A namespace's sweep (`SCAN` + `UNLINK`).
    Sweep,
    /// A distributed lock's script.
    Lock,
}

impl Op {
    /// Every kind, in the order of their discriminants.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Op; 5] = [Op::Read, Op::Write, Op::Remove, Op::Sweep, Op::Lock];

    /// The log line's subject when it fails: the reference's, for the
    /// operations it has.
    fn subject(self) -> &'static str {
        match self {
            Op::Read => "Error on get cached data",
            Op::Write => "Error on writing cache",
            Op::Remove | Op::Sweep => "Error on deleting cache",
            Op::Lock => "memocache: cannot reach the distributed lock in the store",
        }
    }

    /// Its `db.operation.name`: the Redis command (or the first of them).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Read => "GET",
            Op::Write => "SET",
            Op::Remove => "DEL",
            Op::Sweep => "SCAN",
            Op::Lock => "EVAL",
        }
    }
}

/// How a store operation failed, for the errors' metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Error,
    Timeout,
    /// Not tried: the breaker was open.
    BreakerOpen,
}

impl Failure {
    /// Every kind, in the order of their discriminants.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Failure; 3] = [Failure::Error, Failure::Timeout, Failure::BreakerOpen];

    /// Its `kind` label.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Failure::Error => "error",
            Failure::Timeout => "timeout",
            Failure::BreakerOpen => "breaker_open",
        }
    }
}

/// Logs a cache failure with the reference's fields, the error with its
/// causes; the caller carries on.
pub(crate) fn log_failure(
    controller: &'static str,
    subject: &'static str,
    key: &str,
    error: &Error,
) {
    tracing::error!(
        controller,
        subject,
        redis_key = key,
        error = %error.report(),
        "{subject}"
    );
}

/// A computed value to store; the flight (if any) ends when it is written.
pub(crate) struct Write {
    key: String,
    bytes: Bytes,
    /// What the bytes decode to, for a store that keeps it.
    decoded: Option<Decoded>,
    /// Its expiry: the memoizer's, or what `expire_with` gave for it.
    expire: Option<std::time::Duration>,
    leader: Option<Leader>,
}

/// A computed result ready to write: its bytes and its expiry.
struct Encoded {
    bytes: Bytes,
    /// What the bytes decode to, for a store that keeps it
    /// ([`Capabilities::keeps_decoded`](crate::Capabilities::keeps_decoded)).
    decoded: Option<Decoded>,
    expire: Option<std::time::Duration>,
}

/// What the store read of a call found.
enum Read<T> {
    /// A stored value that decoded, with the entry it came from.
    Hit(T, Entry),
    /// Nothing usable; `store_ok` says whether the store answered (a call
    /// whose read failed does not write).
    Miss { store_ok: bool },
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// One memoized call: the cached result for `args`, or `compute`'s.
    /// `detach` says whether the computation can outlive the call (for
    /// refresh-ahead and the computation timeouts).
    pub(crate) async fn run<A, R, D, O, F, Fut>(
        &self,
        reach: &R,
        detach: &D,
        args: &A,
        compute: F,
    ) -> O
    where
        A: Arguments + ?Sized,
        R: Reach,
        D: Detach<S, C, H, O, F>,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let span = CallSpan::new(self.namespace(), self.instruments());
        let resolved = args.resolve(self);
        let Some(key) = self.key_for_call(R::CALL, &resolved) else {
            span.end(Path::Bypassed);
            return compute().await;
        };
        span.key(key);
        if let Some((value, path)) = self.remembered::<O::Value>(&resolved, key) {
            span.end(path);
            return O::from_cached(value);
        }
        let tier = self.tier_for(reach);
        if let Some(tier) = tier
            && let Some((value, expires)) = local_copy::<O::Value>(tier, key)
        {
            self.remember(&resolved, || tier.handle(key));
            Counters::bump(&self.tier_counters().hits);
            let left = || expires.map(|at| at.saturating_duration_since(Instant::now()));
            let refreshing =
                self.refresh_due(&value, left) && detach.refresh(self, reach, key, compute);
            span.end(if refreshing {
                Path::LocalRefresh
            } else {
                Path::Local
            });
            return O::from_cached(value);
        }
        if tier.is_none()
            && let Some((value, entry)) = self.decoded_copy::<R, O::Value>(reach, key).await
        {
            self.remember(&resolved, || entry.decoded.as_ref().map(Decoded::handle));
            let (outcome, path) = self.store_hit(reach, detach, key, value, &entry, compute);
            span.end(path);
            return outcome;
        }
        loop {
            let leader = match self.join_flight(key) {
                Some(Role::Waiter(waiter)) => match landed(waiter.wait().await) {
                    Landed::Value(value) => {
                        Counters::bump(&self.counters().merged);
                        span.end(Path::Merged);
                        return O::from_cached(value);
                    }
                    Landed::Stale(value) => {
                        Counters::bump(&self.counters().stale_served);
                        span.end(Path::Stale);
                        return O::from_cached(value);
                    }
                    Landed::Retry => continue,
                    Landed::Elapsed(after) => {
                        if let Some(outcome) = O::elapsed(Elapsed::new(after)) {
                            span.end(Path::HardTimeout);
                            return outcome;
                        }
                        Counters::bump(&self.counters().misses);
                        span.end(Path::Miss);
                        return compute().await;
                    }
                    Landed::Alone => {
                        Counters::bump(&self.counters().misses);
                        span.end(Path::Miss);
                        return compute().await;
                    }
                },
                Some(Role::Leader(leader)) => Some(leader),
                None => None,
            };
            let (outcome, path) = self.lead(reach, detach, tier, key, leader, compute).await;
            span.end(path);
            return outcome;
        }
    }

    /// The leader's part (or a lone call's): read (keeping what it finds
    /// in the local tier, if no change to the key is reported meanwhile,
    /// and starting a refresh when one is due), and on a miss serve a
    /// throttled stale value or compute, share and write.
    async fn lead<R, D, O, F, Fut>(
        &self,
        reach: &R,
        detach: &D,
        tier: Option<&Tier>,
        key: &str,
        leader: Option<Leader>,
        compute: F,
    ) -> (O, Path)
    where
        R: Reach,
        D: Detach<S, C, H, O, F>,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let store_ok = match self.fetch::<R, O::Value>(reach, R::CALL, tier, key).await {
            Read::Hit(value, entry) => {
                if let Some(leader) = leader {
                    leader.share(value.clone());
                }
                return self.store_hit(reach, detach, key, value, &entry, compute);
            }
            Read::Miss { store_ok } => store_ok,
        };
        if let Some(value) = self.throttled::<O::Value>(key) {
            let lander = leader.as_ref().map(Leader::lander);
            return (self.serve_stale(lander, Arc::new(value)), Path::Stale);
        }
        let mut leader = leader;
        // The lock's keeper, kept by the flight until it ends (after its
        // write), or here without a flight.
        let mut keeper = None;
        if let Some(lease) = self.distributed_lock().filter(|_| store_ok) {
            match self.contend::<R, O::Value>(reach, tier, key, lease).await {
                Contention::Served(value) => {
                    if let Some(leader) = &leader {
                        leader.share(value.clone());
                    }
                    let value = Arc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone());
                    return (O::from_cached(value), Path::LockWait);
                }
                Contention::Compute(kept) => match leader.as_mut() {
                    Some(leader) => leader.keep(kept),
                    None => keeper = kept,
                },
            }
        }
        let ended = match detach.start(self, key, leader, store_ok, compute) {
            Ok(started) => self.bounded(reach, tier, key, started).await,
            Err((leader, compute)) => self.miss(reach, tier, key, leader, store_ok, compute).await,
        };
        drop(keeper);
        ended
    }

    /// A value found in the store (read in the flight, or before it from
    /// a store that keeps decoded values): counted, a refresh started when
    /// one is due, and handed out (the value itself when nobody else holds
    /// it, else a clone).
    fn store_hit<R, D, O, F, Fut>(
        &self,
        reach: &R,
        detach: &D,
        key: &str,
        value: Arc<O::Value>,
        entry: &Entry,
        compute: F,
    ) -> (O, Path)
    where
        R: Reach,
        D: Detach<S, C, H, O, F>,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        Counters::bump(&self.counters().hits);
        let left = || match entry.ttl {
            Some(KeyTtl::Expires(left)) => Some(left),
            _ => None,
        };
        let refreshing =
            self.refresh_due(&*value, left) && detach.refresh(self, reach, key, compute);
        let value = Arc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone());
        let path = if refreshing {
            Path::HitRefresh
        } else {
            Path::Hit
        };
        (O::from_cached(value), path)
    }

    /// After a miss: computes (with fail-safe, serving a stale value if
    /// the computation fails), shares the result with the flight's waiters
    /// and writes it (unless the read failed).
    pub(crate) async fn miss<R, O, F, Fut>(
        &self,
        reach: &R,
        tier: Option<&Tier>,
        key: &str,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> (O, Path)
    where
        R: Reach,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        Counters::bump(&self.counters().misses);
        let outcome = if self.fail_safe().is_some() {
            match Ended::of(compute).await {
                Ended::Done(outcome) => outcome,
                failed => {
                    let cause = failed.describe();
                    if let Some(value) = self.stale_for(reach, tier, key, cause).await {
                        let lander = leader.as_ref().map(Leader::lander);
                        return (self.serve_stale(lander, value), Path::Stale);
                    }
                    failed.resume()
                }
            }
        } else {
            compute().await
        };
        let encoded = self.settle(reach, key, leader.as_ref(), &outcome);
        if let (
            true,
            Some(Encoded {
                bytes,
                decoded,
                expire,
            }),
        ) = (store_ok, encoded)
        {
            let write = Write {
                key: key.to_owned(),
                bytes,
                decoded,
                expire,
                leader,
            };
            if let Some(write) = reach.write_behind(write) {
                self.store_write(reach, write).await;
            }
        }
        (outcome, Path::Miss)
    }

    /// Reads `key` from the store, keeping what it finds in the local tier
    /// (if any) unless a change to the key is reported meanwhile.
    async fn fetch<R: Reach, T: Cacheable>(
        &self,
        reach: &R,
        controller: &'static str,
        tier: Option<&Tier>,
        key: &str,
    ) -> Read<Arc<T>> {
        // An entry whose removal waits for the store is not served, nor
        // read: a retry may remove it while the read is under way.
        if self.removals().hides(key) {
            return Read::Miss { store_ok: true };
        }
        let ticket = tier.map(|tier| tier.begin(key));
        let read = self
            .attempt(reach, controller, Op::Read, key, |timeout| {
                let options = ReadOptions::new()
                    .timeout(timeout)
                    .with_ttl(ticket.is_some() || self.refreshes_ahead());
                reach.read(key, options)
            })
            .await
            .ok();
        // Nor one whose removal was asked while it was read.
        let read = read.map(|found| found.filter(|_| !self.removals().hides(key)));
        match self.decode_read::<T>(controller, key, read) {
            Read::Hit(value, entry) => {
                if let (Some(tier), Some(ticket)) = (tier, ticket) {
                    tier.complete(ticket, value.clone(), entry.value.len(), entry.ttl);
                }
                Read::Hit(value, entry)
            }
            Read::Miss { store_ok } => {
                if let (Some(tier), Some(ticket)) = (tier, ticket) {
                    tier.abandon(ticket);
                }
                Read::Miss { store_ok }
            }
        }
    }

    /// The value a store that lives in the process
    /// ([`Capabilities::keeps_decoded`](crate::Capabilities::keeps_decoded))
    /// holds at `key`, read before the call joins the key's flight, as a
    /// local copy is: such a read is a map lookup, with nothing to merge,
    /// bound or guard. The decoded value it keeps is served as it is; bytes
    /// without one (another codec's write, `cache_data`'s) are decoded.
    /// `None` (the call then goes the usual way, which reads again and
    /// logs what failed) when the entry is missing or does not decode as a
    /// `T`, a removal of the key waits, or the read failed.
    async fn decoded_copy<R: Reach, T: Cacheable>(
        &self,
        reach: &R,
        key: &str,
    ) -> Option<(Arc<T>, Entry)> {
        if !reach.store().capabilities().keeps_decoded || self.removals().hides(key) {
            return None;
        }
        let options = ReadOptions::new().with_ttl(self.refreshes_ahead());
        let started = self.instruments().start();
        let read = reach.read(key, options).await;
        self.instruments().operation(Op::Read, started);
        let entry = read.ok()??;
        let value = match entry.decoded.as_ref().and_then(Decoded::get::<C, T>) {
            Some(value) => value,
            None => Arc::new(self.codec().decode(&entry.value).ok()?),
        };
        Some((value, entry))
    }

    /// `get_data`: the value stored at exactly `key`, from the local tier
    /// or the store; `None` when there is none, it does not decode as a
    /// `T`, or the store failed (logged).
    pub(crate) async fn get<R: Reach, T: Cacheable>(&self, reach: &R, key: &str) -> Option<T> {
        let tier = self.tier_for(reach);
        if let Some((value, _)) = tier.and_then(|tier| local_copy::<T>(tier, key)) {
            Counters::bump(&self.tier_counters().hits);
            return Some(value);
        }
        match self.fetch::<R, T>(reach, GET_DATA, tier, key).await {
            Read::Hit(value, _) => {
                Counters::bump(&self.counters().hits);
                Some(Arc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone()))
            }
            Read::Miss { .. } => {
                Counters::bump(&self.counters().misses);
                None
            }
        }
    }

    /// `refresh`: computes the result for `args` whatever is cached, and
    /// writes it (unless it bypasses the cache, or `cache_if` rejects it)
    /// before returning it, so the next call is served the new value.
    pub(crate) async fn recompute<A, R, O, F, Fut>(&self, reach: &R, args: &A, compute: F) -> O
    where
        A: Arguments + ?Sized,
        R: Reach,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let resolved = args.resolve(self);
        let Some(key) = self.key_for_call(R::CALL, &resolved) else {
            return compute().await;
        };
        // A write of the old value still under way must not land after
        // the new one.
        if let Some(flight) = self.flights().current(key) {
            flight.wait().await;
        }
        let outcome = compute().await;
        if let Some(Encoded {
            bytes,
            decoded,
            expire,
        }) = self.settle(reach, key, None, &outcome)
        {
            let write = Write {
                key: key.to_string(),
                bytes,
                decoded,
                expire,
                leader: None,
            };
            self.store_write(reach, write).await;
        }
        if let Some(tier) = self.tier_for(reach) {
            tier.changed(key);
        }
        outcome
    }

    /// Writes a computed value, then ends its flight.
    pub(crate) async fn store_write<R: Reach>(&self, reach: &R, write: Write) {
        let Write {
            key,
            bytes,
            decoded,
            expire,
            leader,
        } = write;
        self.write_entry(reach, R::CALL, &key, bytes, decoded, expire)
            .await;
        drop(leader);
    }

    /// Writes an entry (failures are logged): it supersedes a removal of
    /// `key` still waiting, and with fail-safe its stale copy follows.
    async fn write_entry<R: Reach>(
        &self,
        reach: &R,
        controller: &'static str,
        key: &str,
        bytes: Bytes,
        decoded: Option<Decoded>,
        expire: Option<std::time::Duration>,
    ) {
        // While removals wait, a write and a retried removal of its key do
        // not overlap: the removal either lands first or sees it superseded.
        let _gate = self.removals().gate().await;
        let options = WriteOptions::new().expire(expire);
        let written = self
            .attempt(reach, controller, Op::Write, key, |timeout| {
                reach.write(
                    key,
                    bytes.clone(),
                    decoded.clone(),
                    options.timeout(timeout),
                )
            })
            .await;
        if written.is_ok() {
            self.removals().settled(key);
            self.write_stale(reach, controller, key, bytes, expire)
                .await;
        }
    }

    /// `cache_data`: stores `value` at exactly `key`; failures are logged.
    pub(crate) async fn put<R: Reach, T: Serialize + ?Sized>(
        &self,
        reach: &R,
        key: &str,
        value: &T,
    ) {
        let Some(bytes) = self.encode(CACHE_DATA, key, value) else {
            return;
        };
        self.write_entry(reach, CACHE_DATA, key, bytes, None, self.expire())
            .await;
        // A store that tracks changes reports this write too; one that does
        // not (a best-effort tier) relies on this.
        if let Some(tier) = self.tier_for(reach) {
            tier.changed(key);
        }
    }

    /// `invalidate`: removes the entry of `args`, after any write of it
    /// still under way, and drops its local copy. A removal that cannot
    /// reach the store returns its error and waits to be made again
    /// ([`Removals`]).
    pub(crate) async fn remove<R: Reach>(&self, reach: &R, args: &Args) -> Result<bool> {
        let key = self.key(args)?;
        self.removals().begin();
        if let Some(flight) = self.flights().current(&key) {
            flight.wait().await;
        }
        if let Some((_, throttle)) = self.fail_safe() {
            throttle.forget(&key);
        }
        let removed = self.delete_entry(reach, &key).await;
        if let Some(tier) = self.tier_for(reach) {
            tier.changed(&key);
        }
        match removed {
            Ok(_) => self.removals().settled(&key),
            Err(_) => {
                if !self
                    .removals()
                    .push_key(&key, self.namespace_keys().is_ok())
                {
                    tracing::error!(
                        namespace = self.namespace(),
                        bound = removals::BOUND,
                        "memocache: too many invalidations wait for the store: the \
                         namespace's entries will all be removed once it answers"
                    );
                }
                reach.retry_later();
            }
        }
        removed
    }

    /// `clear_namespace`: removes the namespace's entries, after the
    /// background writes under way, and drops the local copies. A clear
    /// that cannot reach the store returns its error and waits to be made
    /// again ([`Removals`]).
    pub(crate) async fn clear<R: Reach>(&self, reach: &R) -> Result<u64> {
        self.namespace_keys()?;
        self.removals().begin();
        self.writes_done().await;
        if let Some((_, throttle)) = self.fail_safe() {
            throttle.forget_all();
        }
        let cleared = self.sweep(reach).await;
        if let Some(tier) = self.tier_for(reach) {
            tier.flushed(FlushCause::Cleared);
        }
        if cleared.is_err() {
            self.removals().push_namespace();
            reach.retry_later();
        }
        cleared
    }

    /// Removes the entry at `key` and, with fail-safe, its stale copy;
    /// answers whether the entry existed.
    async fn delete_entry<R: Reach>(&self, reach: &R, key: &str) -> Result<bool> {
        let removed = self
            .attempt(reach, INVALIDATE, Op::Remove, key, |timeout| {
                reach.remove(key, RemoveOptions::new().timeout(timeout))
            })
            .await?;
        if self.fail_safe().is_some() {
            let stale = stale_key(key);
            self.attempt(reach, INVALIDATE, Op::Remove, &stale, |timeout| {
                reach.remove(&stale, RemoveOptions::new().timeout(timeout))
            })
            .await?;
        }
        Ok(removed)
    }

    /// Removes the namespace's entries from the store. The sweep is not
    /// bounded by the operation timeout, which is meant for one round
    /// trip: it takes as many as the keyspace is large, each bounded by
    /// the client's own timeout.
    async fn sweep<R: Reach>(&self, reach: &R) -> Result<u64> {
        let (exact, entries) = self.namespace_keys()?;
        let prefix = entries.prefix();
        let swept = self
            .attempt(reach, CLEAR_NAMESPACE, Op::Sweep, &prefix, |_| {
                reach.delete_matching(&entries)
            })
            .await?;
        let own = self
            .attempt(reach, CLEAR_NAMESPACE, Op::Remove, &exact, |timeout| {
                reach.remove(&exact, RemoveOptions::new().timeout(timeout))
            })
            .await?;
        let own_stale = if self.fail_safe().is_some() {
            let stale = stale_key(&exact);
            self.attempt(reach, CLEAR_NAMESPACE, Op::Remove, &stale, |timeout| {
                reach.remove(&stale, RemoveOptions::new().timeout(timeout))
            })
            .await?
        } else {
            false
        };
        Ok(swept + u64::from(own) + u64::from(own_stale))
    }

    /// Makes the removals that wait again, in order, until one fails;
    /// answers whether none waits any more.
    pub(crate) async fn retry_removals<R: Reach>(&self, reach: &R) -> bool {
        for removal in self.removals().waiting() {
            let made = match &removal {
                removals::Removal::Key(key, _) => {
                    let _gate = self.removals().gate().await;
                    if !self.removals().waits(&removal) {
                        continue;
                    }
                    self.delete_entry(reach, key).await.is_ok()
                }
                removals::Removal::Namespace(_) => self.sweep(reach).await.is_ok(),
            };
            if !made {
                return false;
            }
            self.removals().done(&removal);
        }
        self.removals().pending() == 0
    }

    /// A store operation under the breaker and the operation timeout
    /// (handed to `op`); a failure is counted and logged, and returned
    /// (the calls that never return a cache error drop it).
    async fn attempt<R, T, Fut>(
        &self,
        reach: &R,
        controller: &'static str,
        kind: Op,
        key: &str,
        op: impl FnOnce(Option<std::time::Duration>) -> Fut,
    ) -> Result<T>
    where
        R: Reach,
        Fut: Future<Output = Result<T>>,
    {
        let health = self.health_for(reach);
        let breaker = health.breaker();
        let backend = reach.backend();
        let instruments = self.instruments();
        if !breaker.allow(backend) {
            Counters::bump(&self.counters().skipped_by_breaker);
            instruments.failure(Failure::BreakerOpen);
            instruments.breaker(|| breaker.state());
            return Err(Error::BreakerOpen { backend });
        }
        let started = instruments.start();
        let done = op(self.op_timeout()).await;
        instruments.operation(kind, started);
        let done = match done {
            Ok(value) => {
                breaker.success(backend);
                Ok(value)
            }
            Err(e) => {
                let (counter, failure) = match e {
                    Error::Timeout(_) => (&self.counters().timeouts, Failure::Timeout),
                    _ => (&self.counters().store_errors, Failure::Error),
                };
                Counters::bump(counter);
                instruments.failure(failure);
                breaker.failure(backend);
                log_failure(controller, kind.subject(), key, &e);
                Err(e)
            }
        };
        instruments.breaker(|| breaker.state());
        done
    }

    /// The health view this memoizer records in: settled on first use.
    fn health_for<R: Reach>(&self, reach: &R) -> &Health {
        self.health_or_init(|| reach.health())
    }

    /// Turns a store read into a hit, or a miss (logging a value that does
    /// not decode). A value the store keeps decoded (by a memoizer with
    /// this codec, as a `T`) is served as it is.
    fn decode_read<T: Cacheable>(
        &self,
        controller: &'static str,
        key: &str,
        read: Option<Option<Entry>>,
    ) -> Read<Arc<T>> {
        match read {
            None => Read::Miss { store_ok: false },
            Some(Some(entry)) if !entry.value.is_empty() => {
                if let Some(value) = entry.decoded.as_ref().and_then(Decoded::get::<C, T>) {
                    return Read::Hit(value, entry);
                }
                match self.codec().decode(&entry.value) {
                    Ok(value) => Read::Hit(Arc::new(value), entry),
                    Err(e) => {
                        Counters::bump(&self.counters().decode_errors);
                        log_failure(controller, "Error on reading cache", key, &e);
                        Read::Miss { store_ok: true }
                    }
                }
            }
            Some(_) => Read::Miss { store_ok: true },
        }
    }

    /// Encodes a value for the store, or logs why it cannot be.
    fn encode<T: Serialize + ?Sized>(
        &self,
        controller: &'static str,
        key: &str,
        value: &T,
    ) -> Option<Bytes> {
        match self.codec().encode(value) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(e) => {
                log_failure(controller, "Error on encoding value", key, &e);
                None
            }
        }
    }

    /// After a miss: the encoded result to write, if it is to be cached
    /// (`cache_if`), with its expiry (`expire_with`) and, for a store that
    /// keeps decoded values, what the bytes decode to (decoded once here,
    /// so that its hits serve exactly what a read of the bytes would); the
    /// flight's waiters get the value itself, if it is written (so that
    /// they share only what is stored).
    fn settle<R: Reach, O: Outcome>(
        &self,
        reach: &R,
        key: &str,
        leader: Option<&Leader>,
        outcome: &O,
    ) -> Option<Encoded> {
        let value = outcome.cacheable().filter(|value| self.keeps(*value));
        let encoded = value.and_then(|value| {
            let bytes = self.encode(R::CALL, key, value)?;
            let expire = self.expire_for(value);
            let decoded = reach
                .store()
                .capabilities()
                .keeps_decoded
                .then(|| self.codec().decode_sized::<O::Value>(&bytes).ok())
                .flatten()
                .map(|(value, size)| Decoded::new::<C, _>(Arc::new(value), size, expire));
            Some(Encoded {
                bytes,
                decoded,
                expire,
            })
        });
        if let Some(leader) = leader {
            match (value, &encoded) {
                (Some(value), Some(_)) => leader.share(Arc::new(value.clone())),
                _ => leader.unshared(),
            }
        }
        encoded
    }

    /// The key to use for this call, or `None` when it bypasses the cache
    /// (logged when an argument does not encode).
    fn key_for_call<'a>(
        &self,
        controller: &'static str,
        resolved: &'a Resolved,
    ) -> Option<&'a str> {
        match &resolved.keyed {
            Keyed::Key(key) => Some(key),
            Keyed::Bypass => {
                Counters::bump(&self.counters().bypassed);
                None
            }
            Keyed::Unencodable(e) => {
                Counters::bump(&self.counters().bypassed);
                log_failure(
                    controller,
                    "Error on building cache key",
                    self.namespace(),
                    e,
                );
                None
            }
        }
    }

    /// The answer of a call whose arguments' remembered copy still stands
    /// (counted and traced as the hit it is), found before the engine's
    /// future is built: what the blocking entry points try first, so that
    /// such a hit neither builds nor moves that future.
    pub(crate) fn answered<O: Outcome>(&self, resolved: &Resolved) -> Option<O> {
        let (Keyed::Key(key), Some(_)) = (&resolved.keyed, &resolved.copy) else {
            return None;
        };
        let span = CallSpan::new(self.namespace(), self.instruments());
        span.key(key);
        let (value, path) = self.remembered::<O::Value>(resolved, key)?;
        span.end(path);
        Some(O::from_cached(value))
    }

    /// The copy remembered for this call's arguments, if it still stands,
    /// holds a `T`, and no removal of `key` waits; counted as the hit it is.
    fn remembered<T: Cacheable>(&self, resolved: &Resolved, key: &str) -> Option<(T, Path)> {
        let copy = resolved.copy.as_ref()?;
        let value = copy.value.downcast_ref::<T>()?;
        if self.removals().hides(key) {
            return None;
        }
        Some(if copy.local {
            Counters::bump(&self.tier_counters().hits);
            (value.clone(), Path::Local)
        } else {
            Counters::bump(&self.counters().hits);
            (value.clone(), Path::Hit)
        })
    }

    fn join_flight(&self, key: &str) -> Option<Role> {
        self.single_flight().then(|| self.flights().join(key))
    }

    /// The local tier, if this memoizer has one and it is live: settled on
    /// first use, when the tier asks the store to report changes.
    fn tier_for<R: Reach>(&self, reach: &R) -> Option<&Tier> {
        self.tier_or_init(|tier| {
            let sink: Weak<dyn Invalidations> = Arc::downgrade(tier) as Weak<dyn Invalidations>;
            reach.track_changes(sink)
        })
    }
}

/// The fresh local copy at `key`, if it holds a `T`, with when its store
/// entry expires (if it does).
fn local_copy<T: Clone + 'static>(tier: &Tier, key: &str) -> Option<(T, Option<Instant>)> {
    let (value, expires) = tier.get(key)?;
    Some((value.downcast_ref::<T>()?.clone(), expires))
}

/// What a waiter makes of its flight's landing.
enum Landed<T> {
    /// The leader's value.
    Value(T),
    /// A stale value the leader served.
    Stale(T),
    /// The leader's computation passed its hard timeout after this long.
    Elapsed(std::time::Duration),
    /// The leader went away: join again.
    Retry,
    /// Compute alone.
    Alone,
}

/// What a waiter makes of `landing`.
fn landed<T: Clone + 'static>(landing: Landing) -> Landed<T> {
    let (value, stale) = match landing {
        Landing::Shared(value) => (value, false),
        Landing::Stale(value) => (value, true),
        Landing::Elapsed(after) => return Landed::Elapsed(after),
        Landing::Unshared => return Landed::Alone,
        Landing::Abandoned => return Landed::Retry,
    };
    match (value.downcast_ref::<T>(), stale) {
        (Some(value), false) => Landed::Value(value.clone()),
        (Some(value), true) => Landed::Stale(value.clone()),
        (None, _) => Landed::Alone,
    }
}
