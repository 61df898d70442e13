//! How long and how often each scenario runs: `--quick` (a few minutes on
//! two cores) or the full run.

use std::time::Duration;

use crate::value::Size;

/// Rounds, batch lengths and sample counts of a run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Rounds of every interleaved comparison.
    pub rounds: usize,
    /// The length of one throughput batch.
    pub batch: Duration,
    /// The warm-up of each subject before its rounds.
    pub warm_up: Duration,
    /// The length of one in-process batch (memory store, codecs, keys).
    pub local_batch: Duration,
    /// Sequential hits timed per Python batch.
    pub python_hits: usize,
    /// Rounds of the Python comparison (a process each).
    pub python_rounds: usize,
    /// Requests of `redis-benchmark`.
    pub redis_benchmark_requests: u32,
    /// Concurrent callers of the stampede scenarios.
    pub stampede_callers: usize,
    /// Rounds of the stampede across processes (a cold key each), with
    /// `distributed_lock` and as many without.
    pub stampede_rounds: usize,
    /// Each phase of the mixed workload (without, then with a local tier).
    pub coherence_phase: Duration,
    /// A quarter of the outage scenario (healthy, failing twice as long,
    /// healthy again).
    pub outage_phase: Duration,
    small_latency_samples: usize,
    large_latency_samples: usize,
    small_miss_samples: usize,
    large_miss_samples: usize,
}

impl Schedule {
    /// The schedule of `--quick` or of the full run.
    pub fn new(quick: bool) -> Schedule {
        if quick {
            Schedule {
                rounds: 3,
                batch: Duration::from_millis(400),
                warm_up: Duration::from_millis(200),
                local_batch: Duration::from_millis(150),
                python_hits: 3_000,
                python_rounds: 2,
                redis_benchmark_requests: 100_000,
                stampede_callers: 1_000,
                stampede_rounds: 5,
                coherence_phase: Duration::from_secs(2),
                outage_phase: Duration::from_millis(1500),
                small_latency_samples: 2_000,
                large_latency_samples: 400,
                small_miss_samples: 500,
                large_miss_samples: 100,
            }
        } else {
            Schedule {
                rounds: 7,
                batch: Duration::from_secs(1),
                warm_up: Duration::from_millis(500),
                local_batch: Duration::from_millis(400),
                python_hits: 20_000,
                python_rounds: 3,
                redis_benchmark_requests: 300_000,
                stampede_callers: 1_000,
                stampede_rounds: 20,
                coherence_phase: Duration::from_secs(8),
                outage_phase: Duration::from_secs(3),
                small_latency_samples: 6_000,
                large_latency_samples: 1_200,
                small_miss_samples: 2_000,
                large_miss_samples: 300,
            }
        }
    }

    /// Sequential hits timed per latency batch of `size` values.
    pub fn latency_samples(&self, size: Size) -> usize {
        match size {
            Size::Small => self.small_latency_samples,
            Size::Large => self.large_latency_samples,
        }
    }

    /// Misses timed per batch of `size` values.
    pub fn miss_samples(&self, size: Size) -> usize {
        match size {
            Size::Small => self.small_miss_samples,
            Size::Large => self.large_miss_samples,
        }
    }
}
