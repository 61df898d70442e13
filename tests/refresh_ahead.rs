//! Refresh-ahead over the memory store: a hit past the fraction of its
//! entry's life returns the cached value at once and starts one
//! recomputation, which rewrites the entry; an invalidation that begins
//! while a refresh runs wins. The recomputation waits on a gate the test
//! opens, so every check is about order, never about time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use memocache::codec::{Codec, JsonZlib};
use memocache::store::{BlockingStore, KeyTtl, Store};
use memocache::{Args, LocalTier, Memoizer, MemoryStore};
use tokio::sync::watch;

const EXPIRE: Duration = Duration::from_secs(100);

fn memoizer(store: &Arc<MemoryStore>, namespace: &str, tier: bool) -> Memoizer<Arc<MemoryStore>> {
    let builder = Memoizer::builder(store.clone())
        .namespace(namespace)
        .expire(EXPIRE)
        .refresh_ahead(0.5);
    if tier {
        builder.local_tier(LocalTier::bytes(1 << 20)).build()
    } else {
        builder.build()
    }
}

/// Writes `value` at `key` with `left` to live: an entry that far into
/// its life.
async fn entry_with(store: &MemoryStore, key: &str, value: u32, left: Duration) {
    let bytes = Bytes::from(JsonZlib::default().encode(&value).unwrap());
    Store::set(store, key, bytes, Some(left)).await.unwrap();
}

/// A recomputation held until the gate opens; counts its runs.
#[derive(Clone)]
struct Gated {
    runs: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

impl Gated {
    fn new() -> (Self, watch::Sender<bool>) {
        let (open, gate) = watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        (Gated { runs, gate }, open)
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn compute(
        &self,
        value: u32,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> + Send + 'static {
        let (runs, mut gate) = (self.runs.clone(), self.gate.clone());
        move || {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                gate.wait_for(|open| *open).await.unwrap();
                value
            })
        }
    }
}

async fn hot_key_is_refreshed_once_while_every_call_hits(tier: bool) {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, &format!("refresh:hot:{tier}"), tier);
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    // Fresh: no refresh.
    entry_with(&store, &key, 1, EXPIRE).await;
    let (gated, open) = Gated::new();
    assert_eq!(memo.call_owned(&args, gated.compute(2)).await, 1);
    assert_eq!(memo.stats().refreshes, 0);
    // Past half its life: every call hits at once while one refresh runs.
    entry_with(&store, &key, 1, Duration::from_secs(20)).await;
    for _ in 0..100 {
        assert_eq!(memo.call_owned(&args, gated.compute(2)).await, 1);
    }
    let stats = memo.stats();
    let hits = stats.hits + stats.tier.map_or(0, |tier| tier.hits);
    assert_eq!(
        (hits, stats.misses, stats.refreshes),
        (101, 0, 1),
        "{stats:?}"
    );
    open.send(true).unwrap();
    memo.flush().await;
    assert_eq!(gated.runs(), 1, "one recomputation for the key");
    match Store::ttl(&*store, &key).await.unwrap() {
        KeyTtl::Expires(left) => assert!(left > Duration::from_secs(50), "{left:?}"),
        other => panic!("the entry was not rewritten with its expiry: {other:?}"),
    }
    assert_eq!(memo.call_owned(&args, gated.compute(3)).await, 2);
    assert_eq!(memo.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_store_hit_is_refreshed_once_while_every_call_hits() {
    hot_key_is_refreshed_once_while_every_call_hits(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_local_hit_is_refreshed_once_while_every_call_hits() {
    hot_key_is_refreshed_once_while_every_call_hits(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_refresh_wins() {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "refresh:race", false);
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    entry_with(&store, &key, 1, Duration::from_secs(20)).await;
    let (gated, open) = Gated::new();
    assert_eq!(memo.call_owned(&args, gated.compute(2)).await, 1);
    while gated.runs() == 0 {
        tokio::task::yield_now().await;
    }
    // The refresh computes; the entry is invalidated; then it ends.
    assert!(memo.invalidate(&args).await.unwrap());
    open.send(true).unwrap();
    memo.flush().await;
    assert_eq!(
        Store::get(&*store, &key).await.unwrap(),
        None,
        "the refresh wrote after the invalidation"
    );
    assert_eq!(memo.call_owned(&args, gated.compute(3)).await, 3);
}

#[test]
fn the_blocking_path_refreshes_on_a_thread_of_its_own() {
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "refresh:blocking", false);
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    let bytes = Bytes::from(JsonZlib::default().encode(&1u32).unwrap());
    BlockingStore::set(&*store, &key, bytes, Some(Duration::from_secs(20))).unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let caller = std::thread::current().id();
    let ran_on = Arc::new(std::sync::Mutex::new(None));
    let compute = {
        let ran_on = ran_on.clone();
        move || {
            *ran_on.lock().unwrap() = Some(std::thread::current().id());
            released.lock().unwrap().recv().unwrap();
            2u32
        }
    };
    assert_eq!(
        memo.call_blocking_owned(&args, compute),
        1,
        "a hit, at once"
    );
    assert_eq!(memo.stats().refreshes, 1);
    release.send(()).unwrap();
    memocache_core::block_on(memo.flush());
    assert_ne!(*ran_on.lock().unwrap(), Some(caller));
    assert_eq!(memo.call_blocking_owned(&args, || 3u32), 2);
}

#[tokio::test]
async fn plain_entry_points_say_once_that_they_do_not_refresh() {
    let (events, _guard) = support::logs::capture();
    let store = Arc::new(MemoryStore::new());
    let memo = memoizer(&store, "refresh:plain", false);
    let args = Args::new().arg(&1);
    let key = memo.key(&args).unwrap();
    entry_with(&store, &key, 1, Duration::from_secs(20)).await;
    for _ in 0..3 {
        assert_eq!(memo.call(&args, || async { 2u32 }).await, 1);
    }
    assert_eq!(memo.stats().refreshes, 0);
    let warnings = events
        .all()
        .into_iter()
        .filter(|e| e.level == tracing::Level::WARN)
        .count();
    assert_eq!(warnings, 1);
}
