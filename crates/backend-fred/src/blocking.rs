//! The blocking adapter: the async store, driven by a small runtime of its
//! own. fred is async-only, so this is not a second client: every call
//! runs [`FredStore`]'s own code.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use memocache_core::{
    BlockingStore, Bytes, Capabilities, Entry, Error, Health, KeyMatch, KeyTtl, ReadOptions,
    RedisConfig, Result, Store, WriteOptions,
};
use tokio::runtime::{Handle, Runtime};

use crate::connect::{BACKEND, backend_error};
use crate::store::FredStore;

/// A [`BlockingStore`] over a [`FredStore`] that runs on a runtime owned
/// by the adapter (one worker thread, which also keeps the connections and
/// their reconnection going between calls). Cheap to clone (clones share
/// the store, its [`Health`] and the runtime). An operation given a
/// timeout ([`ReadOptions::timeout`], as a memoizer's operation timeout is)
/// is given up after it.
///
/// Each call hands its operation to that runtime and waits for the
/// answer, so it works from any thread, `spawn_blocking` included, and
/// never panics for being called inside a runtime. Called from async code
/// it blocks the calling worker thread until the answer, as any blocking
/// client does: there, use [`FredStore`] itself.
///
/// ```no_run
/// # fn demo() -> memocache_core::Result<()> {
/// use memocache_core::{Args, Memoizer, RedisConfig};
/// use memocache_fred::FredBlockingStore;
///
/// let store = FredBlockingStore::connect(&RedisConfig::new().url("redis://127.0.0.1:6379/0"))?;
/// let memo = Memoizer::builder(store).namespace("math").build();
/// let square = memo.call_blocking(&Args::new().arg(&12), || 12 * 12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FredBlockingStore {
    // Dropped first: its tasks are stopped before the runtime goes.
    store: FredStore,
    runtime: Arc<OwnedRuntime>,
}

impl FredBlockingStore {
    /// Starts the adapter's runtime and connects as
    /// [`FredStore::connect`] does; needs no runtime of the caller's.
    ///
    /// # Errors
    ///
    /// As [`FredStore::connect`]; a backend error if the runtime cannot be
    /// started.
    pub fn connect(config: &RedisConfig) -> Result<Self> {
        let runtime = OwnedRuntime::start()?;
        let config = config.clone();
        let store = run(runtime.handle(), async move {
            FredStore::connect(&config).await
        })?;
        Ok(FredBlockingStore {
            store,
            runtime: Arc::new(runtime),
        })
    }

    /// Starts the adapter's runtime and connects in the background, as
    /// [`FredStore::connect_lazy`] does: a service can start while Redis is
    /// down.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error if the runtime cannot be started.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        let runtime = OwnedRuntime::start()?;
        let config = config.clone();
        let store = run(
            runtime.handle(),
            async move { FredStore::connect_lazy(&config) },
        )?;
        Ok(FredBlockingStore {
            store,
            runtime: Arc::new(runtime),
        })
    }

    /// Runs one operation of the async store on the adapter's runtime.
    fn call<T, F, Fut>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(FredStore) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.call_within(None, operation)
    }

    /// [`call`](Self::call), given up after `limit` if given.
    fn call_within<T, F, Fut>(&self, limit: Option<Duration>, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(FredStore) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let operation = operation(self.store.clone());
        run(self.runtime.handle(), async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, operation)
                    .await
                    .unwrap_or(Err(Error::Timeout(limit))),
                None => operation.await,
            }
        })
    }
}

/// Runs `operation` on `runtime` and waits for its answer on this thread.
///
/// A plain channel rather than `Runtime::block_on`, which panics when the
/// calling thread is inside a runtime.
fn run<T: Send + 'static>(
    runtime: &Handle,
    operation: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The caller is waiting on `answered`, so it is still there.
        let _ = answer.send(operation.await);
    });
    answered.recv().unwrap_or_else(|_| {
        Err(backend_error(
            "the fred adapter's runtime stopped before the operation finished",
        ))
    })
}

/// The adapter's runtime, shut down without blocking when the last clone
/// goes, so dropping the adapter inside async code does not panic.
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn start() -> Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("memocache-fred")
            .enable_all()
            .build()
            .map(|runtime| OwnedRuntime(Some(runtime)))
            .map_err(backend_error)
    }

    fn handle(&self) -> &Handle {
        self.0
            .as_ref()
            .expect("the runtime is only taken on drop")
            .handle()
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for FredBlockingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FredBlockingStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl BlockingStore for FredBlockingStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = key.to_owned();
        self.call(|store| async move { store.get(&key).await })
    }

    fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        let key = key.to_owned();
        self.call(|store| async move { store.set(&key, value, expire).await })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let key = key.to_owned();
        self.call(|store| async move { store.delete(&key).await })
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let key = key.to_owned();
        self.call(|store| async move { store.ttl(&key).await })
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        let keys = keys.clone();
        self.call(|store| async move { store.delete_matching(&keys).await })
    }

    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        let (key, options) = (key.to_owned(), *options);
        self.call_within(options.timeout, |store| async move {
            store.read(&key, &options).await
        })
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        let (key, options) = (key.to_owned(), *options);
        self.call_within(options.timeout, |store| async move {
            store.write(&key, value, &options).await
        })
    }

    fn capabilities(&self) -> Capabilities {
        Store::capabilities(&self.store).bounded_operations(true)
    }

    fn health(&self) -> Option<Health> {
        Store::health(&self.store)
    }
}
