//! Stampede: many concurrent callers on a cold key, counting how often the
//! function runs (the reference runs it once per caller that missed;
//! memocache's single-flight, once).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache::{Args, Memoizer, RedisBlockingStore, RedisConfig, RedisStore};
use serde::Serialize;

/// How long the stampeding function takes: long enough that every caller
/// arrives while it runs.
pub const FUNCTION_TIME: Duration = Duration::from_millis(100);

/// A stampede's outcome.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stampede {
    /// Concurrent callers released together.
    pub callers: usize,
    /// How many times the function ran.
    pub executions: usize,
    /// Callers that got the right value.
    pub correct: usize,
}

/// The report of a cold key, as every caller gets it.
fn report() -> Vec<u64> {
    (0..100).collect()
}

/// `callers` tokio tasks call `Memoizer::call` over `RedisStore` on one
/// cold key at once.
pub async fn async_callers(url: &str, callers: usize) -> Stampede {
    let store = RedisStore::connect(&RedisConfig::new().url(url))
        .await
        .expect("connect RedisStore");
    let memo = Memoizer::builder(store)
        .namespace("bench:stampede:async")
        .expire_secs(60)
        .build();
    let args = Args::new().kwarg("report", &"daily");
    memo.invalidate(&args).await.expect("clear the key");
    let executions = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (memo, args) = (memo.clone(), args.clone());
            let (executions, start) = (Arc::clone(&executions), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let rows: Vec<u64> = memo
                    .call(&args, || async {
                        executions.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(FUNCTION_TIME).await;
                        report()
                    })
                    .await;
                rows == report()
            })
        })
        .collect();
    let mut correct = 0;
    for task in tasks {
        correct += usize::from(task.await.expect("a stampede task panicked"));
    }
    memo.flush().await;
    Stampede {
        callers,
        executions: executions.load(Ordering::SeqCst),
        correct,
    }
}

/// `callers` threads call `Memoizer::call_blocking` over
/// `RedisBlockingStore` on one cold key at once, as the reference's
/// threads call `cache_function`.
pub fn blocking_callers(url: &str, callers: usize) -> Stampede {
    let store = RedisBlockingStore::connect(&RedisConfig::new().url(url)).expect("connect");
    let memo = Memoizer::builder(store)
        .namespace("bench:stampede:blocking")
        .expire_secs(60)
        .build();
    let args = Args::new().kwarg("report", &"daily");
    memo.invalidate_blocking(&args).expect("clear the key");
    let executions = AtomicUsize::new(0);
    let start = std::sync::Barrier::new(callers);
    let correct = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let rows: Vec<u64> = memo.call_blocking(&args, || {
                        executions.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(FUNCTION_TIME);
                        report()
                    });
                    rows == report()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| usize::from(t.join().expect("a stampede thread panicked")))
            .sum()
    });
    Stampede {
        callers,
        executions: executions.load(Ordering::SeqCst),
        correct,
    }
}
