//! The cross-process stampede lock over the memory store, whose clones
//! share their locks: two memoizers over one store stand for two
//! processes (each has its own single-flight). The holder's computation
//! waits until the test has seen the other memoizer wait, so every check
//! forces its interleaving; the real processes are in `tests/stampede.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use memocache::store::{BlockingStore, LockAction, LockRequest, Store};
use memocache::{Args, Memoizer, MemoryStore, cache_wrapper};
use tokio::sync::watch;

/// A lease no check ever waits out: a test that hangs on it has found a
/// lock that was not released.
const LONG_LEASE: Duration = Duration::from_secs(600);

/// How long a check waits for something that must happen before it fails.
const GIVE_UP: Duration = Duration::from_secs(60);

fn memo(store: &MemoryStore, namespace: &str, lease: Duration) -> Memoizer<MemoryStore> {
    Memoizer::builder(store.clone())
        .namespace(namespace)
        .distributed_lock(lease)
        .build()
}

fn args() -> Args {
    Args::new().kwarg("report", &"daily")
}

/// Waits until `memo` has seen the lock held and waited.
async fn until_waiting(memo: &Memoizer<MemoryStore>) {
    let start = Instant::now();
    while memo.stats().lock_waits == 0 {
        assert!(
            start.elapsed() < GIVE_UP,
            "the second memoizer never waited"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_waits_for_the_holder_s_entry() {
    let store = MemoryStore::new();
    let (a, b) = (
        memo(&store, "lock:wait", LONG_LEASE),
        memo(&store, "lock:wait", LONG_LEASE),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);

    let holder = tokio::spawn({
        let (a, runs, mut gate) = (a.clone(), runs.clone(), gate.clone());
        async move {
            a.call(&args(), || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                gate.wait_for(|open| *open).await.unwrap();
                42u32
            })
            .await
        }
    });
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = tokio::spawn({
        let (b, runs) = (b.clone(), runs.clone());
        async move {
            b.call(&args(), || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                7u32
            })
            .await
        }
    });
    until_waiting(&b).await;
    open.send(true).unwrap();

    assert_eq!(holder.await.unwrap(), 42);
    assert_eq!(waiter.await.unwrap(), 42, "the waiter computed its own");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = b.stats();
    assert_eq!(
        (stats.lock_waits, stats.lock_served, stats.misses),
        (1, 1, 0)
    );
    assert_eq!(a.stats().misses, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_computation_fails_lets_a_waiter_compute_at_once() {
    let store = MemoryStore::new();
    let (a, b) = (
        memo(&store, "lock:fail", LONG_LEASE),
        memo(&store, "lock:fail", LONG_LEASE),
    );
    let (open, gate) = watch::channel(false);
    let (started, mut holding) = watch::channel(false);

    let holder = tokio::spawn({
        let (a, mut gate) = (a.clone(), gate.clone());
        async move {
            a.try_call(&args(), || async move {
                started.send(true).unwrap();
                gate.wait_for(|open| *open).await.unwrap();
                Err::<u32, String>("the database is down".into())
            })
            .await
        }
    });
    holding.wait_for(|started| *started).await.unwrap();
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.try_call(&args(), || async { Ok::<u32, String>(7) }).await }
    });
    until_waiting(&b).await;
    open.send(true).unwrap();

    assert_eq!(holder.await.unwrap(), Err("the database is down".into()));
    // Released with the failure: the waiter does not wait out the lease.
    let computed = tokio::time::timeout(GIVE_UP, waiter).await;
    assert_eq!(computed.expect("the lock was not released").unwrap(), Ok(7));
    assert_eq!(b.stats().lock_served, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_nobody_past_its_lease() {
    let store = MemoryStore::new();
    let b = memo(&store, "lock:dead", LONG_LEASE);
    let key = b.key(&args()).unwrap();
    // A holder that took the lock and died: nobody releases it.
    let dead = LockRequest::new("dead", LockAction::Acquire(Duration::from_millis(200)));
    assert!(Store::lock(&store, &key, &dead).await.unwrap());

    let value: u32 = b.call(&args(), || async { 7 }).await;
    assert_eq!(value, 7);
    let stats = b.stats();
    assert_eq!(
        (stats.lock_waits, stats.lock_served, stats.misses),
        (1, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_namespace_removes_the_locks() {
    let store = MemoryStore::new();
    let b = memo(&store, "lock:clear", LONG_LEASE);
    let key = b.key(&args()).unwrap();
    let held = LockRequest::new("other", LockAction::Acquire(LONG_LEASE));
    assert!(Store::lock(&store, &key, &held).await.unwrap());

    b.clear_namespace().await.unwrap();
    let value = tokio::time::timeout(GIVE_UP, b.call(&args(), || async { 7u32 })).await;
    assert_eq!(value.expect("the lock outlived clear_namespace"), 7);
    assert_eq!(b.stats().lock_waits, 0);
}

#[test]
fn blocking_callers_wait_for_the_holder_s_entry_too() {
    let store = MemoryStore::new();
    let (a, b) = (
        memo(&store, "lock:blocking", LONG_LEASE),
        memo(&store, "lock:blocking", LONG_LEASE),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let (started, holding) = std::sync::mpsc::channel::<()>();

    let holder = std::thread::spawn({
        let (a, runs) = (a.clone(), runs.clone());
        move || {
            a.call_blocking(&args(), || {
                runs.fetch_add(1, Ordering::SeqCst);
                started.send(()).unwrap();
                gate.recv().unwrap();
                42u32
            })
        }
    });
    holding.recv().unwrap();
    let waiter = std::thread::spawn({
        let (b, runs) = (b.clone(), runs.clone());
        move || {
            b.call_blocking(&args(), || {
                runs.fetch_add(1, Ordering::SeqCst);
                7u32
            })
        }
    });
    let start = Instant::now();
    while b.stats().lock_waits == 0 {
        assert!(
            start.elapsed() < GIVE_UP,
            "the second memoizer never waited"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    open.send(()).unwrap();

    assert_eq!(holder.join().unwrap(), 42);
    assert_eq!(waiter.join().unwrap(), 42, "the waiter computed its own");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats().lock_served, 1);
    // The holder's keeper released the lock from its thread.
    let key = a.key(&args()).unwrap();
    let probe = LockRequest::new("probe", LockAction::Acquire(LONG_LEASE));
    let start = Instant::now();
    while !BlockingStore::lock(&store, &key, &probe).unwrap() {
        assert!(start.elapsed() < GIVE_UP, "the lock was never released");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_zero_lease_turns_the_lock_off() {
    let store = MemoryStore::new();
    let b = memo(&store, "lock:zero", Duration::ZERO);
    let key = b.key(&args()).unwrap();
    let held = LockRequest::new("other", LockAction::Acquire(LONG_LEASE));
    assert!(BlockingStore::lock(&store, &key, &held).unwrap());
    assert_eq!(b.call_blocking(&args(), || 7u32), 7);
    assert_eq!(b.stats().lock_waits, 0);
}

static REPORT_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[cache_wrapper(
    store = REPORT_STORE.clone(),
    namespace = "lock:attribute",
    distributed_lock = Duration::from_millis(200)
)]
fn report(day: u32) -> String {
    format!("report {day}")
}

#[test]
fn the_attribute_takes_the_lock_too() {
    let key = report_cache_key(1).unwrap();
    // Held by a process that died: the call waits out its lease.
    let dead = LockRequest::new("dead", LockAction::Acquire(Duration::from_millis(200)));
    assert!(BlockingStore::lock(&*REPORT_STORE, &key, &dead).unwrap());
    assert_eq!(report(1), "report 1");
    let stats = report_memoizer().stats();
    assert_eq!((stats.lock_waits, stats.misses), (1, 1), "{stats:?}");
}
