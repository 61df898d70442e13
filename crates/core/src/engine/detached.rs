//! Computations that outlive their call: refresh-ahead, and the soft and
//! hard computation timeouts.
//!
//! Both need the computation to run on its own: a refresh runs while the
//! call that started it returns its hit, and a timed-out computation goes
//! on after its caller got a stale value or the timeout's error, and
//! updates the entry when it ends. So they apply to the `_owned` entry
//! points, whose computation owns what it uses (`Send + 'static`): the
//! async ones run it in a task of the current tokio runtime ([`Tasks`]),
//! the blocking ones on a thread of its own ([`Threads`]). The other entry
//! points ([`Plain`]) run the computation in the call, as always, and say
//! once that these settings do not apply to them.
//!
//! A refresh writes only if no removal of the key (`invalidate`,
//! `clear_namespace`) began since it started: it leads the key's flight
//! for its write, which `invalidate` waits for, and checks the removals'
//! epoch once it leads, which `invalidate` and `clear_namespace` bump
//! before they wait. So a removal racing a refresh always wins.

use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use super::{Async, Blocking, Encoded, Ended, Outcome, Path, Pending, Reach, block_on};
use crate::error::Elapsed;
use crate::flight::{Lander, Leader, Role};
use crate::memoizer::Memoizer;
use crate::stats::Counters;
use crate::store::{BlockingStore, Store};
use crate::tier::{Invalidations, Tier};
use crate::{Codec, KeyHasher};

/// What a call can do with a computation beyond running it in the call.
pub(crate) trait Detach<S, C, H, O, F> {
    /// Starts a refresh of `key` with `compute` in the background, unless
    /// one runs already; answers whether it started one.
    fn refresh<R: Reach>(&self, memo: &Memoizer<S, C, H>, reach: &R, key: &str, compute: F)
    -> bool;

    /// After a miss: starts `compute` on its own (see [`Started`]), when
    /// the soft or hard timeout is set; or hands it back to be run in the
    /// call.
    fn start(
        &self,
        memo: &Memoizer<S, C, H>,
        key: &str,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> Result<Started<O>, (Option<Leader>, F)>;
}

/// A boxed future that can be awaited from any task.
type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A miss whose computation runs on its own.
pub(crate) struct Started<O> {
    /// Lands the flight the computation leads.
    pub(super) lander: Option<Lander>,
    /// Its result (a panic as its payload).
    pub(super) running: Boxed<std::thread::Result<(O, Path)>>,
    /// A timer where the computation runs.
    pub(super) sleep: fn(Duration) -> Boxed<()>,
}

/// The entry points whose computation runs in the call.
pub(crate) struct Plain;

impl<S, C: Codec, H: KeyHasher, O, F> Detach<S, C, H, O, F> for Plain {
    fn refresh<R: Reach>(&self, memo: &Memoizer<S, C, H>, _: &R, _: &str, _: F) -> bool {
        memo.warn_not_owned("refresh_ahead");
        false
    }

    fn start(
        &self,
        memo: &Memoizer<S, C, H>,
        _: &str,
        leader: Option<Leader>,
        _: bool,
        compute: F,
    ) -> Result<Started<O>, (Option<Leader>, F)> {
        if memo.soft_timeout().is_some() || memo.hard_timeout().is_some() {
            memo.warn_not_owned("soft_timeout and hard_timeout");
        }
        Err((leader, compute))
    }
}

/// Where the `_owned` entry points run a computation on its own.
pub(crate) trait Background<S, C, H> {
    /// Whether it can now (an async caller outside a tokio runtime cannot).
    fn available() -> bool;

    /// Runs a refresh of `key` on its own; `done` ends with it.
    fn refresh<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        compute: F,
        done: Refreshing<S, C, H>,
    ) where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static;

    /// Runs the miss of `key` ([`Memoizer::miss`]) on its own; its result
    /// arrives through the future returned (a panic as its payload).
    fn miss<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> Boxed<std::thread::Result<(O, Path)>>
    where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static;

    /// Ends after `after`.
    fn sleep(after: Duration) -> Boxed<()>;
}

/// Tasks of the current tokio runtime, for the async `_owned` entry points.
pub(crate) struct Tasks;

impl<S: Store + 'static, C: Codec, H: KeyHasher> Background<S, C, H> for Tasks {
    fn available() -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }

    fn refresh<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        compute: F,
        done: Refreshing<S, C, H>,
    ) where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        tokio::spawn(async move {
            memo.refresh_entry(&Async::new(&memo), &key, done.epoch, compute)
                .await;
            drop(done);
        });
    }

    fn miss<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> Boxed<std::thread::Result<(O, Path)>>
    where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        let job = memo.background_job();
        let task = tokio::spawn(async move {
            let _job = job;
            let reach = Async::new(&memo);
            let tier = memo.tier_for(&reach);
            memo.miss(&reach, tier, &key, leader, store_ok, compute)
                .await
        });
        Box::pin(async move {
            task.await.map_err(|e| match e.try_into_panic() {
                Ok(payload) => payload,
                Err(_) => Box::new("the computation's task was cancelled"),
            })
        })
    }

    fn sleep(after: Duration) -> Boxed<()> {
        Box::pin(tokio::time::sleep(after))
    }
}

/// Threads of their own, for the blocking `_owned` entry points.
pub(crate) struct Threads;

impl<S: BlockingStore + 'static, C: Codec, H: KeyHasher> Background<S, C, H> for Threads {
    fn available() -> bool {
        true
    }

    fn refresh<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        compute: F,
        done: Refreshing<S, C, H>,
    ) where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        std::thread::spawn(move || {
            block_on(memo.refresh_entry(&Blocking::new(&memo), &key, done.epoch, compute));
            drop(done);
        });
    }

    fn miss<O, F, Fut>(
        memo: Memoizer<S, C, H>,
        key: String,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> Boxed<std::thread::Result<(O, Path)>>
    where
        O: Outcome + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let job = memo.background_job();
        std::thread::spawn(move || {
            let _job = job;
            let missed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let reach = Blocking::new(&memo);
                let tier = memo.tier_for(&reach);
                block_on(memo.miss(&reach, tier, &key, leader, store_ok, compute))
            }));
            let _ = sender.send(missed);
        });
        Box::pin(async move {
            receiver
                .await
                .unwrap_or_else(|_| Err(Box::new("the computation's thread ended")))
        })
    }

    fn sleep(after: Duration) -> Boxed<()> {
        Box::pin(ThreadTimer::new(after))
    }
}

/// The `_owned` entry points: the computation can run on its own, in
/// `B`.
pub(crate) struct Owned<B>(PhantomData<B>);

impl<B> Owned<B> {
    pub(crate) fn new() -> Self {
        Owned(PhantomData)
    }
}

impl<S, C, H, O, F, Fut, B> Detach<S, C, H, O, F> for Owned<B>
where
    S: Send + Sync + 'static,
    C: Codec,
    H: KeyHasher,
    B: Background<S, C, H>,
    O: Outcome + Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = O> + Send + 'static,
{
    fn refresh<R: Reach>(&self, memo: &Memoizer<S, C, H>, _: &R, key: &str, compute: F) -> bool {
        if !B::available() {
            return false;
        }
        let Some(done) = Refreshing::start(memo, key) else {
            return false;
        };
        Counters::bump(&memo.counters().refreshes);
        B::refresh(memo.clone(), key.to_owned(), compute, done);
        true
    }

    fn start(
        &self,
        memo: &Memoizer<S, C, H>,
        key: &str,
        leader: Option<Leader>,
        store_ok: bool,
        compute: F,
    ) -> Result<Started<O>, (Option<Leader>, F)> {
        if (memo.soft_timeout().is_none() && memo.hard_timeout().is_none()) || !B::available() {
            return Err((leader, compute));
        }
        Ok(Started {
            lander: leader.as_ref().map(Leader::lander),
            running: B::miss(memo.clone(), key.to_owned(), leader, store_ok, compute),
            sleep: B::sleep,
        })
    }
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// Waits for a computation started on its own, up to the soft timeout
    /// (then a stale value, if there is one, is served) and the hard
    /// timeout (then a stale value, or the timeout's error where the kind
    /// of call can return one); the computation goes on regardless.
    pub(super) async fn bounded<R: Reach, O: Outcome>(
        &self,
        reach: &R,
        tier: Option<&Tier>,
        key: &str,
        started: Started<O>,
    ) -> (O, Path) {
        let Started {
            lander,
            mut running,
            sleep,
        } = started;
        let soft = self.soft_timeout();
        if let Some(soft) = soft {
            if let Some(done) = before(&mut running, sleep(soft)).await {
                return finished(done);
            }
            if let Some(value) = self.stale_value::<R, O::Value>(reach, tier, key).await {
                Counters::bump(&self.counters().soft_timeouts);
                return (self.serve_stale(lander, value), Path::SoftTimeout);
            }
        }
        if let Some(hard) = self.hard_timeout() {
            let left = hard.saturating_sub(soft.unwrap_or_default());
            if let Some(done) = before(&mut running, sleep(left)).await {
                return finished(done);
            }
            Counters::bump(&self.counters().hard_timeouts);
            if let Some(value) = self.stale_value::<R, O::Value>(reach, tier, key).await {
                return (self.serve_stale(lander, value), Path::HardTimeout);
            }
            if let Some(outcome) = O::elapsed(Elapsed::new(hard)) {
                if let Some(lander) = lander {
                    lander.elapsed(hard);
                }
                return (outcome, Path::HardTimeout);
            }
        }
        finished(running.await)
    }
}

/// A computation's result, or its panic resumed in the caller.
fn finished<O>(done: std::thread::Result<(O, Path)>) -> (O, Path) {
    done.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// `work`'s output if it ends before `deadline`, else `None` (`work` is
/// left as it is, to be waited for again).
async fn before<W: Future + Unpin>(
    work: &mut W,
    deadline: impl Future<Output = ()>,
) -> Option<W::Output> {
    let mut deadline = pin!(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = Pin::new(&mut *work).poll(cx) {
            return Poll::Ready(Some(output));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// The keys being refreshed now, at most one refresh each.
#[derive(Default)]
pub(crate) struct Refreshes(Mutex<HashSet<Arc<str>>>);

/// A refresh under way: its key leaves [`Refreshes`] when it is dropped,
/// and [`Memoizer::flush`] waits for it until then.
pub(crate) struct Refreshing<S, C, H> {
    memo: Memoizer<S, C, H>,
    key: Arc<str>,
    /// The removals' epoch when the hit started the refresh: a removal
    /// begun since wins.
    epoch: u64,
    _job: Pending,
}

impl<S, C, H> Refreshing<S, C, H> {
    /// Marks `key` as refreshing, unless it is already.
    fn start(memo: &Memoizer<S, C, H>, key: &str) -> Option<Self> {
        let key: Arc<str> = Arc::from(key);
        let mut keys = memo
            .refreshes()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        keys.insert(Arc::clone(&key)).then(|| Refreshing {
            memo: memo.clone(),
            key,
            epoch: memo.removals().epoch(),
            _job: memo.background_job(),
        })
    }
}

impl<S, C, H> Drop for Refreshing<S, C, H> {
    fn drop(&mut self) {
        let mut keys = self
            .memo
            .refreshes()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        keys.remove(&self.key);
    }
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// A refresh ahead of `key`'s expiry: computes, and writes the result
    /// unless a removal began since the hit that started it (the removals'
    /// `epoch` then), or a call is computing the key now; then drops the
    /// local copy, which the next read replaces.
    async fn refresh_entry<R, O, F, Fut>(&self, reach: &R, key: &str, epoch: u64, compute: F)
    where
        R: Reach,
        O: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let outcome = match Ended::of(compute).await {
            Ended::Done(outcome) => outcome,
            failed => {
                tracing::warn!(
                    namespace = self.namespace(),
                    redis_key = key,
                    cause = failed.describe(),
                    "memocache: a refresh ahead failed; the entry stays until it expires"
                );
                return;
            }
        };
        let Some(Encoded {
            bytes,
            decoded,
            expire,
        }) = self.settle(reach, key, None, &outcome)
        else {
            return;
        };
        let Role::Leader(leader) = self.flights().join(key) else {
            return;
        };
        let _pending = self.pending_write();
        if self.removals().epoch() != epoch {
            return;
        }
        self.write_entry(reach, R::CALL, key, bytes, decoded, expire)
            .await;
        if let Some(tier) = self.tier_for(reach) {
            tier.changed(key);
        }
        if let Some(value) = outcome.cacheable() {
            leader.share(Arc::new(value.clone()));
        }
    }

    /// Whether a hit on `value`, whose entry has `left()` to live, is past
    /// the refresh-ahead fraction of its life.
    pub(super) fn refresh_due(
        &self,
        value: &dyn std::any::Any,
        left: impl FnOnce() -> Option<Duration>,
    ) -> bool {
        let Some(fraction) = self.refresh_ahead() else {
            return false;
        };
        let (Some(life), Some(left)) = (self.expire_for(value), left()) else {
            return false;
        };
        left.as_secs_f64() < life.as_secs_f64() * (1.0 - fraction)
    }
}

/// A timer for the blocking path, which has no runtime: a thread that
/// sleeps, then wakes the waiting call.
struct ThreadTimer {
    after: Duration,
    state: Option<Arc<TimerState>>,
}

#[derive(Default)]
struct TimerState {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ThreadTimer {
    fn new(after: Duration) -> Self {
        ThreadTimer { after, state: None }
    }
}

impl Future for ThreadTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let after = self.after;
        let state = self.state.get_or_insert_with(|| {
            let state = Arc::new(TimerState::default());
            let timer = Arc::clone(&state);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                timer.done.store(true, Ordering::Release);
                let waker = timer
                    .waker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            state
        });
        *state.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        if state.done.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
