//! Memoizers the suites call the same way on either path: the stores a
//! backend offers ([`Stores`]), the path a check goes through ([`Path`]),
//! the policy it configures ([`Policy`]), the memoizer it calls
//! ([`Caller`]), and a counter of real computations ([`Runs`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, Backend, BlockingStore, BreakerPolicy, Cacheable, Condition, Memoizer, Stats, Store,
};
use serde::Serialize;

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
    /// See [`MemoizerBuilder::namespace`](memocache_core::MemoizerBuilder::namespace).
    pub namespace: String,
    /// See [`MemoizerBuilder::expire`](memocache_core::MemoizerBuilder::expire).
    pub expire: Option<Duration>,
    /// See [`MemoizerBuilder::cache_only_for`](memocache_core::MemoizerBuilder::cache_only_for).
    pub cache_only_for: Option<Vec<Condition>>,
    /// See [`MemoizerBuilder::skip_cache_keys`](memocache_core::MemoizerBuilder::skip_cache_keys).
    pub skip_cache_keys: Vec<String>,
    /// See [`MemoizerBuilder::op_timeout`](memocache_core::MemoizerBuilder::op_timeout);
    /// `None` keeps the default.
    pub op_timeout: Option<Duration>,
    /// See [`MemoizerBuilder::circuit_breaker`](memocache_core::MemoizerBuilder::circuit_breaker);
    /// `None` keeps the default.
    pub breaker: Option<BreakerPolicy>,
}

impl Policy {
    /// The default policy in a namespace no other test uses.
    pub fn in_namespace(label: &str) -> Self {
        Policy {
            namespace: unique_prefix(label),
            ..Policy::default()
        }
    }

    /// A memoizer over `store` with this policy.
    pub fn build<S: Backend>(&self, store: S) -> Memoizer<S> {
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
        T: Cacheable,
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
        T: Cacheable,
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

    /// `get_data` or `get_data_blocking`.
    pub async fn get_data<T: Cacheable>(&self, key: &str) -> Option<T> {
        match self {
            Caller::Async(m) => m.get_data(key).await,
            Caller::Blocking(m) => {
                let (m, key) = (m.clone(), key.to_owned());
                blocking(move || m.get_data_blocking(&key)).await
            }
        }
    }

    /// The memoizer's counters.
    pub fn stats(&self) -> Stats {
        match self {
            Caller::Async(m) => m.stats(),
            Caller::Blocking(m) => m.stats(),
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

/// Runs `f` on tokio's blocking pool and waits for it.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking memoizer call panicked")
}
