//! The circuit breaker: after consecutive store failures, stop calling the
//! store for a cool-down, then let one probe through.
//!
//! While it is open, calls cost their function's time only, and nothing is
//! logged per call: each transition is logged once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The breaker's state, as [`Stats`](crate::Stats) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// The store is called.
    Closed,
    /// The store is skipped until the cool-down ends.
    Open,
    /// One probe is in flight; other calls skip the store until it answers.
    HalfOpen,
}

/// When the breaker opens and for how long.
///
/// ```
/// use memocache::health::BreakerPolicy;
/// use std::time::Duration;
///
/// let policy = BreakerPolicy::new()
///     .failure_threshold(3)
///     .cool_down(Duration::from_millis(500));
/// assert_eq!(policy.failure_threshold, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// Consecutive failures (errors or timeouts) that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

impl BreakerPolicy {
    /// The default policy: see [`Default`](#impl-Default-for-BreakerPolicy).
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`BreakerPolicy::failure_threshold`]; at least 1.
    #[must_use]
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// See [`BreakerPolicy::cool_down`].
    #[must_use]
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }
}

impl Default for BreakerPolicy {
    /// Opens after 5 consecutive failures, probes after 1 s.
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 5,
            cool_down: Duration::from_secs(1),
        }
    }
}

pub(crate) struct Breaker {
    policy: Option<BreakerPolicy>,
    state: Mutex<Inner>,
    /// Closed with no failure counted: the common case, in which `allow`
    /// and `success` have nothing to do and skip the lock. Written only
    /// under the lock.
    quiet: AtomicBool,
}

struct Inner {
    state: BreakerState,
    failures: u32,
    opened_at: Option<Instant>,
}

impl Breaker {
    /// A breaker with `policy`, or one that never opens with `None`.
    pub(crate) fn new(policy: Option<BreakerPolicy>) -> Self {
        Breaker {
            policy,
            state: Mutex::new(Inner {
                state: BreakerState::Closed,
                failures: 0,
                opened_at: None,
            }),
            quiet: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn state(&self) -> BreakerState {
        // Quiet is closed (with no failure counted): no lock to take.
        if self.quiet.load(Ordering::Acquire) {
            return BreakerState::Closed;
        }
        self.lock().state
    }

    pub(crate) fn policy(&self) -> Option<BreakerPolicy> {
        self.policy
    }

    /// Whether this call may use the store. In the half-open state exactly
    /// one caller (the probe) is let through.
    pub(crate) fn allow(&self, backend: &'static str) -> bool {
        let Some(policy) = self.policy else {
            return true;
        };
        if self.quiet.load(Ordering::Acquire) {
            return true;
        }
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen => false,
            BreakerState::Open => {
                if inner
                    .opened_at
                    .is_some_and(|t| t.elapsed() >= policy.cool_down)
                {
                    inner.state = BreakerState::HalfOpen;
                    tracing::info!(
                        backend,
                        "memocache: circuit breaker half-open, probing the store"
                    );
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records a store operation that worked.
    pub(crate) fn success(&self, backend: &'static str) {
        if self.policy.is_none() || self.quiet.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.lock();
        inner.failures = 0;
        self.quiet.store(true, Ordering::Release);
        if inner.state != BreakerState::Closed {
            inner.state = BreakerState::Closed;
            inner.opened_at = None;
            tracing::info!(
                backend,
                "memocache: circuit breaker closed, the store answers again"
            );
        }
    }

    /// Records a store operation that failed or timed out.
    pub(crate) fn failure(&self, backend: &'static str) {
        let Some(policy) = self.policy else {
            return;
        };
        let mut inner = self.lock();
        self.quiet.store(false, Ordering::Release);
        inner.failures = inner.failures.saturating_add(1);
        let open = match inner.state {
            BreakerState::Closed => inner.failures >= policy.failure_threshold,
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
        };
        if open {
            inner.state = BreakerState::Open;
            inner.opened_at = Some(Instant::now());
            tracing::warn!(
                backend,
                failures = inner.failures,
                cool_down_ms = u64::try_from(policy.cool_down.as_millis()).unwrap_or(u64::MAX),
                "memocache: circuit breaker open, calls skip the store"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let b = Breaker::new(Some(BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_millis(50),
        }));
        for _ in 0..2 {
            assert!(b.allow("t"));
            b.failure("t");
        }
        b.success("t"); // a success resets the count
        for _ in 0..3 {
            assert!(b.allow("t"));
            b.failure("t");
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow("t"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow("t"), "the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow("t"), "only one probe");
        b.failure("t");
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow("t"));
        b.success("t");
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow("t"));
    }

    #[test]
    fn without_a_policy_it_never_opens() {
        let b = Breaker::new(None);
        for _ in 0..100 {
            b.failure("t");
        }
        assert!(b.allow("t"));
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
