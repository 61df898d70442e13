//! What a memoizer reports through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): its calls by outcome, its store operations'
//! durations, errors and timeouts, its view of the breaker, its local
//! tier and its waits on distributed locks, each labelled by namespace
//! (never by key).
//!
//! Every handle is registered once, when the memoizer is built: a call
//! only bumps a counter it holds, so with no recorder installed (the
//! facade's no-op handles) a hit costs a branch, and with one an atomic
//! add. A recorder installed after a memoizer was built does not see it.
//! Without the feature, [`Instruments`] records nothing and costs
//! nothing.

#[cfg(feature = "metrics")]
pub(crate) use on::{Instruments, TierInstruments};

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{Instruments, TierInstruments};

/// The metrics' names, as the README lists them.
pub mod names {
    /// Calls, by `outcome`: a counter.
    pub const CALLS: &str = "memocache_calls_total";
    /// Store operations' durations in seconds, by `db.system.name` and
    /// `db.operation.name`: a histogram (OpenTelemetry's name).
    pub const OPERATION_DURATION: &str = "db.client.operation.duration";
    /// Store operations that failed, by `kind` (`error`, `timeout`,
    /// `breaker_open`): a counter.
    pub const STORE_ERRORS: &str = "memocache_store_errors_total";
    /// The breaker's state as this memoizer last saw it: 0 closed, 1 half
    /// open, 2 open. A gauge.
    pub const BREAKER_STATE: &str = "memocache_breaker_state";
    /// The breaker's changes of state, by the state `to`: a counter.
    pub const BREAKER_TRANSITIONS: &str = "memocache_breaker_transitions_total";
    /// The local tier's copies: a gauge.
    pub const TIER_ENTRIES: &str = "memocache_tier_entries";
    /// The local tier's size in bytes, as its bound counts them: a gauge.
    pub const TIER_BYTES: &str = "memocache_tier_bytes";
    /// Copies the local tier dropped on a change report: a counter.
    pub const TIER_INVALIDATIONS: &str = "memocache_tier_invalidations_total";
    /// Times the local tier dropped every copy: a counter.
    pub const TIER_FLUSHES: &str = "memocache_tier_flushes_total";
    /// Calls that found an entry's distributed lock held and waited: a
    /// counter.
    pub const LOCK_WAITS: &str = "memocache_lock_waits_total";
    /// How long those calls waited, in seconds: a histogram.
    pub const LOCK_WAIT_DURATION: &str = "memocache_lock_wait_duration_seconds";
}

#[cfg(feature = "metrics")]
mod on {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::time::Instant;

    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    use super::names;
    use crate::breaker::BreakerState;
    use crate::engine::{Failure, OUTCOMES, Op};

    /// A memoizer's handles.
    pub(crate) struct Instruments {
        namespace: String,
        /// Off: every handle is the facade's no-op one.
        on: bool,
        calls: [Counter; OUTCOMES.len()],
        operations: [Histogram; Op::ALL.len()],
        failures: [Counter; Failure::ALL.len()],
        breaker_state: Gauge,
        /// The state last recorded, as [`breaker_value`] numbers it.
        breaker_seen: AtomicU8,
        transitions: [Counter; 3],
        lock_waits: Counter,
        lock_wait: Histogram,
    }

    /// Gives the current recorder each metric's unit and description (a
    /// Prometheus exporter prints them as `# HELP`).
    fn describe() {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_counter!(names::CALLS, Unit::Count, "memoized calls, by outcome");
        describe_histogram!(
            names::OPERATION_DURATION,
            Unit::Seconds,
            "duration of the cache store's operations"
        );
        describe_counter!(
            names::STORE_ERRORS,
            Unit::Count,
            "cache store operations that failed (error, timeout) or were skipped (breaker_open)"
        );
        describe_gauge!(
            names::BREAKER_STATE,
            "the store's circuit breaker as last seen: 0 closed, 1 half open, 2 open"
        );
        describe_counter!(
            names::BREAKER_TRANSITIONS,
            Unit::Count,
            "the circuit breaker's changes of state, by the state entered"
        );
        describe_gauge!(names::TIER_ENTRIES, Unit::Count, "copies in the local tier");
        describe_gauge!(names::TIER_BYTES, Unit::Bytes, "the local tier's size");
        describe_counter!(
            names::TIER_INVALIDATIONS,
            Unit::Count,
            "local copies dropped on a change report"
        );
        describe_counter!(
            names::TIER_FLUSHES,
            Unit::Count,
            "times the local tier was flushed"
        );
        describe_counter!(
            names::LOCK_WAITS,
            Unit::Count,
            "calls that waited for another process's computation (distributed_lock)"
        );
        describe_histogram!(
            names::LOCK_WAIT_DURATION,
            Unit::Seconds,
            "how long calls waited for another process's computation"
        );
    }

    /// The number a state is recorded as.
    fn breaker_value(state: BreakerState) -> u8 {
        match state {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    impl Instruments {
        /// The handles of the memoizer of `namespace` over a store of the
        /// database `system`; the facade's no-op ones unless `on`.
        pub(crate) fn new(namespace: &str, system: &'static str, on: bool) -> Self {
            if on {
                describe();
            }
            let ns = || namespace.to_owned();
            let counter = |make: &dyn Fn() -> Counter| if on { make() } else { Counter::noop() };
            Instruments {
                namespace: namespace.to_owned(),
                on,
                calls: OUTCOMES.map(|outcome| {
                    counter(&|| counter!(names::CALLS, "namespace" => ns(), "outcome" => outcome))
                }),
                operations: Op::ALL.map(|op| {
                    if !on {
                        return Histogram::noop();
                    }
                    histogram!(
                        names::OPERATION_DURATION,
                        "db.system.name" => system,
                        "db.operation.name" => op.name(),
                        "namespace" => ns()
                    )
                }),
                failures: Failure::ALL.map(|failure| {
                    counter(&|| {
                        counter!(names::STORE_ERRORS, "namespace" => ns(), "kind" => failure.name())
                    })
                }),
                breaker_state: if on {
                    gauge!(names::BREAKER_STATE, "namespace" => ns())
                } else {
                    Gauge::noop()
                },
                breaker_seen: AtomicU8::new(0),
                transitions: ["closed", "half_open", "open"].map(|to| {
                    counter(&|| counter!(names::BREAKER_TRANSITIONS, "namespace" => ns(), "to" => to))
                }),
                lock_waits: counter(&|| counter!(names::LOCK_WAITS, "namespace" => ns())),
                lock_wait: if on {
                    histogram!(names::LOCK_WAIT_DURATION, "namespace" => ns())
                } else {
                    Histogram::noop()
                },
            }
        }

        /// The handles of the memoizer's local tier.
        pub(crate) fn tier(&self) -> TierInstruments {
            TierInstruments::new(&self.namespace, self.on)
        }

        /// A call ended with `outcome` (an index into [`OUTCOMES`]).
        #[inline]
        pub(crate) fn call(&self, outcome: usize) {
            self.calls[outcome].increment(1);
        }

        /// When a store operation begins, if its duration is recorded.
        #[inline]
        pub(crate) fn start(&self) -> Option<Instant> {
            self.on.then(Instant::now)
        }

        /// A store operation of kind `op` that began at `started` ended.
        pub(crate) fn operation(&self, op: Op, started: Option<Instant>) {
            if let Some(started) = started {
                self.operations[op as usize].record(started.elapsed().as_secs_f64());
            }
        }

        /// A store operation failed (or was skipped) as `failure` says.
        pub(crate) fn failure(&self, failure: Failure) {
            self.failures[failure as usize].increment(1);
        }

        /// The breaker is in the `state` it answers now (asked only when
        /// on).
        pub(crate) fn breaker(&self, state: impl FnOnce() -> BreakerState) {
            if !self.on {
                return;
            }
            let value = breaker_value(state());
            let before = self.breaker_seen.swap(value, Ordering::Relaxed);
            if before != value {
                self.breaker_state.set(f64::from(value));
                self.transitions[usize::from(value)].increment(1);
            }
        }

        /// A call waited on a distributed lock this long.
        pub(crate) fn lock_wait(&self, started: Instant) {
            self.lock_waits.increment(1);
            self.lock_wait.record(started.elapsed().as_secs_f64());
        }
    }

    /// A local tier's handles.
    pub(crate) struct TierInstruments {
        /// Off: every handle is the facade's no-op one.
        on: bool,
        entries: Gauge,
        bytes: Gauge,
        invalidations: Counter,
        flushes: Counter,
    }

    /// The facade's no-op handles.
    impl Default for TierInstruments {
        fn default() -> Self {
            TierInstruments {
                on: false,
                entries: Gauge::noop(),
                bytes: Gauge::noop(),
                invalidations: Counter::noop(),
                flushes: Counter::noop(),
            }
        }
    }

    impl TierInstruments {
        fn new(namespace: &str, on: bool) -> Self {
            let ns = || namespace.to_owned();
            if !on {
                return TierInstruments::default();
            }
            TierInstruments {
                on: true,
                entries: gauge!(names::TIER_ENTRIES, "namespace" => ns()),
                bytes: gauge!(names::TIER_BYTES, "namespace" => ns()),
                invalidations: counter!(names::TIER_INVALIDATIONS, "namespace" => ns()),
                flushes: counter!(names::TIER_FLUSHES, "namespace" => ns()),
            }
        }

        /// The tier holds the copies, and weighs the bytes, that `size`
        /// answers (asked only when on).
        pub(crate) fn size(&self, size: impl FnOnce() -> (u64, u64)) {
            if !self.on {
                return;
            }
            let (entries, bytes) = size();
            self.entries.set(entries as f64);
            self.bytes.set(bytes as f64);
        }

        /// A change report dropped a copy.
        pub(crate) fn invalidated(&self) {
            self.invalidations.increment(1);
        }

        /// Every copy was dropped.
        pub(crate) fn flushed(&self) {
            self.flushes.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Instant;

    use crate::breaker::BreakerState;
    use crate::engine::{Failure, Op};

    /// Without the `metrics` feature: records nothing.
    pub(crate) struct Instruments;

    impl Instruments {
        pub(crate) fn new(_: &str, _: &'static str, _: bool) -> Self {
            Instruments
        }

        pub(crate) fn tier(&self) -> TierInstruments {
            TierInstruments
        }

        #[inline]
        pub(crate) fn call(&self, _: usize) {}

        #[inline]
        pub(crate) fn start(&self) -> Option<Instant> {
            None
        }

        #[inline]
        pub(crate) fn operation(&self, _: Op, _: Option<Instant>) {}

        #[inline]
        pub(crate) fn failure(&self, _: Failure) {}

        #[inline]
        pub(crate) fn breaker(&self, _: impl FnOnce() -> BreakerState) {}

        #[inline]
        pub(crate) fn lock_wait(&self, _: Instant) {}
    }

    /// Without the `metrics` feature: records nothing.
    pub(crate) struct TierInstruments;

    impl TierInstruments {
        #[inline]
        pub(crate) fn size(&self, _: impl FnOnce() -> (u64, u64)) {}

        #[inline]
        pub(crate) fn invalidated(&self) {}

        #[inline]
        pub(crate) fn flushed(&self) {}
    }
}
