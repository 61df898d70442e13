//! How figures are taken: latency samples and their percentiles,
//! time-boxed throughput runs (async tasks, blocking loops), and rounds that
//! interleave a baseline with its subjects so drift on a noisy machine hits
//! them alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The future of one async operation under test.
pub type OpFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One async operation under test; its argument is the caller's index, which
/// picks the key that caller uses (callers never share a key, so
/// single-flight cannot merge their reads).
pub type AsyncOp = Arc<dyn Fn(usize) -> OpFuture + Send + Sync>;

/// One blocking operation under test.
pub type BlockingOp = Box<dyn FnMut() + Send>;

/// The value at percentile `p` (0 to 100) of `sorted` samples, by the
/// nearest-rank method; 0 for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (the mean of the middle two for an even count);
/// `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Per-operation latencies of a sequential caller.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Mean, microseconds.
    pub mean_us: f64,
    /// Sequential operations per second (1 / mean).
    pub ops_per_sec: f64,
    /// How many operations were timed.
    pub samples: usize,
    /// The median of each round's samples, microseconds (interleaved
    /// comparisons only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_p50_us: Vec<f64>,
}

impl Latency {
    /// Summarizes samples in nanoseconds.
    pub fn from_nanos(mut samples: Vec<u64>) -> Latency {
        samples.sort_unstable();
        let count = samples.len().max(1) as f64;
        let mean_ns = samples.iter().map(|&s| s as f64).sum::<f64>() / count;
        Latency {
            p50_us: percentile(&samples, 50.0) as f64 / 1e3,
            p99_us: percentile(&samples, 99.0) as f64 / 1e3,
            mean_us: mean_ns / 1e3,
            ops_per_sec: if mean_ns > 0.0 { 1e9 / mean_ns } else { 0.0 },
            samples: samples.len(),
            round_p50_us: Vec::new(),
        }
    }

    /// Summarizes rounds of samples in nanoseconds, pooled, keeping each
    /// round's median.
    pub fn from_rounds(rounds: Vec<Vec<u64>>) -> Latency {
        let round_p50_us = rounds
            .iter()
            .map(|round| {
                let mut sorted = round.clone();
                sorted.sort_unstable();
                percentile(&sorted, 50.0) as f64 / 1e3
            })
            .collect();
        Latency {
            round_p50_us,
            ..Latency::from_nanos(rounds.concat())
        }
    }
}

/// Throughput over several rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// The median of the rounds, operations per second.
    pub ops_per_sec: f64,
    /// Each round's figure, in run order.
    pub rounds: Vec<f64>,
}

impl Throughput {
    /// The median of `rounds`.
    pub fn from_rounds(rounds: Vec<f64>) -> Throughput {
        Throughput {
            ops_per_sec: median(&rounds),
            rounds,
        }
    }
}

/// Each round's `subject[i] / baseline[i]`, for rounds with a baseline.
fn round_ratios(subject: &[f64], baseline: &[f64]) -> Vec<f64> {
    subject
        .iter()
        .zip(baseline)
        .filter(|(_, b)| **b > 0.0)
        .map(|(s, b)| s / b)
        .collect()
}

/// The median over rounds of `subject[i] / baseline[i]`: each round's pair
/// ran back to back, so this cancels drift better than a ratio of medians.
pub fn paired_ratio(subject: &[f64], baseline: &[f64]) -> f64 {
    median(&round_ratios(subject, baseline))
}

/// The smallest and largest of the per-round ratios `subject[i] /
/// baseline[i]`: how much the rounds disagree.
pub fn ratio_range(subject: &[f64], baseline: &[f64]) -> Option<[f64; 2]> {
    let ratios = round_ratios(subject, baseline);
    let min = ratios.iter().copied().reduce(f64::min)?;
    let max = ratios.iter().copied().reduce(f64::max)?;
    Some([min, max])
}

/// The order in which `count` subjects run in `round`: a rotation, so that
/// over `count` rounds each subject runs once in each position.
pub fn round_order(round: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |k| (round + k) % count)
}

/// Times `n` sequential calls of `op` (caller 0) in a task of the runtime,
/// as a service's request handler would make them; nanoseconds each.
pub async fn async_latency(op: &AsyncOp, n: usize) -> Vec<u64> {
    let op = Arc::clone(op);
    tokio::spawn(async move {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            op(0).await;
            samples.push(elapsed_nanos(start));
        }
        samples
    })
    .await
    .expect("the latency task panicked")
}

/// Runs `concurrency` tasks calling `op` back to back (task `i` as caller
/// `i`) for `duration`; answers completed operations per second.
pub async fn async_throughput(op: &AsyncOp, concurrency: usize, duration: Duration) -> f64 {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|caller| {
            let op = Arc::clone(op);
            tokio::spawn(async move {
                let mut done = 0u64;
                loop {
                    op(caller).await;
                    done += 1;
                    if Instant::now() >= deadline {
                        return done;
                    }
                }
            })
        })
        .collect();
    let mut total = 0u64;
    for task in tasks {
        total += task.await.expect("a throughput task panicked");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Times `n` sequential calls of a blocking `op` on this thread;
/// nanoseconds each.
pub fn blocking_latency(op: &mut BlockingOp, n: usize) -> Vec<u64> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op();
        samples.push(elapsed_nanos(start));
    }
    samples
}

/// Calls a cheap `op` in batches of `batch` for at least `duration`;
/// answers nanoseconds per call. For in-process work measured in
/// nanoseconds, where reading the clock every call would weigh.
pub fn nanos_per_op(duration: Duration, batch: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    loop {
        for _ in 0..batch {
            op();
        }
        calls += u64::from(batch);
        let elapsed = start.elapsed();
        if elapsed >= duration {
            return elapsed.as_nanos() as f64 / calls as f64;
        }
    }
}

fn elapsed_nanos(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 100.0), 100);
        assert_eq!(percentile(&samples, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        // 10 samples: the 99th percentile is the largest, the median the 5th.
        let ten: Vec<u64> = (10..=100).step_by(10).collect();
        assert_eq!(percentile(&ten, 99.0), 100);
        assert_eq!(percentile(&ten, 50.0), 50);
    }

    #[test]
    fn median_handles_odd_even_and_unsorted() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn latency_summary_reads_nanoseconds_as_microseconds() {
        let latency = Latency::from_nanos(vec![3_000, 1_000, 2_000]);
        assert_eq!(latency.p50_us, 2.0);
        assert_eq!(latency.p99_us, 3.0);
        assert_eq!(latency.mean_us, 2.0);
        assert_eq!(latency.ops_per_sec, 500_000.0);
    }

    #[test]
    fn paired_ratio_takes_the_median_of_round_ratios() {
        // Drift doubles both figures in round 2; the pairs still say 0.5.
        let ratio = paired_ratio(&[50.0, 100.0, 55.0], &[100.0, 200.0, 100.0]);
        assert_eq!(ratio, 0.5);
    }

    #[test]
    fn ratio_range_spans_the_rounds() {
        assert_eq!(
            ratio_range(&[1.0, 3.0, 2.0], &[2.0, 2.0, 2.0]),
            Some([0.5, 1.5])
        );
        assert_eq!(ratio_range(&[], &[]), None);
    }

    #[test]
    fn rounds_keep_their_medians_and_pool_their_samples() {
        let latency = Latency::from_rounds(vec![vec![1_000, 3_000, 2_000], vec![10_000]]);
        assert_eq!(latency.round_p50_us, [2.0, 10.0]);
        assert_eq!(latency.samples, 4);
        assert_eq!(latency.p99_us, 10.0);
    }

    #[test]
    fn rotation_puts_each_subject_in_each_position() {
        let orders: Vec<Vec<usize>> = (0..3).map(|r| round_order(r, 3).collect()).collect();
        assert_eq!(orders, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]);
    }
}
