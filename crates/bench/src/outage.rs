//! Outage: a source (the database behind a cached function) that fails for
//! the middle part of the run, under concurrent callers over keys they
//! called before, whose entries expire during the outage; run with
//! fail-safe and without it, on the same server, for contrast.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memocache::{Args, Elapsed, Memoizer, RedisConfig, RedisStore};
use serde::Serialize;

/// Concurrent callers.
const CALLERS: usize = 32;
/// Keys, each called before the outage.
const KEYS: u64 = 100;
/// The entries' life: several expiries fit in the outage.
const EXPIRE: Duration = Duration::from_secs(1);
/// What a computation costs when the source is up.
const SOURCE_TIME: Duration = Duration::from_millis(2);

/// One run of the scenario.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OutageRun {
    /// Calls made.
    pub calls: u64,
    /// Calls that returned an error to their caller.
    pub errors: u64,
    /// Times the source was called (while it failed, and after).
    pub source_calls: u64,
    /// Of those, while it failed.
    pub source_calls_failing: u64,
    /// Calls answered with a stale value (`Stats::stale_served`).
    pub stale_served: u64,
}

/// The scenario with fail-safe on and off.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Outage {
    /// How long the source failed, in seconds, of the run's total.
    pub failing_seconds: f64,
    /// The whole run, in seconds.
    pub seconds: f64,
    /// With `fail_safe(60 s)` (default throttle, 30 s).
    pub fail_safe: OutageRun,
    /// The same without fail-safe.
    pub without_fail_safe: OutageRun,
}

/// The source's error.
#[derive(Debug)]
struct SourceDown;

impl From<Elapsed> for SourceDown {
    fn from(_: Elapsed) -> Self {
        SourceDown
    }
}

/// Runs the scenario against `url`: `phase` healthy, `2 × phase` failing,
/// `phase` healthy again.
pub async fn measure(url: &str, phase: Duration) -> Outage {
    let fail_safe = run(url, phase, true).await;
    let without_fail_safe = run(url, phase, false).await;
    Outage {
        failing_seconds: (2 * phase).as_secs_f64(),
        seconds: (4 * phase).as_secs_f64(),
        fail_safe,
        without_fail_safe,
    }
}

async fn run(url: &str, phase: Duration, with_fail_safe: bool) -> OutageRun {
    let store = RedisStore::connect(&RedisConfig::new().url(url))
        .await
        .expect("connect RedisStore");
    let builder = Memoizer::builder(store)
        .namespace(format!("bench:outage:{with_fail_safe}"))
        .expire(EXPIRE);
    let memo = if with_fail_safe {
        builder.fail_safe(Duration::from_secs(60)).build()
    } else {
        builder.build()
    };
    memo.clear_namespace().await.expect("clear the namespace");
    let down = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    for key in 0..KEYS {
        call(&memo, key, &down, &counters).await;
    }
    let start = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (memo, down, counters) = (memo.clone(), down.clone(), counters.clone());
            tokio::spawn(async move {
                let mut key = caller as u64;
                while start.elapsed() < 4 * phase {
                    key = (key * 31 + 7) % KEYS;
                    call(&memo, key, &down, &counters).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(phase).await;
    down.store(true, Ordering::SeqCst);
    tokio::time::sleep(2 * phase).await;
    down.store(false, Ordering::SeqCst);
    for caller in callers {
        caller.await.expect("a caller panicked");
    }
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    OutageRun {
        calls: get(&counters.calls),
        errors: get(&counters.errors),
        source_calls: get(&counters.source_calls),
        source_calls_failing: get(&counters.source_calls_failing),
        stale_served: memo.stats().stale_served,
    }
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    source_calls: AtomicU64,
    source_calls_failing: AtomicU64,
}

async fn call(
    memo: &Memoizer<RedisStore>,
    key: u64,
    down: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
) {
    let (down, source) = (down.clone(), counters.clone());
    let result: Result<u64, SourceDown> = memo
        .try_call_owned(&Args::new().arg(&key), move || async move {
            source.source_calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(SOURCE_TIME).await;
            if down.load(Ordering::SeqCst) {
                source.source_calls_failing.fetch_add(1, Ordering::Relaxed);
                Err(SourceDown)
            } else {
                Ok(key * 10)
            }
        })
        .await;
    counters.calls.fetch_add(1, Ordering::Relaxed);
    if result.is_err() {
        counters.errors.fetch_add(1, Ordering::Relaxed);
    }
}
