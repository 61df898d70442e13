//! Computation timeouts over the memory store. The computations hang until
//! the test releases them, and the async checks run on paused time, so
//! each timeout fires in a known order and no check waits for a margin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache::store::{BlockingStore, Store};
use memocache::{Args, Elapsed, Memoizer, MemoryStore};
use tokio::sync::watch;

/// The function's own error type, which can say the computation was given
/// up.
#[derive(Debug, PartialEq, Eq)]
enum ReportError {
    TimedOut,
}

impl From<Elapsed> for ReportError {
    fn from(_: Elapsed) -> Self {
        ReportError::TimedOut
    }
}

/// A computation that hangs until the gate opens, then returns `value`.
fn hanging(
    gate: &watch::Receiver<bool>,
    runs: &Arc<AtomicUsize>,
    value: u32,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, ReportError>> + Send>>
+ Send
+ 'static {
    let (mut gate, runs) = (gate.clone(), runs.clone());
    move || {
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            gate.wait_for(|open| *open).await.unwrap();
            Ok(value)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn at_the_soft_timeout_the_caller_gets_the_stale_value_and_the_entry_is_updated_later() {
    let store = Arc::new(MemoryStore::new());
    let memo = Memoizer::builder(store.clone())
        .namespace("timeouts:soft")
        .expire(Duration::from_secs(60))
        .fail_safe(Duration::from_secs(600))
        .soft_timeout(Duration::from_secs(1))
        .build();
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let first: Result<u32, ReportError> = memo.try_call_owned(&args, || async { Ok(1) }).await;
    assert_eq!(first, Ok(1));
    // The entry expires; the next computation hangs.
    Store::delete(&*store, &key).await.unwrap();
    let (open, gate) = watch::channel(false);
    let runs = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let served = memo.try_call_owned(&args, hanging(&gate, &runs, 2)).await;
    assert_eq!(served, Ok(1), "the stale value, at the soft timeout");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(memo.stats().soft_timeouts, 1);
    assert_eq!(
        Store::get(&*store, &key).await.unwrap(),
        None,
        "not yet updated"
    );
    // The computation ends in the background and updates the entry.
    open.send(true).unwrap();
    memo.flush().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let served = memo.try_call_owned(&args, hanging(&gate, &runs, 3)).await;
    assert_eq!(served, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn at_the_hard_timeout_the_caller_and_a_hundred_waiters_are_released() {
    let store = Arc::new(MemoryStore::new());
    let memo = Memoizer::builder(store.clone())
        .namespace("timeouts:hard")
        .expire(Duration::from_secs(60))
        .hard_timeout(Duration::from_secs(2))
        .build();
    let args = Args::new().arg(&1);
    let (open, gate) = watch::channel(false);
    let runs = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let callers: Vec<_> = (0..101)
        .map(|_| {
            let (memo, args) = (memo.clone(), args.clone());
            let compute = hanging(&gate, &runs, 2);
            tokio::spawn(async move { memo.try_call_owned(&args, compute).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Err(ReportError::TimedOut));
    }
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the waiters did not compute"
    );
    assert_eq!(memo.stats().hard_timeouts, 1);
    // The computation ends later and updates the entry.
    open.send(true).unwrap();
    memo.flush().await;
    let served: Result<u32, ReportError> = memo.try_call_owned(&args, || async { Ok(3) }).await;
    assert_eq!(served, Ok(2));
}

#[test]
fn the_blocking_path_releases_its_callers_at_the_hard_timeout() {
    let store = Arc::new(MemoryStore::new());
    let memo = Memoizer::builder(store.clone())
        .namespace("timeouts:blocking")
        .expire(Duration::from_secs(60))
        .hard_timeout(Duration::from_millis(50))
        .build();
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (memo, args, released, runs) =
                (memo.clone(), args.clone(), released.clone(), runs.clone());
            std::thread::spawn(move || {
                memo.try_call_blocking_owned(&args, move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    released.lock().unwrap().recv().unwrap();
                    Ok::<u32, ReportError>(2)
                })
            })
        })
        .collect();
    // Each caller returns while the computation still hangs.
    let mut results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    results.dedup();
    assert_eq!(results, [Err(ReportError::TimedOut)]);
    assert_eq!(BlockingStore::get(&*store, &key).unwrap(), None);
    release.send(()).unwrap();
    memocache_core::block_on(memo.flush());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the waiters did not compute"
    );
    assert_eq!(memo.call_blocking(&args, || 3u32), 2);
}
