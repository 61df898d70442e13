//! The `memocache.call` span of one call, and how the call went: a
//! `debug` event (target `memocache`) at its end, inside the span, says
//! the outcome and the duration, so `RUST_LOG=memocache=debug` with a
//! plain `fmt` subscriber prints one line per call with the namespace and
//! the key.

use std::time::Instant;

use crate::instruments::Instruments;

/// How a call went, for its span and counters.
#[derive(Clone, Copy)]
pub(crate) enum Path {
    Local,
    Hit,
    Miss,
    Merged,
    Bypassed,
    /// A stale value served because the computation failed (fail-safe).
    Stale,
    /// A local hit that started a refresh ahead of the entry's expiry.
    LocalRefresh,
    /// A store hit that started a refresh ahead of the entry's expiry.
    HitRefresh,
    /// A stale value served at the soft timeout.
    SoftTimeout,
    /// A stale value or the error served at the hard timeout.
    HardTimeout,
    /// The entry another process computed while this call waited on its
    /// distributed lock.
    LockWait,
}

/// The `outcome` label of the calls' metric, by [`Path::outcome`].
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const OUTCOMES: [&str; 9] = [
    "local_hit",
    "hit",
    "miss",
    "merged",
    "bypassed",
    "stale",
    "soft_timeout",
    "hard_timeout",
    "lock_wait",
];

impl Path {
    /// The index of its label in [`OUTCOMES`]: a refresh started by a hit
    /// counts as that hit.
    fn outcome(self) -> usize {
        match self {
            Path::Local | Path::LocalRefresh => 0,
            Path::Hit | Path::HitRefresh => 1,
            Path::Miss => 2,
            Path::Merged => 3,
            Path::Bypassed => 4,
            Path::Stale => 5,
            Path::SoftTimeout => 6,
            Path::HardTimeout => 7,
            Path::LockWait => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Path::Local => "local",
            Path::Hit => "hit",
            Path::Miss => "miss",
            Path::Merged => "merged",
            Path::Bypassed => "bypassed",
            Path::Stale => "stale",
            Path::LocalRefresh => "local+refresh",
            Path::HitRefresh => "hit+refresh",
            Path::SoftTimeout => "soft_timeout",
            Path::HardTimeout => "hard_timeout",
            Path::LockWait => "lock_wait",
        }
    }
}

/// The `memocache.call` span of one call.
pub(crate) struct CallSpan<'a> {
    span: tracing::Span,
    /// When the call began; not read when no subscriber takes the span.
    start: Option<Instant>,
    /// Where the call's outcome is counted.
    instruments: &'a Instruments,
}

impl<'a> CallSpan<'a> {
    pub(crate) fn new(namespace: &str, instruments: &'a Instruments) -> Self {
        let span = tracing::debug_span!(
            target: "memocache",
            "memocache.call",
            namespace,
            key = tracing::field::Empty,
            outcome = tracing::field::Empty,
            micros = tracing::field::Empty
        );
        let start = (!span.is_disabled()).then(Instant::now);
        CallSpan {
            span,
            start,
            instruments,
        }
    }

    pub(crate) fn key(&self, key: &str) {
        self.span.record("key", key);
    }

    pub(crate) fn end(&self, path: Path) {
        self.instruments.call(path.outcome());
        let Some(start) = self.start else {
            return;
        };
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        // The event first: a fmt subscriber prints the span's fields with
        // it, which then need not repeat the outcome.
        tracing::debug!(
            target: "memocache",
            parent: &self.span,
            outcome = path.name(),
            micros,
            "call"
        );
        self.span.record("outcome", path.name());
        self.span.record("micros", micros);
    }
}
