//! Conformance suites shared by every backend's tests.
//!
//! **Not a stable API**: this module exists so that one suite, written once,
//! runs against the memory store, Redis, Redis Cluster and fred. The
//! [`store_conformance_tests!`](crate::store_conformance_tests) macro turns
//! it into `#[tokio::test]` functions in the calling test crate (which needs
//! `tokio` with the `macros` and `rt-multi-thread` features). The Memoizer
//! behaviour suite, the fault suites and their callers and load live in the
//! `memocache-testkit` crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Args, Backend, BlockingStore, Capabilities, Entry, Error, FlushCause, Health, Invalidations,
    KeyMatch, KeyTtl, LockAction, LockRequest, ReadOptions, RemoveOptions, Result, Store,
    WriteOptions, cache_key,
};

/// A key prefix no other test (or test run) uses.
pub fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "memocache-test:{label}:{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An [`Invalidations`] sink that records what it is told, as text: a
/// changed key as itself, a flush as `flushed: CAUSE`, the end of
/// tracking as `untracked`.
#[derive(Debug, Default)]
pub struct RecordedReports(Mutex<Vec<String>>);

impl RecordedReports {
    /// What it was told so far, in order.
    pub fn reports(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Invalidations for RecordedReports {
    fn changed(&self, key: &str) {
        self.lock().push(key.to_owned());
    }

    fn flushed(&self, cause: FlushCause) {
        self.lock().push(format!("flushed: {cause}"));
    }

    fn untracked(&self) {
        self.lock().push("untracked".to_owned());
    }
}

/// A [`BlockingStore`] seen as a [`Store`]: each call runs on tokio's
/// blocking pool, so the async suite exercises the blocking client from
/// many threads.
pub struct BlockingAsAsync(pub Arc<dyn BlockingStore>);

impl Backend for BlockingAsAsync {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    fn system(&self) -> &'static str {
        self.0.system()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn health(&self) -> Option<Health> {
        self.0.health()
    }
}

#[async_trait]
impl Store for BlockingAsAsync {
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        let (store, key, options) = (Arc::clone(&self.0), key.to_owned(), *options);
        blocking(move || store.read(&key, &options)).await
    }

    async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        let (store, key, options) = (Arc::clone(&self.0), key.to_owned(), *options);
        blocking(move || store.write(&key, value, &options)).await
    }

    async fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        let (store, key, options) = (Arc::clone(&self.0), key.to_owned(), *options);
        blocking(move || store.remove(&key, &options)).await
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        let (store, keys) = (Arc::clone(&self.0), keys.clone());
        blocking(move || store.delete_matching(&keys)).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        blocking(move || store.ttl(&key)).await
    }

    async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        let (token, action, timeout) = (request.token.to_owned(), request.action, request.timeout);
        blocking(move || store.lock(&key, &LockRequest::new(&token, action).timeout(timeout))).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking store call panicked")
}

/// A store whose every operation fails, as a dead server does.
#[derive(Debug, Default)]
pub struct FailingStore {
    calls: AtomicUsize,
}

impl FailingStore {
    /// How many operations were attempted.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn fail<T>(&self) -> Result<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Error::backend(
            "failing",
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
        ))
    }
}

impl Backend for FailingStore {
    fn backend(&self) -> &'static str {
        "failing"
    }
}

#[async_trait]
impl Store for FailingStore {
    async fn read(&self, _: &str, _: &ReadOptions) -> Result<Option<Entry>> {
        self.fail()
    }
    async fn write(&self, _: &str, _: Bytes, _: &WriteOptions) -> Result<()> {
        self.fail()
    }
    async fn remove(&self, _: &str, _: &RemoveOptions) -> Result<bool> {
        self.fail()
    }
    async fn delete_matching(&self, _: &KeyMatch) -> Result<u64> {
        self.fail()
    }
}

impl BlockingStore for FailingStore {
    fn read(&self, _: &str, _: &ReadOptions) -> Result<Option<Entry>> {
        self.fail()
    }
    fn write(&self, _: &str, _: Bytes, _: &WriteOptions) -> Result<()> {
        self.fail()
    }
    fn remove(&self, _: &str, _: &RemoveOptions) -> Result<bool> {
        self.fail()
    }
    fn delete_matching(&self, _: &KeyMatch) -> Result<u64> {
        self.fail()
    }
}

/// Checks on short-lived entries without a timing margin.
///
/// What a check reads of an entry written with a life of [`life`](Self::new)
/// proves something only if the read came before the entry expired, and a
/// loaded machine may stall a check for longer than any life. So a check
/// runs in tries: each [`begin`](Self::begin)s, writes and reads, and is
/// kept only if it [`fitted`](Self::fitted) in the life (else it runs
/// again, with a key of its own); and a check that an entry is gone waits
/// [`until_expired`](Self::until_expired), which is when the entry has
/// expired however late the wait wakes up.
#[derive(Debug)]
pub struct ShortLife {
    life: Duration,
    began: Instant,
    tries: u32,
}

impl ShortLife {
    /// How many tries a check gets before it fails: only a machine stalled
    /// for a whole life a hundred times in a row runs out of them.
    const TRIES: u32 = 100;

    /// Tries with entries that live `life`.
    pub fn new(life: Duration) -> Self {
        ShortLife {
            life,
            began: Instant::now(),
            tries: 0,
        }
    }

    /// The life of the entries the check writes.
    pub fn life(&self) -> Duration {
        self.life
    }

    /// Starts a try, before its write.
    ///
    /// # Panics
    ///
    /// After a hundred tries that each took longer than the
    /// life.
    pub fn begin(&mut self) {
        assert!(
            self.tries < Self::TRIES,
            "{} tries each took longer than the {:?} life of their entry",
            self.tries,
            self.life
        );
        self.tries += 1;
        self.began = Instant::now();
    }

    /// Whether the try begun last ended (now) within the life of the
    /// entries it wrote: what it read of them was read before they expired.
    pub fn fitted(&self) -> bool {
        self.began.elapsed() < self.life
    }

    /// How long from now until an entry written with the life, whose write
    /// returned at `landed`, has expired: its life after `landed`, and a
    /// millisecond more (the resolution of Redis' expiry).
    pub fn until_expired(&self, landed: Instant) -> Duration {
        (landed + self.life + Duration::from_millis(1)).saturating_duration_since(Instant::now())
    }
}

// ---------------------------------------------------------------------------
// The store conformance suite.

/// get/set/delete, and an overwrite replacing the value.
pub async fn get_set_delete(store: &dyn Store) {
    let key = unique_prefix("get-set-delete");
    assert_eq!(store.get(&key).await.unwrap(), None);
    store
        .set(&key, Bytes::from_static(b"one"), None)
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"one"[..]));
    store
        .set(&key, Bytes::from_static(b"two"), None)
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"two"[..]));
    assert!(store.delete(&key).await.unwrap());
    assert!(!store.delete(&key).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap(), None);
}

/// Every byte value, the empty value and a value with NULs come back as
/// they went in.
pub async fn binary_safe_values(store: &dyn Store) {
    let prefix = unique_prefix("binary");
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    for (i, value) in [all_bytes, Vec::new(), b"\0a\0\r\n\xff".to_vec()]
        .into_iter()
        .enumerate()
    {
        let key = format!("{prefix}:{i}");
        store
            .set(&key, Bytes::from(value.clone()), None)
            .await
            .unwrap();
        assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&value[..]));
        store.delete(&key).await.unwrap();
    }
}

/// Values of several MiB.
pub async fn large_values(store: &dyn Store) {
    let key = unique_prefix("large");
    let value: Vec<u8> = (0..6 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    store
        .set(&key, Bytes::from(value.clone()), None)
        .await
        .unwrap();
    let back = store.get(&key).await.unwrap().expect("large value stored");
    assert_eq!(back.len(), value.len());
    assert!(back == value, "large value came back altered");
    store.delete(&key).await.unwrap();
}

/// `ttl` reports missing, persistent and expiring keys.
pub async fn ttl_is_reported(store: &dyn Store) {
    let key = unique_prefix("ttl");
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Missing);
    store
        .set(&key, Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Persistent);
    store
        .set(
            &key,
            Bytes::from_static(b"v"),
            Some(Duration::from_secs(100)),
        )
        .await
        .unwrap();
    match store.ttl(&key).await.unwrap() {
        KeyTtl::Expires(left) => assert!(
            left > Duration::from_secs(90) && left <= Duration::from_secs(100),
            "ttl {left:?} out of range"
        ),
        other => panic!("expected an expiring key, got {other:?}"),
    }
    store.delete(&key).await.unwrap();
}

/// `read` finds what `get` finds; a store whose capabilities say
/// `ttl_in_read` reports the remaining life with the value, as `ttl` does,
/// and others leave it empty.
pub async fn reads_report_what_the_store_can(store: &dyn Store) {
    let key = unique_prefix("read");
    let with_ttl = ReadOptions::new().with_ttl(true);
    assert_eq!(store.read(&key, &with_ttl).await.unwrap(), None);
    let capable = store.capabilities().ttl_in_read;
    for (expire, check) in [
        (Some(Duration::from_secs(100)), "expiring"),
        (None, "persistent"),
    ] {
        store
            .set(&key, Bytes::from_static(b"v"), expire)
            .await
            .unwrap();
        let entry = store.read(&key, &with_ttl).await.unwrap().expect("written");
        assert_eq!(entry.value, Bytes::from_static(b"v"));
        match (capable, entry.ttl, expire) {
            (false, None, _) | (true, Some(KeyTtl::Persistent), None) => {}
            (true, Some(KeyTtl::Expires(left)), Some(_)) => assert!(
                left > Duration::from_secs(90) && left <= Duration::from_secs(100),
                "ttl {left:?} out of range"
            ),
            (_, ttl, _) => panic!("{check} key read with ttl_in_read={capable}: {ttl:?}"),
        }
        let plain = store.read(&key, &ReadOptions::new()).await.unwrap();
        assert_eq!(
            plain.map(|entry| entry.value),
            Some(Bytes::from_static(b"v"))
        );
    }
    store.delete(&key).await.unwrap();
}

/// An entry is gone once its expiry has passed, and kept until then.
pub async fn entries_expire(store: &dyn Store) {
    let mut short = ShortLife::new(Duration::from_millis(200));
    let (key, landed, read) = loop {
        short.begin();
        let key = unique_prefix("expire");
        store
            .set(&key, Bytes::from_static(b"v"), Some(short.life()))
            .await
            .unwrap();
        let landed = Instant::now();
        let read = store.get(&key).await.unwrap();
        if short.fitted() {
            break (key, landed, read);
        }
    };
    assert!(read.is_some(), "gone too early");
    tokio::time::sleep(short.until_expired(landed)).await;
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "still there after expiry"
    );
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Missing);
}

/// An overwrite replaces the expiry, as Redis' `SET` does: a write without
/// expiry makes an expiring key persistent and vice versa.
pub async fn overwrite_replaces_ttl(store: &dyn Store) {
    let key = unique_prefix("overwrite-ttl");
    let mut short = ShortLife::new(Duration::from_millis(200));
    store
        .set(&key, Bytes::from_static(b"a"), Some(short.life()))
        .await
        .unwrap();
    let landed = Instant::now();
    store
        .set(&key, Bytes::from_static(b"b"), None)
        .await
        .unwrap();
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Persistent);
    tokio::time::sleep(short.until_expired(landed)).await;
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"b"[..]));
    let (landed, ttl) = loop {
        short.begin();
        store
            .set(&key, Bytes::from_static(b"c"), Some(short.life()))
            .await
            .unwrap();
        let landed = Instant::now();
        let ttl = store.ttl(&key).await.unwrap();
        if short.fitted() {
            break (landed, ttl);
        }
    };
    assert!(matches!(ttl, KeyTtl::Expires(_)));
    tokio::time::sleep(short.until_expired(landed)).await;
    assert_eq!(store.get(&key).await.unwrap(), None);
}

/// A store with [`Capabilities::locks`] gives an entry's lock to one
/// holder at a time; only the holder extends and releases it; it lasts its
/// lease; it is not the entry; and clearing the entry's namespace removes
/// it. A store without locks refuses them.
pub async fn locks_have_one_holder(store: &dyn Store) {
    let namespace = unique_prefix("locks");
    let key_of = |i: usize| cache_key(&namespace, &Args::new().arg(&i), &[], &crate::Sha256);
    let (key, other) = (key_of(1).unwrap(), key_of(2).unwrap());
    let long = Duration::from_secs(60);
    let acquire = |token| LockRequest::new(token, LockAction::Acquire(long));
    if !store.capabilities().locks {
        assert!(store.lock(&key, &acquire("a")).await.is_err());
        return;
    }
    let extend = |token| LockRequest::new(token, LockAction::Extend(long));
    let release = |token| LockRequest::new(token, LockAction::Release);
    assert!(store.lock(&key, &acquire("a")).await.unwrap());
    assert!(
        store.lock(&key, &acquire("a")).await.unwrap(),
        "its holder asked again"
    );
    assert!(
        !store.lock(&key, &acquire("b")).await.unwrap(),
        "two holders"
    );
    assert!(
        !store.lock(&key, &extend("b")).await.unwrap(),
        "extended by another"
    );
    assert!(
        !store.lock(&key, &release("b")).await.unwrap(),
        "released by another"
    );
    assert!(store.lock(&key, &extend("a")).await.unwrap());
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "the lock reads as the entry"
    );
    assert!(store.lock(&key, &release("a")).await.unwrap());
    assert!(
        !store.lock(&key, &release("a")).await.unwrap(),
        "released twice"
    );
    assert!(
        store.lock(&key, &acquire("b")).await.unwrap(),
        "not free once released"
    );

    store
        .delete_matching(&KeyMatch::Namespace(namespace.clone()))
        .await
        .unwrap();
    assert!(
        store.lock(&key, &acquire("c")).await.unwrap(),
        "the lock outlived its namespace's clear"
    );
    assert!(store.lock(&key, &release("c")).await.unwrap());

    // A holder that never releases blocks nobody past its lease.
    let short = LockRequest::new("d", LockAction::Acquire(Duration::from_millis(50)));
    assert!(store.lock(&other, &short).await.unwrap());
    let start = Instant::now();
    while !store.lock(&other, &acquire("e")).await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.lock(&other, &release("e")).await.unwrap());
}

/// `delete_matching` with a prefix removes exactly the keys under it,
/// taking glob characters literally; with a namespace, only its entries.
pub async fn delete_matching_is_exact(store: &dyn Store) {
    let base = unique_prefix("prefix");
    let doomed: Vec<String> = (0..150).map(|i| format!("{base}:a?c*[x]\\:{i}")).collect();
    let kept = [
        format!("{base}:abc*[x]\\:1"),
        format!("{base}:a?c*x\\:2"),
        format!("{base}:a?"),
        format!("{base}:b"),
    ];
    for key in doomed.iter().chain(&kept) {
        store
            .set(key, Bytes::from_static(b"v"), None)
            .await
            .unwrap();
    }
    let removed = store
        .delete_matching(&KeyMatch::Prefix(format!("{base}:a?c*[x]\\:")))
        .await
        .unwrap();
    assert_eq!(removed, doomed.len() as u64);
    for key in &doomed {
        assert_eq!(store.get(key).await.unwrap(), None, "{key} survived");
    }
    for key in &kept {
        assert!(store.get(key).await.unwrap().is_some(), "{key} was removed");
        store.delete(key).await.unwrap();
    }

    // A namespace's entries, not its nested namespace's nor other keys.
    let namespace = format!("{base}:ns[1]");
    let key_of = |ns: &str, i: usize| {
        cache_key(ns, &Args::new().arg(&i).kwarg("k", &i), &[], &crate::Sha256).unwrap()
    };
    let entries: Vec<String> = (0..120).map(|i| key_of(&namespace, i)).collect();
    let others = [
        key_of(&format!("{namespace}:sub"), 1),
        format!("{namespace}:sub"),
        format!("{namespace}:config"),
        namespace.clone(),
    ];
    for key in entries.iter().chain(&others) {
        store
            .set(key, Bytes::from_static(b"v"), None)
            .await
            .unwrap();
    }
    let removed = store
        .delete_matching(&KeyMatch::Namespace(namespace.clone()))
        .await
        .unwrap();
    assert_eq!(removed, entries.len() as u64);
    for key in &others {
        assert!(store.get(key).await.unwrap().is_some(), "{key} was removed");
        store.delete(key).await.unwrap();
    }
}

/// Many tasks reading and writing at once, on their own keys and on a
/// shared one.
pub async fn concurrent_tasks(store: Arc<dyn Store>) {
    let base = unique_prefix("concurrent");
    let shared = format!("{base}:shared");
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (store, base, shared) = (Arc::clone(&store), base.clone(), shared.clone());
            tokio::spawn(async move {
                for i in 0..20 {
                    let key = format!("{base}:{t}:{i}");
                    let value = Bytes::from(format!("{t}-{i}"));
                    store.set(&key, value.clone(), None).await.unwrap();
                    assert_eq!(store.get(&key).await.unwrap(), Some(value));
                    store
                        .set(&shared, Bytes::from(format!("{t}")), None)
                        .await
                        .unwrap();
                    let seen = store.get(&shared).await.unwrap().expect("shared key set");
                    let seen: usize = std::str::from_utf8(&seen).unwrap().parse().unwrap();
                    assert!(seen < 64);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task panicked");
    }
    assert_eq!(
        store
            .delete_matching(&KeyMatch::Prefix(format!("{base}:")))
            .await
            .unwrap(),
        64 * 20 + 1
    );
}

/// Generates a `#[tokio::test]` per store conformance check. `$make` is an
/// async expression giving an `Arc<dyn Store>`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            get_set_delete, binary_safe_values, large_values, ttl_is_reported,
            reads_report_what_the_store_can, entries_expire, overwrite_replaces_ttl,
            delete_matching_is_exact, locks_have_one_holder);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_concurrent_tasks() {
            let store: ::std::sync::Arc<dyn $crate::Store> = $make;
            $crate::testing::concurrent_tasks(store).await;
        }
    };
    (@tests $make:expr; $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let store: ::std::sync::Arc<dyn $crate::Store> = $make;
            $crate::testing::$check(&*store).await;
        }
    )*};
}
