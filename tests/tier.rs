//! The local tier over stores that report changes (the memory store) and
//! stores that do not: hot hits that reach neither the store nor the
//! codec, copies dropped when their key changes, a change racing a read
//! (forced by a store that holds the read until the test has written), and
//! a tier that stays off rather than serve what it cannot keep true.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use memocache::codec::{Codec as _, JsonZlib};
use memocache::key::KeyMatch;
use memocache::store::{
    Backend, BlockingStore, Bytes, Capabilities, Entry, KeyTtl, ReadOptions, RemoveOptions,
    WriteOptions,
};
use memocache::tier::Invalidations;
use memocache::{Args, LocalTier, Memoizer, MemoryStore, Result};
use memocache_core::testing::ShortLife;
use support::codec::CountingCodec;

/// A store in front of a [`MemoryStore`] that counts reads, and can hold
/// one read between the store's answer and its return until the test lets
/// it go; it reports changes only if `tracked`.
struct Gated {
    inner: MemoryStore,
    tracked: bool,
    reads: AtomicUsize,
    /// Set: the next read tells this sender it has its answer, then waits
    /// for the receiver.
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Gated {
    fn new(tracked: bool) -> Arc<Self> {
        Arc::new(Gated {
            inner: MemoryStore::new(),
            tracked,
            reads: AtomicUsize::new(0),
            hold: Mutex::new(None),
        })
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Holds the next read: answers a receiver that hears when the read has
    /// its answer, and a sender that lets it return.
    fn hold_next_read(&self) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (answered, heard) = mpsc::channel();
        let (release, released) = mpsc::channel();
        *self.hold.lock().unwrap() = Some((answered, released));
        (heard, release)
    }
}

impl Backend for Gated {
    fn backend(&self) -> &'static str {
        "gated"
    }

    fn capabilities(&self) -> Capabilities {
        // It writes bytes alone (no `write_decoded`), so it keeps no
        // decoded values, whatever the memory store under it can.
        self.inner
            .capabilities()
            .tracks_changes(self.tracked)
            .keeps_decoded(false)
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        if self.tracked {
            self.inner.track_changes(tier)
        } else {
            Err(memocache::Error::config(
                "this store does not report changes",
            ))
        }
    }
}

impl BlockingStore for Gated {
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let answer = BlockingStore::read(&self.inner, key, options);
        if let Some((answered, released)) = self.hold.lock().unwrap().take() {
            answered.send(()).unwrap();
            released.recv().unwrap();
        }
        answer
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        BlockingStore::write(&self.inner, key, value, options)
    }

    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        BlockingStore::remove(&self.inner, key, options)
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        BlockingStore::delete_matching(&self.inner, keys)
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        BlockingStore::ttl(&self.inner, key)
    }
}

fn memo(store: &Arc<Gated>, tier: LocalTier) -> Memoizer<Arc<Gated>, CountingCodec> {
    Memoizer::builder(Arc::clone(store))
        .namespace("tier")
        .codec(CountingCodec::default())
        .local_tier(tier)
        .build()
}

fn tier() -> LocalTier {
    LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600))
}

fn args() -> Args {
    Args::new().kwarg("user_id", &7)
}

/// The call, answered from the cache: computing it fails the test.
fn cached(memo: &Memoizer<Arc<Gated>, CountingCodec>) -> String {
    memo.call_blocking(&args(), || -> String {
        panic!("computed, not served from the cache")
    })
}

/// Writes `value` at the call's key as another process would.
fn write_elsewhere(memo: &Memoizer<Arc<Gated>, CountingCodec>, store: &Gated, value: &str) {
    let key = memo.key(&args()).unwrap();
    let bytes = JsonZlib::default().encode(&value).unwrap();
    BlockingStore::set(store, &key, bytes.into(), None).unwrap();
}

#[test]
fn a_hot_hit_reaches_neither_the_store_nor_the_codec() {
    let store = Gated::new(true);
    let memo = memo(&store, tier());
    let computed = memo.call_blocking(&args(), || "Ada".to_owned());
    assert_eq!(computed, "Ada");
    // The first read after the write fills the tier (one decode)...
    assert_eq!(cached(&memo), "Ada");
    let (reads, decodes) = (store.reads(), memo.codec().decodes.load(Ordering::SeqCst));
    // ...and then the store and the codec are left alone.
    for _ in 0..100 {
        assert_eq!(cached(&memo), "Ada");
    }
    assert_eq!(store.reads(), reads, "a local hit read the store");
    assert_eq!(
        memo.codec().decodes.load(Ordering::SeqCst),
        decodes,
        "a local hit decoded"
    );
    let tier = memo.stats().tier.expect("a tier");
    assert!(tier.live);
    assert_eq!((tier.hits, tier.entries), (100, 1), "{tier:?}");
    assert!(tier.bytes > 0);
}

#[test]
fn a_write_from_elsewhere_drops_the_copy_at_once() {
    let store = Gated::new(true);
    let memo = memo(&store, tier());
    memo.call_blocking(&args(), || "old".to_owned());
    assert_eq!(cached(&memo), "old");
    write_elsewhere(&memo, &store, "new");
    assert_eq!(cached(&memo), "new");
    assert_eq!(cached(&memo), "new");
    // A removal elsewhere too: the next call computes.
    BlockingStore::delete(&*store, &memo.key(&args()).unwrap()).unwrap();
    assert_eq!(memo.call_blocking(&args(), || "again".to_owned()), "again");
    assert!(memo.stats().tier.unwrap().invalidations >= 2);
}

#[test]
fn a_change_reported_while_a_read_is_in_flight_is_never_served_after() {
    let store = Gated::new(true);
    let memo = memo(&store, tier());
    write_elsewhere(&memo, &store, "old");
    let (heard, release) = store.hold_next_read();
    let reader = {
        let memo = memo.clone();
        std::thread::spawn(move || cached(&memo))
    };
    // The read has the old value in hand; the key changes before it returns.
    heard.recv().unwrap();
    write_elsewhere(&memo, &store, "new");
    release.send(()).unwrap();
    assert_eq!(
        reader.join().unwrap(),
        "old",
        "the read began before the write"
    );
    // The old value was not kept: the next call reads the store again.
    let reads = store.reads();
    assert_eq!(cached(&memo), "new");
    assert_eq!(store.reads(), reads + 1, "the old value was served locally");
    assert_eq!(cached(&memo), "new");
}

#[test]
fn invalidating_and_clearing_drop_local_copies() {
    let store = Gated::new(true);
    let memo = memo(&store, tier());
    memo.call_blocking(&args(), || "v1".to_owned());
    assert_eq!(cached(&memo), "v1");
    assert!(memo.invalidate_blocking(&args()).unwrap());
    assert_eq!(memo.call_blocking(&args(), || "v2".to_owned()), "v2");
    assert_eq!(cached(&memo), "v2");
    assert_eq!(memo.clear_namespace_blocking().unwrap(), 1);
    assert_eq!(memo.call_blocking(&args(), || "v3".to_owned()), "v3");
    assert!(memo.stats().tier.unwrap().flushes >= 1);
}

#[test]
fn over_a_store_that_cannot_report_changes_the_tier_stays_off_and_says_why() {
    let (events, _guard) = support::logs::capture();
    let store = Gated::new(false);
    let memo = memo(&store, tier());
    memo.call_blocking(&args(), || "Ada".to_owned());
    for _ in 0..3 {
        assert_eq!(cached(&memo), "Ada");
    }
    assert_eq!(store.reads(), 4, "every call read the store");
    let tier = memo.stats().tier.unwrap();
    assert!(!tier.live, "{tier:?}");
    assert_eq!(tier.hits, 0);
    let off: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| {
            e.field("message")
                .is_some_and(|m| m.contains("local tier off"))
        })
        .collect();
    assert_eq!(off.len(), 1, "logged once: {off:?}");
    let error = off[0].field("error").unwrap_or_default();
    assert!(error.contains("does not report changes"), "{error}");
}

#[test]
fn a_best_effort_tier_serves_copies_no_older_than_max_ttl() {
    // The copy lives max_ttl from the read that filled the tier.
    let mut short = ShortLife::new(Duration::from_millis(500));
    let (memo, filled, first, unseen) = loop {
        short.begin();
        let store = Gated::new(false);
        let memo = memo(&store, tier().max_ttl(short.life()).best_effort(true));
        memo.call_blocking(&args(), || "old".to_owned());
        let first = cached(&memo);
        let filled = Instant::now();
        write_elsewhere(&memo, &store, "new");
        let unseen = cached(&memo);
        if short.fitted() {
            break (memo, filled, first, unseen);
        }
    };
    assert_eq!(first, "old");
    // Unseen: the store cannot say it changed; bounded by max_ttl.
    assert_eq!(unseen, "old");
    std::thread::sleep(short.until_expired(filled));
    assert_eq!(cached(&memo), "new");
    // This process's own writes are seen at once.
    memo.cache_data_blocking(&memo.key(&args()).unwrap(), "mine".to_owned());
    assert_eq!(cached(&memo), "mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_get_the_leader_s_value_without_decoding() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("tier:flight")
        .codec(CountingCodec::default())
        .build();
    let gate = Arc::new(tokio::sync::Barrier::new(50));
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (memo, gate) = (memo.clone(), Arc::clone(&gate));
            tokio::spawn(async move {
                gate.wait().await;
                memo.call(&args(), || async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    vec![1u32, 2, 3]
                })
                .await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), [1, 2, 3]);
    }
    let stats = memo.stats();
    assert_eq!(
        (stats.misses, stats.merged + stats.hits),
        (1, 49),
        "{stats:?}"
    );
    // The memory store keeps the value its bytes decode to, decoded once
    // at the write: neither the waiters nor the callers that read the
    // store decoded.
    assert_eq!(
        memo.codec().decodes.load(Ordering::SeqCst),
        1,
        "only the write decoded"
    );
}
