//! The cross-process stampede lock
//! ([`distributed_lock`](crate::MemoizerBuilder::distributed_lock)): on a
//! miss, the process that takes the entry's lock in the store computes;
//! the others wait for its entry instead of computing.
//!
//! - **Taking it:** [`Store::lock`](crate::Store::lock) with
//!   [`LockAction::Acquire`] and a token of this call's own, under the
//!   breaker and the operation timeout like every store operation; then
//!   one more read of the entry, which the last holder may have written
//!   (and let go of the lock) since this call's miss: if it is there, the
//!   lock is released and the entry served. A store that cannot be asked
//!   (an error, an open breaker) skips the lock: the call computes.
//! - **Holding it:** the holder's flight keeps a keeper ([`Reach::keep_lock`])
//!   until it ends, after its write: the keeper extends the lease every
//!   third of it while the computation runs, and releases the lock (only if
//!   its token still holds it) when the flight ends, so waiters stop
//!   waiting as soon as the entry is written or the computation failed.
//! - **Waiting:** a call that finds the lock held reads the entry; when it
//!   is not there yet, it waits for the local tier's next change report
//!   (when the store reports changes: the holder's write is one) or the
//!   next step of a backoff from 5 ms growing by half to 50 ms, whichever
//!   comes first (so a waiter without change reports sees the entry at
//!   most about 50 ms after it is written, for two commands per waiting
//!   process every 50 ms),
//!   then tries the lock and the entry again. It ends with the entry, or
//!   with the lock (its holder released it without a value, or died and
//!   its lease ran out), or at the [hard timeout](crate::MemoizerBuilder::hard_timeout),
//!   if one is set, when it computes on its own.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::instruments::Instruments;
use crate::memoizer::Memoizer;
use crate::stats::Counters;
use crate::store::{LockAction, LockRequest};
use crate::tier::Tier;
use crate::{Cacheable, Codec, KeyHasher};

use super::{Op, Reach, Read};

/// The first wait between two looks at a held lock's entry.
const FIRST_WAIT: Duration = Duration::from_millis(5);

/// The longest wait between two looks: what a waiter without change
/// reports may add to the computation, at most.
const LONGEST_WAIT: Duration = Duration::from_millis(50);

/// What the holder's flight keeps until it ends: dropping it stops the
/// keeper, which then releases the lock.
pub(crate) type Keeper = Box<dyn Send + Sync>;

/// How a miss with a distributed lock goes on.
pub(crate) enum Contention<T> {
    /// This call computes: holding the lock (with its keeper, when one
    /// could be started), or without it.
    Compute(Option<Keeper>),
    /// Another process computed while this call waited: its entry.
    Served(Arc<T>),
}

/// The lock of one entry, as its holder knows it.
#[derive(Clone)]
pub(crate) struct Lock {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) lease: Duration,
}

impl Lock {
    /// How often the keeper gives the lock its lease again.
    pub(crate) fn beat(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(1))
    }
}

/// Records how long a call waited on a lock, when it did, however its
/// wait ends.
struct WaitTimer<'a> {
    instruments: &'a Instruments,
    start: Instant,
    waited: bool,
}

impl Drop for WaitTimer<'_> {
    fn drop(&mut self) {
        if self.waited {
            self.instruments.lock_wait(self.start);
        }
    }
}

/// A token no other holder uses, in this process or another: a random
/// number drawn once per process, the process id, and a count.
fn token() -> String {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{process:016x}-{:x}-{n:x}", std::process::id())
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// After a miss of `key` with `distributed_lock(lease)`: takes the
    /// lock, or waits for the entry another process computes.
    pub(crate) async fn contend<R: Reach, T: Cacheable>(
        &self,
        reach: &R,
        tier: Option<&Tier>,
        key: &str,
        lease: Duration,
    ) -> Contention<T> {
        if !reach.store().capabilities().locks {
            self.warn_no_locks(reach.backend());
            return Contention::Compute(None);
        }
        if !reach.can_wait() {
            return Contention::Compute(None);
        }
        let token = token();
        let start = Instant::now();
        let mut timer = WaitTimer {
            instruments: self.instruments(),
            start,
            waited: false,
        };
        let mut wait = FIRST_WAIT;
        let mut waited = false;
        loop {
            let acquire = LockRequest::new(&token, LockAction::Acquire(lease));
            match self.lock_action(reach, key, acquire).await {
                Ok(true) => {
                    let lock = Lock {
                        key: key.to_owned(),
                        token,
                        lease,
                    };
                    // The last holder may have written and let go between
                    // this call's miss and now: its entry, not a second
                    // computation.
                    if let Read::Hit(value, _) = self.fetch::<R, T>(reach, R::CALL, tier, key).await
                    {
                        self.release_lock(reach, &lock).await;
                        if waited {
                            Counters::bump(&self.counters().lock_served);
                        }
                        return Contention::Served(value);
                    }
                    return Contention::Compute(reach.keep_lock(lock));
                }
                Ok(false) => {}
                Err(()) => return Contention::Compute(None),
            }
            if !waited {
                waited = true;
                Counters::bump(&self.counters().lock_waits);
                timer.waited = true;
            }
            if self
                .hard_timeout()
                .is_some_and(|limit| start.elapsed() >= limit)
            {
                return Contention::Compute(None);
            }
            // Before the read: a change reported after it wakes the wait.
            let mark = tier.map(|tier| tier.changes().mark());
            match self.fetch::<R, T>(reach, R::CALL, tier, key).await {
                Read::Hit(value, _) => {
                    Counters::bump(&self.counters().lock_served);
                    return Contention::Served(value);
                }
                Read::Miss { store_ok: false } => return Contention::Compute(None),
                Read::Miss { store_ok: true } => {}
            }
            reach
                .pause(
                    wait,
                    tier.zip(mark).map(|(tier, mark)| (tier.changes(), mark)),
                )
                .await;
            wait = (wait * 3 / 2).min(LONGEST_WAIT);
        }
    }

    /// Does `request` to `key`'s lock under the breaker and the operation
    /// timeout; a failure is counted and logged.
    pub(crate) async fn lock_action<R: Reach>(
        &self,
        reach: &R,
        key: &str,
        request: LockRequest<'_>,
    ) -> Result<bool, ()> {
        self.attempt(reach, R::CALL, Op::Lock, key, |timeout| {
            reach.lock(key, request.timeout(timeout))
        })
        .await
        .map_err(drop)
    }

    /// What the keeper of `lock` does each beat: extends it; answers
    /// whether it still holds it (a failed extension is retried at the next
    /// beat).
    pub(crate) async fn extend_lock<R: Reach>(&self, reach: &R, lock: &Lock) -> bool {
        let extend = LockRequest::new(&lock.token, LockAction::Extend(lock.lease));
        match self.lock_action(reach, &lock.key, extend).await {
            Ok(true) | Err(()) => true,
            Ok(false) => {
                tracing::warn!(
                    namespace = self.namespace(),
                    key = lock.key,
                    lease_ms = u64::try_from(lock.lease.as_millis()).unwrap_or(u64::MAX),
                    "memocache: the distributed lock was lost while its computation ran (its \
                     lease ran out before it could be extended); another process may compute the \
                     same entry"
                );
                false
            }
        }
    }

    /// What the keeper of `lock` does at the end: releases it.
    pub(crate) async fn release_lock<R: Reach>(&self, reach: &R, lock: &Lock) {
        let release = LockRequest::new(&lock.token, LockAction::Release);
        let _ = self.lock_action(reach, &lock.key, release).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert!(a.len() >= 20, "{a}");
    }

    #[test]
    fn the_keeper_beats_three_times_a_lease() {
        let lock = Lock {
            key: "k".into(),
            token: "t".into(),
            lease: Duration::from_millis(300),
        };
        assert_eq!(lock.beat(), Duration::from_millis(100));
    }
}
