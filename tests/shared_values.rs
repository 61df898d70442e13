//! Functions that return `Arc<T>`: memoized like any other (through
//! `call`, `call_blocking`, `try_call` and the attribute, with `T` neither
//! `Clone` nor given a serde feature by the user), their entries the
//! reference's bytes of `T`, and their local hits and flight waiters
//! handed the same allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use memocache::codec::{Codec, JsonZlib};
use memocache::store::{BlockingStore, Store};
use memocache::{Args, LocalTier, Memoizer, MemoryStore, cache_wrapper};
use serde::{Deserialize, Serialize};

/// A large value, deliberately not `Clone`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    id: u32,
    rows: Vec<u64>,
}

fn report(id: u32) -> Arc<Report> {
    Arc::new(Report {
        id,
        rows: (0..1_000).collect(),
    })
}

fn tiered(namespace: &str) -> (MemoryStore, Memoizer<MemoryStore>) {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone())
        .namespace(namespace)
        .local_tier(LocalTier::bytes(1 << 20))
        .build();
    (store, memo)
}

#[tokio::test]
async fn local_hits_hand_out_the_same_allocation() {
    let (store, memo) = tiered("shared:async");
    let args = Args::new().arg(&7);
    let first: Arc<Report> = memo.call(&args, || async { report(7) }).await;
    // The store read that fills the tier, then a local hit, then another.
    let filled: Arc<Report> = memo.call(&args, || async { report(0) }).await;
    let second: Arc<Report> = memo.call(&args, || async { report(0) }).await;
    let third: Arc<Report> = memo.call(&args, || async { report(0) }).await;
    assert_eq!(*first, *filled);
    assert!(Arc::ptr_eq(&second, &third), "a local hit copied the value");
    assert!(Arc::ptr_eq(&filled, &second), "the tier kept another copy");
    assert_eq!(memo.stats().tier.unwrap().hits, 2);

    // The entry is the reference's bytes of `T`, not of a wrapper.
    let key = memo.key(&args).unwrap();
    let stored = Store::get(&store, &key).await.unwrap().unwrap();
    let plain = JsonZlib::default().encode(&*report(7)).unwrap();
    assert_eq!(stored.as_ref(), plain.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_s_waiters_share_the_leader_s_value() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("shared:flight")
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let (open, gate) = tokio::sync::watch::channel(false);
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (memo, runs, mut gate) = (memo.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                memo.call(&Args::new().arg(&1), || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    gate.wait_for(|open| *open).await.unwrap();
                    report(1)
                })
                .await
            })
        })
        .collect();
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    open.send(true).unwrap();
    let mut values = Vec::new();
    for caller in callers {
        values.push(caller.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Every waiter of the flight got the leader's allocation (a caller
    // that came after it read the store's entry, a copy of its own).
    let largest_share = values
        .iter()
        .map(|v| values.iter().filter(|w| Arc::ptr_eq(v, w)).count())
        .max()
        .unwrap();
    let stats = memo.stats();
    assert_eq!(largest_share as u64, stats.merged + 1, "{stats:?}");
    assert_eq!(stats.merged + stats.hits + stats.misses, 8, "{stats:?}");
}

#[test]
fn blocking_calls_and_try_call_take_shared_values_too() {
    let (_, memo) = tiered("shared:blocking");
    let args = Args::new().arg(&3);
    let computed: Arc<Report> = memo.call_blocking(&args, || report(3));
    let _filled: Arc<Report> = memo.call_blocking(&args, || report(0));
    let (a, b): (Arc<Report>, Arc<Report>) = (
        memo.call_blocking(&args, || report(0)),
        memo.call_blocking(&args, || report(0)),
    );
    assert_eq!(*computed, *a);
    assert!(Arc::ptr_eq(&a, &b));

    let tried: Result<Arc<Report>, String> =
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            memo.try_call(&Args::new().arg(&4), || async { Ok(report(4)) })
                .await
        });
    assert_eq!(tried.unwrap().id, 4);
}

static REPORTS: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static REPORT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(
    store = REPORTS.clone(),
    namespace = "shared:attribute",
    local_tier = LocalTier::bytes(1 << 20)
)]
fn monthly(id: u32) -> Arc<Report> {
    REPORT_RUNS.fetch_add(1, Ordering::SeqCst);
    report(id)
}

#[test]
fn the_attribute_memoizes_shared_values() {
    let first = monthly(9);
    let (second, third, fourth) = (monthly(9), monthly(9), monthly(9));
    assert_eq!(REPORT_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(*first, *second);
    assert!(Arc::ptr_eq(&third, &fourth));
    let key = monthly_cache_key(9).unwrap();
    let stored = BlockingStore::get(&*REPORTS, &key).unwrap().unwrap();
    assert_eq!(
        stored.as_ref(),
        JsonZlib::default().encode(&*report(9)).unwrap().as_slice()
    );
}
