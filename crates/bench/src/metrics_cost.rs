//! What the `metrics` feature costs a hit: the same memoizer's hits with
//! its metrics off (`MemoizerBuilder::metrics(false)`: the build's only
//! difference from one without the feature is a branch per call), on with
//! no recorder installed (the facade's no-op handles), and on with a
//! Prometheus recorder; on the memory store's hit path and on a local-tier
//! hit, small values, in the same rounds.

use memocache::{LocalTier, Memoizer, MemoryStore};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde::Serialize;

use crate::remote::args;
use crate::sampling::{median, nanos_per_op, paired_ratio, ratio_range, round_order};
use crate::schedule::Schedule;
use crate::value::{Order, Size};

/// One hit path's figures.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsCost {
    /// ns per hit, metrics off (median of rounds).
    pub off_ns: f64,
    /// ns per hit, metrics on, no recorder.
    pub noop_ns: f64,
    /// ns per hit, metrics on, a Prometheus recorder.
    pub prometheus_ns: f64,
    /// No recorder over off, the median of per-round ratios.
    pub noop_vs_off: f64,
    /// Its smallest and largest per-round ratio.
    pub noop_vs_off_range: Option<[f64; 2]>,
    /// The Prometheus recorder over off.
    pub prometheus_vs_off: f64,
    /// Its smallest and largest per-round ratio.
    pub prometheus_vs_off_range: Option<[f64; 2]>,
}

/// The memory store's hit and the local tier's.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsCosts {
    /// Hits of `MemoryStore::new()` (a read and a decode).
    pub memory_store: MetricsCost,
    /// Local-tier hits (a decoded copy cloned).
    pub tier: MetricsCost,
}

/// Measures both paths.
pub fn measure(schedule: &Schedule) -> MetricsCosts {
    MetricsCosts {
        memory_store: cost(schedule, false),
        tier: cost(schedule, true),
    }
}

/// The memoizer of a hit path, warmed: metrics on or off, with a tier or
/// not.
fn warm_memoizer(metrics: bool, tier: bool) -> Memoizer<MemoryStore> {
    let size = Size::Small;
    let order = Order::new(size);
    let mut builder = Memoizer::builder(MemoryStore::new())
        .namespace("bench:metrics")
        .metrics(metrics);
    if tier {
        builder = builder.local_tier(LocalTier::bytes(64 << 20));
    }
    let memo = builder.build();
    // The miss writes; with a tier, the next read keeps the copy.
    for _ in 0..2 {
        let _: Order = memo.call_blocking(&args(0, size), || order.clone());
    }
    memo
}

/// What `MEMOCACHE_BENCH_METRICS_HITS` asks (`MODE:PATH:N`, MODE `off`,
/// `noop` or `prometheus`, PATH `tier` or `memory`): `N` hits of that
/// memoizer and nothing else, for an instruction count under
/// `valgrind --tool=callgrind` (two counts with different `N` give the
/// instructions of one hit, whatever the machine is doing).
pub fn hits_only(spec: &str) {
    let mut parts = spec.split(':');
    let (mode, path, n) = (parts.next(), parts.next(), parts.next());
    let tier = path == Some("tier");
    let n: usize = n.and_then(|n| n.parse().ok()).expect("MODE:PATH:N");
    let prometheus = PrometheusBuilder::new().build_recorder();
    let memo = match mode {
        Some("off") => warm_memoizer(false, tier),
        Some("noop") => warm_memoizer(true, tier),
        Some("prometheus") => {
            metrics::with_local_recorder(&prometheus, || warm_memoizer(true, tier))
        }
        _ => panic!("MODE is off, noop or prometheus"),
    };
    let order = Order::new(Size::Small);
    for _ in 0..n {
        let value: Order = memo.call_blocking(&args(0, Size::Small), || order.clone());
        std::hint::black_box(value);
    }
}

fn cost(schedule: &Schedule, tier: bool) -> MetricsCost {
    let size = Size::Small;
    let order = Order::new(size);
    let memoizer = |metrics: bool| warm_memoizer(metrics, tier);
    let prometheus = PrometheusBuilder::new().build_recorder();
    let subjects = [
        memoizer(false),
        memoizer(true),
        metrics::with_local_recorder(&prometheus, || memoizer(true)),
    ];
    let mut hits: Vec<_> = subjects
        .into_iter()
        .map(|memo| {
            let order = order.clone();
            move || {
                let value: Order = memo.call_blocking(&args(0, size), || order.clone());
                std::hint::black_box(value);
            }
        })
        .collect();
    let batch = 200;
    for hit in &mut hits {
        nanos_per_op(schedule.warm_up / 2, batch, hit);
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); hits.len()];
    for round in 0..schedule.rounds {
        for s in round_order(round, hits.len()) {
            rounds[s].push(nanos_per_op(schedule.local_batch, batch, &mut hits[s]));
        }
    }
    let [off, noop, prometheus] = [&rounds[0], &rounds[1], &rounds[2]];
    MetricsCost {
        off_ns: median(off),
        noop_ns: median(noop),
        prometheus_ns: median(prometheus),
        noop_vs_off: paired_ratio(noop, off),
        noop_vs_off_range: ratio_range(noop, off),
        prometheus_vs_off: paired_ratio(prometheus, off),
        prometheus_vs_off_range: ratio_range(prometheus, off),
    }
}
