//! Fail-safe over the memory store: a failed computation serves the last
//! good value of its key, throttled; an invalidated entry is never served
//! stale. An entry's expiry is played by removing it from the store
//! directly (the memoizer cannot tell the two apart), so nothing waits for
//! a clock.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache::key::stale_key;
use memocache::store::{BlockingStore, Store};
use memocache::{Args, Memoizer, MemoryStore};

const EXPIRE: Duration = Duration::from_secs(3600);

fn memoizer(store: &Arc<MemoryStore>, namespace: &str) -> Memoizer<Arc<MemoryStore>> {
    Memoizer::builder(store.clone())
        .namespace(namespace)
        .expire(EXPIRE)
        .fail_safe(Duration::from_secs(600))
        .build()
}

/// A computation that counts its runs and fails.
fn failing(runs: &AtomicUsize) -> Result<u32, String> {
    runs.fetch_add(1, Ordering::SeqCst);
    Err("the database is down".to_owned())
}

#[tokio::test]
async fn a_failed_computation_serves_the_stale_value_and_is_throttled() {
    let (events, _guard) = support::logs::capture();
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "fail-safe:async");
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let good: Result<u32, String> = memo.try_call(&args, || async { Ok(7) }).await;
    assert_eq!(good, Ok(7));
    let stale = Store::ttl(&*store, &stale_key(&key)).await.unwrap();
    assert!(
        matches!(stale, memocache::store::KeyTtl::Expires(left) if left > EXPIRE),
        "the stale copy outlives the entry: {stale:?}"
    );
    // The entry expires; the database is down.
    assert!(Store::delete(&*store, &key).await.unwrap());
    let runs = AtomicUsize::new(0);
    for _ in 0..5 {
        let served = memo.try_call(&args, || async { failing(&runs) }).await;
        assert_eq!(served, Ok(7), "the last good value");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the source is throttled");
    let stats = memo.stats();
    // Misses count the calls that ran the computation: the first, good
    // one and the failed one; the throttled calls did not.
    assert_eq!((stats.stale_served, stats.misses), (5, 2));
    let warnings: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| e.level == tracing::Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 1, "logged once per throttle period");
    assert_eq!(warnings[0].field("redis_key"), Some(key.as_str()));
    assert!(warnings[0].field("cause").unwrap().contains("error"));

    // A good value computed meanwhile (a refresh) ends the throttle.
    assert_eq!(memo.refresh(&args, || async { 8u32 }).await, 8);
    assert!(Store::delete(&*store, &key).await.unwrap());
    let served = memo.try_call(&args, || async { failing(&runs) }).await;
    assert_eq!(served, Ok(8));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_invalidated_entry_is_never_served_stale() {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "fail-safe:invalidated");
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let _: Result<u32, String> = memo.try_call(&args, || async { Ok(7) }).await;
    assert!(memo.invalidate(&args).await.unwrap());
    assert_eq!(Store::get(&*store, &stale_key(&key)).await.unwrap(), None);
    let runs = AtomicUsize::new(0);
    let served = memo.try_call(&args, || async { failing(&runs) }).await;
    assert_eq!(served, Err("the database is down".to_owned()));
    // Nor after a stale value was being throttled.
    let _: Result<u32, String> = memo.try_call(&args, || async { Ok(9) }).await;
    assert!(Store::delete(&*store, &key).await.unwrap());
    assert_eq!(
        memo.try_call(&args, || async { failing(&runs) }).await,
        Ok(9)
    );
    memo.invalidate(&args).await.unwrap();
    let served = memo.try_call(&args, || async { failing(&runs) }).await;
    assert!(served.is_err(), "served {served:?} after invalidate");
    // clear_namespace removes every stale copy.
    let _: Result<u32, String> = memo.try_call(&args, || async { Ok(9) }).await;
    let own = Args::new();
    let _: Result<u32, String> = memo.try_call(&own, || async { Ok(1) }).await;
    memo.clear_namespace().await.unwrap();
    for key in [&key, &memo.key(&own).unwrap()] {
        assert_eq!(Store::get(&*store, &stale_key(key)).await.unwrap(), None);
    }
    assert!(
        memo.try_call(&args, || async { failing(&runs) })
            .await
            .is_err()
    );
}

#[test]
fn a_panic_serves_the_stale_value_on_the_blocking_path_and_unwinds_without_one() {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "fail-safe:blocking");
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    assert_eq!(memo.call_blocking(&args, || 7u32), 7);
    assert!(BlockingStore::delete(&*store, &key).unwrap());
    let served = memo.call_blocking(&args, || -> u32 { panic!("the database is down") });
    assert_eq!(served, 7);
    assert_eq!(memo.stats().stale_served, 1);
    // Without a value of the key, the panic is the caller's.
    let fresh = Args::new().arg(&2);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        memo.call_blocking(&fresh, || -> u32 { panic!("no stale value") })
    }));
    assert!(panicked.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flight_s_waiters_get_the_stale_value_and_the_source_runs_once() {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "fail-safe:flight");
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let _: Result<u32, String> = memo.try_call(&args, || async { Ok(7) }).await;
    assert!(Store::delete(&*store, &key).await.unwrap());
    // The leader's computation waits until every caller has joined.
    let (release, released) = tokio::sync::watch::channel(false);
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (memo, args, runs) = (memo.clone(), args.clone(), runs.clone());
            let mut released = released.clone();
            tokio::spawn(async move {
                memo.try_call(&args, || async move {
                    released.wait_for(|go| *go).await.unwrap();
                    failing(&runs)
                })
                .await
            })
        })
        .collect();
    while memo.stats().misses < 1 {
        tokio::task::yield_now().await;
    }
    release.send(true).unwrap();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Ok(7));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(memo.stats().stale_served, 16);
}
