//! The local tier under rewrites: 32 callers read Zipf(1.0)-distributed
//! keys out of 10,000 while another connection rewrites 1 % of the keys per
//! second with raw `SET`s in the reference's format. Measured: ops/s
//! without and with a local tier (over a tracked `RedisStore`), the
//! invalidation window of each write (from the writer's reply to the first
//! call served the new value, by a probe that reads the key it just
//! wrote), and the reads, with the tier, that returned a value older than
//! the latest write settled for [`WINDOW_GOAL`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memocache::codec::{Codec as _, JsonZlib};
use memocache::redis::redis_rs::{self as redis, aio::MultiplexedConnection};
use memocache::{Args, LocalTier, Memoizer, RedisConfig, RedisStore};
use serde::Serialize;

use crate::sampling::percentile;

const KEYS: usize = 10_000;
const CALLERS: usize = 32;
/// Writes per second: 1 % of the keys.
const WRITES_PER_SEC: u64 = 100;
/// A read older than a write settled this long is stale.
pub const WINDOW_GOAL: Duration = Duration::from_millis(50);
const NAMESPACE: &str = "bench:coherence";

/// What the mixed workload measured.
#[derive(Debug, Clone, Serialize)]
pub struct Coherence {
    /// Distinct keys read.
    pub keys: usize,
    /// Concurrent callers.
    pub callers: usize,
    /// Rewrites during both phases.
    pub writes: u64,
    /// Calls per second without a local tier.
    pub ops_per_sec_without_tier: f64,
    /// Calls per second with a local tier.
    pub ops_per_sec_with_tier: f64,
    /// Invalidation window, median (milliseconds).
    pub window_ms_p50: f64,
    /// Invalidation window, 99th percentile (milliseconds).
    pub window_ms_p99: f64,
    /// Invalidation window, longest (milliseconds).
    pub window_ms_max: f64,
    /// Reads checked against the writes.
    pub reads_checked: u64,
    /// Reads, with the tier, older than a write settled for
    /// [`WINDOW_GOAL`] (goal 0).
    pub stale_after_window: u64,
}

/// Each key's two latest writes: (version, when the reply came).
struct Versions(Vec<Mutex<[(u64, Instant); 2]>>);

impl Versions {
    fn new(start: Instant) -> Self {
        Versions((0..KEYS).map(|_| Mutex::new([(1, start); 2])).collect())
    }

    fn wrote(&self, key: usize, version: u64) {
        let mut latest = self.0[key].lock().expect("unpoisoned");
        latest[1] = latest[0];
        latest[0] = (version, Instant::now());
    }

    /// The version every read begun at `began` must see at least: the
    /// latest written `WINDOW_GOAL` before.
    fn settled(&self, key: usize, began: Instant) -> u64 {
        let latest = self.0[key].lock().expect("unpoisoned");
        latest
            .iter()
            .find(|(_, at)| *at + WINDOW_GOAL <= began)
            .map_or(1, |(version, _)| *version)
    }
}

/// Zipf(1.0) over `KEYS` ranks, drawn with a seeded xorshift generator.
struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(seed: u64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=KEYS)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        for p in &mut cdf {
            *p /= total;
        }
        Zipf {
            cdf,
            state: seed | 1,
        }
    }

    fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let u = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&p| p < u).min(KEYS - 1)
    }
}

fn args(key: usize) -> Args {
    Args::new().kwarg("key", &key)
}

/// Runs the workload on `url` for `phase` per measured phase.
pub async fn measure(url: &str, phase: Duration) -> Coherence {
    let config = RedisConfig::new().url(url);
    let plain = Memoizer::builder(RedisStore::connect(&config).await.expect("connect"))
        .namespace(NAMESPACE)
        .build();
    let tracked = RedisStore::connect(&config.clone().client_tracking(true))
        .await
        .expect("connect a tracked store");
    let tiered = Memoizer::builder(tracked)
        .namespace(NAMESPACE)
        .local_tier(LocalTier::bytes(256 << 20))
        .build();
    let keys: Arc<Vec<String>> = Arc::new(
        (0..KEYS)
            .map(|k| plain.key(&args(k)).expect("a key"))
            .collect(),
    );
    let client = redis::Client::open(url).expect("a valid url");
    let mut writer = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect the writer");
    for chunk in keys.chunks(1_000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("SET").arg(key).arg(encode(1)).ignore();
        }
        let () = pipe.query_async(&mut writer).await.expect("seed the keys");
    }
    let start = Instant::now();
    let versions = Arc::new(Versions::new(start));
    let next_version = Arc::new(AtomicU64::new(2));

    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(rewrite(
        writer,
        Arc::clone(&keys),
        Arc::clone(&versions),
        Arc::clone(&next_version),
        tiered.clone(),
        Arc::clone(&stop),
    ));
    let without = run_phase(&plain, phase, None).await;
    let with_tier = run_phase(&tiered, phase, Some(&versions)).await;
    stop.store(true, Ordering::SeqCst);
    let mut windows = writing.await.expect("the writer panicked");
    windows.sort_unstable();
    let ms = |micros: u64| micros as f64 / 1_000.0;
    Coherence {
        keys: KEYS,
        callers: CALLERS,
        writes: next_version.load(Ordering::SeqCst) - 2,
        ops_per_sec_without_tier: without.ops_per_sec,
        ops_per_sec_with_tier: with_tier.ops_per_sec,
        window_ms_p50: ms(percentile(&windows, 50.0)),
        window_ms_p99: ms(percentile(&windows, 99.0)),
        window_ms_max: ms(windows.last().copied().unwrap_or(0)),
        reads_checked: with_tier.checked,
        stale_after_window: with_tier.stale,
    }
}

fn encode(version: u64) -> Vec<u8> {
    JsonZlib::default()
        .encode(&version)
        .expect("a version encodes")
}

/// What one phase's callers did.
struct Phase {
    ops_per_sec: f64,
    checked: u64,
    stale: u64,
}

/// [`CALLERS`] callers reading Zipf keys through `memo` for `length`; with
/// `versions`, each read is checked against the writes.
async fn run_phase(
    memo: &Memoizer<RedisStore>,
    length: Duration,
    versions: Option<&Arc<Versions>>,
) -> Phase {
    let start = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let memo = memo.clone();
            let versions = versions.map(Arc::clone);
            tokio::spawn(async move {
                let mut zipf = Zipf::new(0x9e37_79b9_7f4a_7c15 ^ caller as u64);
                let (mut calls, mut checked, mut stale) = (0u64, 0u64, 0u64);
                while start.elapsed() < length {
                    let key = zipf.next();
                    let began = Instant::now();
                    let read: Result<u64, &str> =
                        memo.try_call(&args(key), || async { Err("missing") }).await;
                    calls += 1;
                    if let (Some(versions), Ok(seen)) = (&versions, read) {
                        checked += 1;
                        if seen < versions.settled(key, began) {
                            stale += 1;
                        }
                    }
                    // A local hit never waits: let the writer and the
                    // connection's push handling run, as a service's
                    // request loop would.
                    tokio::task::yield_now().await;
                }
                (calls, checked, stale)
            })
        })
        .collect();
    let (mut calls, mut checked, mut stale) = (0, 0, 0);
    for caller in callers {
        let (c, k, s) = caller.await.expect("a caller panicked");
        (calls, checked, stale) = (calls + c, checked + k, stale + s);
    }
    Phase {
        ops_per_sec: calls as f64 / start.elapsed().as_secs_f64(),
        checked,
        stale,
    }
}

/// Rewrites keys in turn (a stride through all of them, so a key is not
/// rewritten within a run) at [`WRITES_PER_SEC`] until `stop`; after each
/// write a probe calls through `memo` until it is served the new version.
/// Answers the windows, in microseconds.
async fn rewrite(
    mut writer: MultiplexedConnection,
    keys: Arc<Vec<String>>,
    versions: Arc<Versions>,
    next_version: Arc<AtomicU64>,
    memo: Memoizer<RedisStore>,
    stop: Arc<AtomicBool>,
) -> Vec<u64> {
    let mut windows = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / WRITES_PER_SEC));
    let mut key = 0;
    while !stop.load(Ordering::SeqCst) {
        ticks.tick().await;
        key = (key + 7_919) % KEYS;
        let version = next_version.fetch_add(1, Ordering::SeqCst);
        let () = redis::cmd("SET")
            .arg(&keys[key])
            .arg(encode(version))
            .query_async(&mut writer)
            .await
            .expect("rewrite a key");
        versions.wrote(key, version);
        let written = Instant::now();
        loop {
            let seen: Result<u64, &str> =
                memo.try_call(&args(key), || async { Err("missing") }).await;
            if seen == Ok(version) {
                break;
            }
            if written.elapsed() > Duration::from_secs(5) {
                break;
            }
            tokio::task::yield_now().await;
        }
        windows.push(u64::try_from(written.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    windows
}
