//! Fail-safe: serving a stale value when the computation fails.
//!
//! A failed computation (an `Err`, a panic) looks for a value of its key
//! that expired less than `max_stale` ago: the local tier's copy, kept
//! past its expiry, else the stale copy in the store (the entry's
//! [`stale_key`], written with each entry and living `max_stale` longer).
//! What it finds is served, shared with the flight's waiters, and kept in
//! the [`Throttle`] so that the next misses of the key serve it too,
//! without running the computation, until the throttle period ends.
//!
//! An entry whose removal waits ([`Removals`](super::Removals)) has no
//! stale value: `invalidate` means gone.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use moka::sync::Cache;

use super::{Cacheable, Op, Outcome, Reach, Read};
use crate::flight::Lander;
use crate::key::stale_key;
use crate::memoizer::Memoizer;
use crate::stats::Counters;
use crate::store::WriteOptions;
use crate::tier::{Shared, Tier};
use crate::{Codec, KeyHasher};

/// How many keys' stale values the throttle holds at most.
const THROTTLED_KEYS: u64 = 100_000;

/// The stale values served after a failed computation, each for the
/// throttle period.
pub(crate) struct Throttle {
    served: Cache<Arc<str>, Shared>,
}

impl Throttle {
    /// A throttle keeping each value `period`.
    pub(crate) fn new(period: Duration) -> Self {
        Throttle {
            served: Cache::builder()
                .max_capacity(THROTTLED_KEYS)
                .time_to_live(period)
                .build(),
        }
    }

    fn get<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.served.get(key)?.downcast_ref::<T>().cloned()
    }

    fn insert(&self, key: &str, value: Shared) {
        self.served.insert(Arc::from(key), value);
    }

    /// The key was written, removed or refreshed: its stale value goes.
    pub(crate) fn forget(&self, key: &str) {
        self.served.invalidate(key);
    }

    /// The namespace was cleared.
    pub(crate) fn forget_all(&self) {
        self.served.invalidate_all();
    }
}

/// How a computation ended, under fail-safe.
pub(crate) enum Ended<O> {
    /// With a result to keep.
    Done(O),
    /// With an `Err`.
    Failed(O),
    /// With a panic, and its payload.
    Panicked(Box<dyn Any + Send>),
}

impl<O: Outcome> Ended<O> {
    /// Runs `compute`, catching a panic (of the call that makes the future
    /// or of the future) instead of unwinding.
    pub(crate) async fn of<F, Fut>(compute: F) -> Self
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let future = match std::panic::catch_unwind(AssertUnwindSafe(compute)) {
            Ok(future) => future,
            Err(payload) => return Ended::Panicked(payload),
        };
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Ready(outcome)) if outcome.failed() => Poll::Ready(Ended::Failed(outcome)),
                Ok(Poll::Ready(outcome)) => Poll::Ready(Ended::Done(outcome)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Ended::Panicked(payload)),
            }
        })
        .await
    }

    /// The result, as it would have been without fail-safe: a panic
    /// unwinds on.
    pub(crate) fn resume(self) -> O {
        match self {
            Ended::Done(outcome) | Ended::Failed(outcome) => outcome,
            Ended::Panicked(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// What went wrong, for the log line.
    pub(crate) fn describe(&self) -> String {
        match self {
            Ended::Done(_) => "it did not".to_owned(),
            Ended::Failed(_) => "it returned an error".to_owned(),
            Ended::Panicked(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a panic");
                format!("it panicked: {message}")
            }
        }
    }
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// The stale value the throttle serves for `key`, if any.
    pub(super) fn throttled<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        let (_, throttle) = self.fail_safe()?;
        throttle.get(key)
    }

    /// After a failed computation: a value of `key` that expired less than
    /// `max_stale` ago ([`stale_value`](Self::stale_value)). It is kept in
    /// the throttle, and the failure logged.
    pub(super) async fn stale_for<R: Reach, T: Cacheable>(
        &self,
        reach: &R,
        tier: Option<&Tier>,
        key: &str,
        cause: String,
    ) -> Option<Arc<T>> {
        let (_, throttle) = self.fail_safe()?;
        let value = self.stale_value::<R, T>(reach, tier, key).await?;
        throttle.insert(key, value.clone() as Shared);
        tracing::warn!(
            namespace = self.namespace(),
            redis_key = key,
            cause,
            "memocache: the computation failed; serving a stale value, without running it again \
             for the fail-safe throttle period"
        );
        Some(value)
    }

    /// With fail-safe, a value of `key` that expired less than `max_stale`
    /// ago: the local tier's copy, else the store's stale copy; none while
    /// a removal of the key waits.
    pub(super) async fn stale_value<R: Reach, T: Cacheable>(
        &self,
        reach: &R,
        tier: Option<&Tier>,
        key: &str,
    ) -> Option<Arc<T>> {
        self.fail_safe()?;
        if self.removals().hides(key) {
            return None;
        }
        let local = tier
            .and_then(|tier| tier.stale(key))
            .and_then(|value| value.downcast::<T>().ok());
        if local.is_some() {
            return local;
        }
        let stale = stale_key(key);
        let read = self
            .attempt(reach, R::CALL, Op::Read, &stale, |timeout| {
                reach.read(&stale, crate::ReadOptions::new().timeout(timeout))
            })
            .await
            .ok();
        match self.decode_read::<T>(R::CALL, &stale, read) {
            Read::Hit(value, _) => Some(value),
            Read::Miss { .. } => None,
        }
    }

    /// Serves a stale value: to the flight's waiters (through `lander`),
    /// and as the call's result.
    pub(super) fn serve_stale<O: Outcome>(
        &self,
        lander: Option<Lander>,
        value: Arc<O::Value>,
    ) -> O {
        Counters::bump(&self.counters().stale_served);
        if let Some(lander) = lander {
            lander.stale(value.clone());
        }
        let value = Arc::try_unwrap(value).unwrap_or_else(|shared| (*shared).clone());
        O::from_cached(value)
    }

    /// With fail-safe, writes the stale copy of an entry just written at
    /// `key` with `expire`: the same bytes, living `max_stale` longer.
    pub(super) async fn write_stale<R: Reach>(
        &self,
        reach: &R,
        controller: &'static str,
        key: &str,
        bytes: bytes::Bytes,
        expire: Option<Duration>,
    ) {
        let Some((max_stale, throttle)) = self.fail_safe() else {
            return;
        };
        throttle.forget(key);
        let Some(expire) = expire else {
            return;
        };
        let stale = stale_key(key);
        let options = WriteOptions::new().expire(Some(expire.saturating_add(max_stale)));
        // A failure is logged; the entry itself was written.
        let _ = self
            .attempt(reach, controller, Op::Write, &stale, |timeout| {
                reach.write(&stale, bytes, None, options.timeout(timeout))
            })
            .await;
    }
}
