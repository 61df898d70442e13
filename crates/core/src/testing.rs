//! Conformance suites shared by every backend's tests.
//!
//! **Not a stable API**: this module exists so that one suite, written once,
//! runs against the memory store, Redis, Redis Cluster and fred. The
//! [`store_conformance_tests!`](crate::store_conformance_tests) and
//! [`memoizer_behaviour_tests!`](crate::memoizer_behaviour_tests) macros turn
//! it into `#[tokio::test]` functions in the calling test crate (which needs
//! `tokio` with the `macros` and `rt-multi-thread` features).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    Args, BlockingStore, BreakerPolicy, BreakerState, Codec, Condition, Error, JsonZlib, KeyMatch,
    KeyTtl, Memoizer, Result, Stats, Store, cache_key,
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

/// A [`BlockingStore`] seen as a [`Store`]: each call runs on tokio's
/// blocking pool, so the async suite exercises the blocking client from
/// many threads.
pub struct BlockingAsAsync(pub Arc<dyn BlockingStore>);

#[async_trait]
impl Store for BlockingAsAsync {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        blocking(move || store.get(&key)).await
    }

    async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        blocking(move || store.set(&key, value, expire)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        blocking(move || store.delete(&key)).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let (store, key) = (Arc::clone(&self.0), key.to_owned());
        blocking(move || store.ttl(&key)).await
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        let (store, keys) = (Arc::clone(&self.0), keys.clone());
        blocking(move || store.delete_matching(&keys)).await
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

#[async_trait]
impl Store for FailingStore {
    fn backend(&self) -> &'static str {
        "failing"
    }
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        self.fail()
    }
    async fn set(&self, _: &str, _: Bytes, _: Option<Duration>) -> Result<()> {
        self.fail()
    }
    async fn delete(&self, _: &str) -> Result<bool> {
        self.fail()
    }
    async fn ttl(&self, _: &str) -> Result<KeyTtl> {
        self.fail()
    }
    async fn delete_matching(&self, _: &KeyMatch) -> Result<u64> {
        self.fail()
    }
}

impl BlockingStore for FailingStore {
    fn backend(&self) -> &'static str {
        "failing"
    }
    fn get(&self, _: &str) -> Result<Option<Bytes>> {
        self.fail()
    }
    fn set(&self, _: &str, _: Bytes, _: Option<Duration>) -> Result<()> {
        self.fail()
    }
    fn delete(&self, _: &str) -> Result<bool> {
        self.fail()
    }
    fn ttl(&self, _: &str) -> Result<KeyTtl> {
        self.fail()
    }
    fn delete_matching(&self, _: &KeyMatch) -> Result<u64> {
        self.fail()
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

/// An entry is gone once its expiry has passed, and kept until then.
pub async fn entries_expire(store: &dyn Store) {
    let key = unique_prefix("expire");
    store
        .set(
            &key,
            Bytes::from_static(b"v"),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(store.get(&key).await.unwrap().is_some(), "gone too early");
    tokio::time::sleep(Duration::from_millis(450)).await;
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
    store
        .set(
            &key,
            Bytes::from_static(b"a"),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    store
        .set(&key, Bytes::from_static(b"b"), None)
        .await
        .unwrap();
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Persistent);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"b"[..]));
    store
        .set(
            &key,
            Bytes::from_static(b"c"),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(matches!(store.ttl(&key).await.unwrap(), KeyTtl::Expires(_)));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get(&key).await.unwrap(), None);
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
            entries_expire, overwrite_replaces_ttl, delete_matching_is_exact);

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

// ---------------------------------------------------------------------------
// The Memoizer behaviour suite.

/// The same data seen through a backend's async and (if it has one)
/// blocking client.
#[derive(Clone)]
pub struct Stores {
    /// The async client.
    pub async_store: Arc<dyn Store>,
    /// The blocking client, where the backend has one.
    pub blocking_store: Option<Arc<dyn BlockingStore>>,
}

/// Which of the Memoizer's paths a behaviour check goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `call` / `try_call` / `cache_data`.
    Async,
    /// `call_blocking` / `try_call_blocking` / `cache_data_blocking`, run on
    /// tokio's blocking pool.
    Blocking,
}

/// The policy a check configures, applied to either path's memoizer.
#[derive(Clone, Default)]
pub struct Policy {
    /// See [`MemoizerBuilder::namespace`](crate::MemoizerBuilder::namespace).
    pub namespace: String,
    /// See [`MemoizerBuilder::expire`](crate::MemoizerBuilder::expire).
    pub expire: Option<Duration>,
    /// See [`MemoizerBuilder::cache_only_for`](crate::MemoizerBuilder::cache_only_for).
    pub cache_only_for: Option<Vec<Condition>>,
    /// See [`MemoizerBuilder::skip_cache_keys`](crate::MemoizerBuilder::skip_cache_keys).
    pub skip_cache_keys: Vec<String>,
    /// See [`MemoizerBuilder::op_timeout`](crate::MemoizerBuilder::op_timeout);
    /// `None` keeps the default.
    pub op_timeout: Option<Duration>,
    /// See [`MemoizerBuilder::circuit_breaker`](crate::MemoizerBuilder::circuit_breaker);
    /// `None` keeps the default.
    pub breaker: Option<BreakerPolicy>,
}

impl Policy {
    fn in_namespace(label: &str) -> Self {
        Policy {
            namespace: unique_prefix(label),
            ..Policy::default()
        }
    }

    /// A memoizer over `store` with this policy.
    pub fn build<S>(&self, store: S) -> Memoizer<S> {
        let mut builder = Memoizer::builder(store)
            .namespace(self.namespace.clone())
            .expire(self.expire.unwrap_or_default())
            .skip_cache_keys(self.skip_cache_keys.clone());
        if let Some(conditions) = &self.cache_only_for {
            builder = builder.cache_only_for(conditions.clone());
        }
        if let Some(timeout) = self.op_timeout {
            builder = builder.op_timeout(Some(timeout));
        }
        if let Some(breaker) = self.breaker {
            builder = builder.circuit_breaker(Some(breaker));
        }
        builder.build()
    }
}

/// A memoizer on one path, called the same way whichever it is.
#[derive(Clone)]
pub enum Caller {
    /// Through the async client.
    Async(Memoizer<Arc<dyn Store>>),
    /// Through the blocking client.
    Blocking(Memoizer<Arc<dyn BlockingStore>>),
}

impl Caller {
    /// A memoizer with `policy` on `path` of `stores`.
    ///
    /// # Panics
    ///
    /// If `path` is [`Path::Blocking`] and the backend has no blocking client.
    pub fn new(stores: &Stores, path: Path, policy: &Policy) -> Self {
        match path {
            Path::Async => Caller::Async(policy.build(Arc::clone(&stores.async_store))),
            Path::Blocking => Caller::Blocking(
                policy.build(Arc::clone(
                    stores
                        .blocking_store
                        .as_ref()
                        .expect("this backend has no blocking client"),
                )),
            ),
        }
    }

    /// The key of a call.
    pub fn key(&self, args: &Args) -> String {
        match self {
            Caller::Async(m) => m.key(args),
            Caller::Blocking(m) => m.key(args),
        }
        .expect("key")
    }

    /// `call` (then `flush`, so the store holds the write) or
    /// `call_blocking`.
    pub async fn call<T, F>(&self, args: Args, compute: F) -> T
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self {
            Caller::Async(m) => {
                let value = m.call(&args, || async move { compute() }).await;
                m.flush().await;
                value
            }
            Caller::Blocking(m) => {
                let m = m.clone();
                blocking(move || m.call_blocking(&args, compute)).await
            }
        }
    }

    /// `try_call` (then `flush`) or `try_call_blocking`.
    pub async fn try_call<T, E, F>(&self, args: Args, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        match self {
            Caller::Async(m) => {
                let result = m.try_call(&args, || async move { compute() }).await;
                m.flush().await;
                result
            }
            Caller::Blocking(m) => {
                let m = m.clone();
                blocking(move || m.try_call_blocking(&args, compute)).await
            }
        }
    }

    /// `cache_data` or `cache_data_blocking`.
    pub async fn cache_data<T: Serialize + Send + 'static>(&self, key: &str, value: T) -> T {
        match self {
            Caller::Async(m) => m.cache_data(key, value).await,
            Caller::Blocking(m) => {
                let (m, key) = (m.clone(), key.to_owned());
                blocking(move || m.cache_data_blocking(&key, value)).await
            }
        }
    }

    /// `invalidate` or `invalidate_blocking`.
    pub async fn invalidate(&self, args: Args) -> bool {
        match self {
            Caller::Async(m) => m.invalidate(&args).await,
            Caller::Blocking(m) => {
                let m = m.clone();
                blocking(move || m.invalidate_blocking(&args)).await
            }
        }
        .expect("invalidate")
    }

    /// `clear_namespace` or `clear_namespace_blocking`.
    pub async fn clear_namespace(&self) -> u64 {
        match self {
            Caller::Async(m) => m.clear_namespace().await,
            Caller::Blocking(m) => {
                let m = m.clone();
                blocking(move || m.clear_namespace_blocking()).await
            }
        }
        .expect("clear_namespace")
    }
}

/// Counts how often a computation really ran.
#[derive(Clone, Default)]
pub struct Runs(Arc<AtomicUsize>);

impl Runs {
    /// Records a run and returns `value`.
    pub fn run<T>(&self, value: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        value
    }

    /// How many runs so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A miss runs the computation and stores the result; the same call then
/// hits without running it; other arguments miss.
pub async fn hit_and_miss(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("hit-miss"));
    let runs = Runs::default();
    let args = || Args::new().arg(&7).kwarg("status", &"active");
    for _ in 0..3 {
        let r = runs.clone();
        let value: Vec<String> = caller
            .call(args(), move || r.run(vec!["x".to_owned(); 3]))
            .await;
        assert_eq!(value, vec!["x"; 3]);
    }
    assert_eq!(runs.count(), 1, "the computation ran more than once");
    let r = runs.clone();
    let other: Vec<String> = caller
        .call(Args::new().arg(&8).kwarg("status", &"active"), move || {
            r.run(vec![])
        })
        .await;
    assert!(other.is_empty());
    assert_eq!(runs.count(), 2);
    let stored = stores
        .async_store
        .get(&caller.key(&args()))
        .await
        .unwrap()
        .expect("stored");
    let decoded: Vec<String> = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(decoded, vec!["x"; 3]);
}

/// After `expire`, the computation runs again.
pub async fn entries_expire_and_recompute(stores: &Stores, path: Path) {
    let policy = Policy {
        expire: Some(Duration::from_millis(300)),
        ..Policy::in_namespace("expiry")
    };
    let caller = Caller::new(stores, path, &policy);
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(
            caller.call(Args::new().arg(&1), move || r.run(10)).await,
            10
        );
    }
    assert_eq!(runs.count(), 1);
    match stores
        .async_store
        .ttl(&caller.key(&Args::new().arg(&1)))
        .await
        .unwrap()
    {
        KeyTtl::Expires(left) => assert!(left <= Duration::from_millis(300)),
        other => panic!("expected an expiring entry, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = runs.clone();
    assert_eq!(
        caller.call(Args::new().arg(&1), move || r.run(10)).await,
        10
    );
    assert_eq!(runs.count(), 2, "the expired entry was still served");
}

/// A call that matches no `cache_only_for` condition runs every time and
/// leaves the store untouched; a matching one is cached.
pub async fn conditions_gate_caching(stores: &Stores, path: Path) {
    let policy = Policy {
        cache_only_for: Some(vec![Condition::is_in("status", ["active", "pending"])]),
        ..Policy::in_namespace("conditions")
    };
    let caller = Caller::new(stores, path, &policy);
    let runs = Runs::default();
    let closed = || Args::new().kwarg("status", &"closed");
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(caller.call(closed(), move || r.run(1)).await, 1);
    }
    assert_eq!(runs.count(), 2, "a call outside the conditions was cached");
    assert_eq!(
        stores
            .async_store
            .get(&caller.key(&closed()))
            .await
            .unwrap(),
        None
    );
    for _ in 0..2 {
        let r = runs.clone();
        let args = Args::new().kwarg("status", &"pending");
        assert_eq!(caller.call(args, move || r.run(2)).await, 2);
    }
    assert_eq!(
        runs.count(),
        3,
        "a call inside the conditions was not cached"
    );
}

/// Keyword arguments in `skip_cache_keys` do not change the key.
pub async fn skipped_keys_share_an_entry(stores: &Stores, path: Path) {
    let policy = Policy {
        skip_cache_keys: vec!["request_id".into()],
        ..Policy::in_namespace("skip")
    };
    let caller = Caller::new(stores, path, &policy);
    let runs = Runs::default();
    for request in ["a", "b", "c"] {
        let r = runs.clone();
        let args = Args::new()
            .kwarg("user_id", &5)
            .kwarg("request_id", &request);
        assert_eq!(
            caller.call(args, move || r.run("profile".to_owned())).await,
            "profile"
        );
    }
    assert_eq!(runs.count(), 1);
}

/// A `None` result is cached and served as a hit.
pub async fn none_is_cached(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("none"));
    let runs = Runs::default();
    for _ in 0..3 {
        let r = runs.clone();
        let value: Option<u32> = caller
            .call(Args::new().arg(&"missing"), move || r.run(None))
            .await;
        assert_eq!(value, None);
    }
    assert_eq!(runs.count(), 1, "a None result was not cached");
}

/// An `Err` is never cached; the `Ok` that follows is.
pub async fn errors_are_not_cached(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("errors"));
    let runs = Runs::default();
    let args = || Args::new().kwarg("id", &1);
    for _ in 0..2 {
        let r = runs.clone();
        let result: Result<u32, String> = caller
            .try_call(args(), move || r.run(Err("down".into())))
            .await;
        assert_eq!(result, Err("down".to_owned()));
    }
    assert_eq!(runs.count(), 2, "an Err was cached");
    assert_eq!(
        stores.async_store.get(&caller.key(&args())).await.unwrap(),
        None
    );
    for _ in 0..2 {
        let r = runs.clone();
        let result: Result<u32, String> = caller.try_call(args(), move || r.run(Ok(3))).await;
        assert_eq!(result, Ok(3));
    }
    assert_eq!(runs.count(), 3, "an Ok was not cached");
}

/// A corrupt stored value is a miss, and the computation's result replaces
/// it.
pub async fn corrupt_values_are_misses_and_overwritten(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("corrupt"));
    let codec = JsonZlib::default();
    let wrong_shape = codec.encode(&"not a number").unwrap();
    let non_json = crate::Zlib::default();
    let non_json = crate::Compression::compress(&non_json, b"{not json".to_vec()).unwrap();
    let good = codec.encode(&41u32).unwrap();
    let truncated = good[..good.len() - 3].to_vec();
    for (i, corrupt) in [
        b"random \xff\x00 bytes".to_vec(),
        truncated,
        non_json,
        wrong_shape,
        Vec::new(),
    ]
    .into_iter()
    .enumerate()
    {
        let args = || Args::new().arg(&i);
        let key = caller.key(&args());
        stores
            .async_store
            .set(&key, Bytes::from(corrupt), None)
            .await
            .unwrap();
        let runs = Runs::default();
        let r = runs.clone();
        assert_eq!(caller.call(args(), move || r.run(42u32)).await, 42);
        assert_eq!(runs.count(), 1, "corrupt value {i} was served");
        let stored = stores
            .async_store
            .get(&key)
            .await
            .unwrap()
            .expect("rewritten");
        assert_eq!(
            codec.decode::<u32>(&stored).unwrap(),
            42,
            "value {i} not overwritten"
        );
    }
}

/// `cache_data` writes at exactly the key, with the expiry, and hands the
/// value back.
pub async fn cache_data_writes_the_exact_key(stores: &Stores, path: Path) {
    let policy = Policy {
        expire: Some(Duration::from_secs(60)),
        ..Policy::in_namespace("cache-data")
    };
    let caller = Caller::new(stores, path, &policy);
    let key = format!("{}:user:123", policy.namespace);
    let value = caller.cache_data(&key, vec![("name", "Jo")]).await;
    assert_eq!(value, vec![("name", "Jo")]);
    let stored = stores.async_store.get(&key).await.unwrap().expect("stored");
    let decoded: Vec<(String, String)> = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(decoded, vec![("name".to_owned(), "Jo".to_owned())]);
    assert!(matches!(
        stores.async_store.ttl(&key).await.unwrap(),
        KeyTtl::Expires(_)
    ));
}

/// `invalidate` removes one call's entry; `clear_namespace` the whole
/// namespace and nothing outside it.
pub async fn invalidation(stores: &Stores, path: Path) {
    let policy = Policy::in_namespace("invalidate");
    let caller = Caller::new(stores, path, &policy);
    let neighbour = Caller::new(
        stores,
        path,
        &Policy {
            namespace: format!("{}x", policy.namespace),
            ..Policy::default()
        },
    );
    let runs = Runs::default();
    for i in 0..5 {
        let r = runs.clone();
        caller.call(Args::new().arg(&i), move || r.run(i)).await;
    }
    let r = runs.clone();
    caller.call(Args::new(), move || r.run(-1)).await;
    let r = runs.clone();
    neighbour.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(runs.count(), 7);

    assert!(caller.invalidate(Args::new().arg(&0)).await);
    assert!(!caller.invalidate(Args::new().arg(&0)).await);
    let r = runs.clone();
    caller.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(runs.count(), 8, "the invalidated entry was still served");

    assert_eq!(caller.clear_namespace().await, 6);
    for i in 0..5 {
        assert_eq!(
            stores
                .async_store
                .get(&caller.key(&Args::new().arg(&i)))
                .await
                .unwrap(),
            None
        );
    }
    let r = runs.clone();
    neighbour.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(
        runs.count(),
        8,
        "clearing a namespace touched its neighbour"
    );
}

/// A call right after another with the same arguments is served from the
/// first one's result, even before a background write has landed.
pub async fn read_your_writes_without_flush(stores: &Stores, path: Path) {
    let policy = Policy::in_namespace("read-your-writes");
    let runs = Runs::default();
    match Caller::new(stores, path, &policy) {
        Caller::Async(m) => {
            for _ in 0..3 {
                let r = runs.clone();
                let v: u32 = m
                    .call(&Args::new().arg(&1), || async move { r.run(5) })
                    .await;
                assert_eq!(v, 5);
            }
            m.flush().await;
        }
        caller @ Caller::Blocking(_) => {
            for _ in 0..3 {
                let r = runs.clone();
                assert_eq!(
                    caller.call(Args::new().arg(&1), move || r.run(5u32)).await,
                    5
                );
            }
        }
    }
    assert_eq!(runs.count(), 1);
}

/// Many concurrent callers on one cold key: the computation runs once, the
/// others are merged into it.
pub async fn concurrent_misses_compute_once(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("stampede"));
    let runs = Runs::default();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (caller, r) = (caller.clone(), runs.clone());
            tokio::spawn(async move {
                caller
                    .call(Args::new().arg(&"cold"), move || {
                        std::thread::sleep(Duration::from_millis(200));
                        r.run(99u32)
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("caller panicked"), 99);
    }
    assert_eq!(runs.count(), 1, "the computation ran more than once");
}

/// Generates a `#[tokio::test]` per Memoizer behaviour check on the async
/// path, and with `blocking` also on the blocking path. `$make` is an async
/// expression giving [`Stores`].
#[macro_export]
macro_rules! memoizer_behaviour_tests {
    ($make:expr) => {
        $crate::memoizer_behaviour_tests!(@path Async, async_path, $make);
    };
    ($make:expr, blocking) => {
        $crate::memoizer_behaviour_tests!(@path Async, async_path, $make);
        $crate::memoizer_behaviour_tests!(@path Blocking, blocking_path, $make);
    };
    (@path $path:ident, $module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::memoizer_behaviour_tests!(@tests $path, $make;
                hit_and_miss, entries_expire_and_recompute, conditions_gate_caching,
                skipped_keys_share_an_entry, none_is_cached, errors_are_not_cached,
                corrupt_values_are_misses_and_overwritten, cache_data_writes_the_exact_key,
                invalidation, read_your_writes_without_flush, concurrent_misses_compute_once);
        }
    };
    (@tests $path:ident, $make:expr; $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let stores: $crate::testing::Stores = $make;
            $crate::testing::$check(&stores, $crate::testing::Path::$path).await;
        }
    )*};
}

// ---------------------------------------------------------------------------
// Load for fault tests.

/// Concurrent callers hammering memoizers over a backend's clients, each
/// checking every value it gets, while a test kills, pauses or fails over
/// the server. A wrong value panics its caller, which [`Load::finish`]
/// reports.
pub struct Load {
    async_memo: Memoizer<Arc<dyn Store>>,
    blocking_memo: Option<Memoizer<Arc<dyn BlockingStore>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    calls: Arc<std::sync::atomic::AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts 24 async callers (and 8 blocking ones, where the backend has
    /// a blocking client) on memoizers with `policy`, over 40 keys.
    pub fn start(stores: &Stores, policy: &Policy) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64};

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
        self.stats().iter().map(|s| s.hits + s.merged).sum()
    }

    /// Waits until every breaker is closed and 100 more calls were served
    /// from the cache; answers how long that took.
    ///
    /// # Panics
    ///
    /// If caching has not resumed after `within`.
    pub async fn wait_for_caching(&self, within: Duration) -> Duration {
        let start = std::time::Instant::now();
        let served = self.served();
        loop {
            let closed = self
                .stats()
                .iter()
                .all(|s| s.breaker == BreakerState::Closed);
            if closed && self.served() > served + 100 {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "caching did not resume within {within:?}: {:?}",
                self.stats()
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

impl Drop for Load {
    /// Stops the callers, so that a test failing before
    /// [`finish`](Load::finish) fails instead of hanging: its runtime waits
    /// for the blocking callers when it shuts down.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
