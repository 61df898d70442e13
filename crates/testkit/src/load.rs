//! Load for the fault and failover suites: concurrent callers on both of a
//! backend's paths while a test kills, pauses or fails over the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memocache_core::{Args, BlockingStore, BreakerState, Memoizer, Stats, Store};

use crate::callers::{Policy, Stores};

/// Concurrent callers hammering memoizers over a backend's clients, each
/// checking every value it gets, while a test kills, pauses or fails over
/// the server. A wrong value panics its caller, which [`Load::finish`]
/// reports.
pub struct Load {
    async_memo: Memoizer<Arc<dyn Store>>,
    blocking_memo: Option<Memoizer<Arc<dyn BlockingStore>>>,
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts 24 async callers (and 8 blocking ones, where the backend has
    /// a blocking client) on memoizers with `policy`, over 40 keys.
    pub fn start(stores: &Stores, policy: &Policy) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let async_memo = policy.build(Arc::clone(&stores.async_store));
        let blocking_memo = stores
            .blocking_store
            .as_ref()
            .map(|s| policy.build(Arc::clone(s)));
        let mut tasks = Vec::new();
        for t in 0..24u64 {
            let (memo, stop, calls) = (async_memo.clone(), stop.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    n = (n + 1) % 40;
                    let v = memo
                        .call(&Args::new().arg(&n), || async move {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            n * 7
                        })
                        .await;
                    assert_eq!(v, n * 7, "a wrong value reached a caller");
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        if let Some(blocking_memo) = &blocking_memo {
            for t in 0..8u64 {
                let (memo, stop, calls) = (blocking_memo.clone(), stop.clone(), calls.clone());
                tasks.push(tokio::task::spawn_blocking(move || {
                    let mut n = t;
                    while !stop.load(Ordering::Relaxed) {
                        n = (n + 1) % 40;
                        let v = memo.call_blocking(&Args::new().arg(&n), || {
                            std::thread::sleep(Duration::from_millis(2));
                            n * 7
                        });
                        assert_eq!(v, n * 7, "a wrong value reached a caller");
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
        }
        Load {
            async_memo,
            blocking_memo,
            stop,
            calls,
            tasks,
        }
    }

    /// The memoizers' counters: the async one's, then the blocking one's.
    pub fn stats(&self) -> Vec<Stats> {
        std::iter::once(self.async_memo.stats())
            .chain(self.blocking_memo.as_ref().map(Memoizer::stats))
            .collect()
    }

    /// Calls answered without computing: hits and merged callers.
    pub fn served(&self) -> u64 {
        served(&self.stats())
    }

    /// Waits until every breaker is closed and 100 more calls were served
    /// from the cache; answers how long that took.
    ///
    /// # Panics
    ///
    /// If caching has not resumed after `within`.
    pub async fn wait_for_caching(&self, within: Duration) -> Duration {
        let start = Instant::now();
        let before = self.served();
        self.wait_for("caching resumed", within, |stats| {
            let closed = stats.iter().all(|s| s.breaker == BreakerState::Closed);
            closed && served(stats) > before + 100
        })
        .await;
        start.elapsed()
    }

    /// Waits until the memoizers' counters show `what`, as `seen` tells;
    /// answers those counters.
    ///
    /// # Panics
    ///
    /// If they do not after `within`.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        seen: impl Fn(&[Stats]) -> bool,
    ) -> Vec<Stats> {
        let start = Instant::now();
        loop {
            let stats = self.stats();
            if seen(&stats) {
                return stats;
            }
            assert!(
                start.elapsed() < within,
                "{what} not seen within {within:?}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the callers; answers how many calls they made, all with the
    /// right value.
    ///
    /// # Panics
    ///
    /// If a caller panicked (a wrong value reached it).
    pub async fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            task.await.expect("a caller panicked");
        }
        self.calls.load(Ordering::Relaxed)
    }
}

/// Calls answered without computing, in `stats`: hits and merged callers.
fn served(stats: &[Stats]) -> u64 {
    stats.iter().map(|s| s.hits + s.merged).sum()
}

impl Drop for Load {
    /// Stops the callers, so that a test failing before
    /// [`finish`](Load::finish) fails instead of hanging: its runtime waits
    /// for the blocking callers when it shuts down.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
