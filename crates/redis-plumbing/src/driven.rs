//! A [`BlockingStore`] that runs an async [`Store`]'s own code on a small
//! runtime of its own: fred is async-only, and redis-rs' blocking cluster
//! connection cannot carry invalidation pushes, so their blocking stores
//! are this adapter over the async one rather than a second client.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use memocache_core::{
    Backend, BlockingStore, Bytes, Capabilities, Entry, Error, Health, Invalidations, KeyMatch,
    KeyTtl, LockRequest, ReadOptions, RemoveOptions, Result, Store, WriteOptions,
};
use tokio::runtime::{Handle, Runtime};

/// A [`BlockingStore`] over the async store `S`, which runs on a runtime
/// owned by the adapter (one worker thread, which also keeps `S`'s
/// connections and their reconnection going between calls). Cheap to
/// clone (clones share the store and the runtime). An operation given a
/// timeout ([`ReadOptions::timeout`]) is given up after it.
///
/// Each call hands its operation to that runtime and waits for the
/// answer, so it works from any thread, `spawn_blocking` included, and
/// never panics for being called inside a runtime.
pub struct Driven<S> {
    // Dropped first: its tasks are stopped before the runtime goes.
    store: S,
    runtime: Arc<OwnedRuntime>,
}

impl<S> Clone for Driven<S>
where
    S: Clone,
{
    fn clone(&self) -> Self {
        Driven {
            store: self.store.clone(),
            runtime: Arc::clone(&self.runtime),
        }
    }
}

impl<S> Driven<S>
where
    S: Store + Clone + 'static,
{
    /// Starts the runtime and makes the store on it with `make` (which may
    /// connect); `backend` names the client in the error of a runtime that
    /// cannot start.
    ///
    /// # Errors
    ///
    /// `make`'s error, or a backend error if the runtime cannot be started.
    pub fn start<F, Fut>(backend: &'static str, thread_name: &str, make: F) -> Result<Self>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
    {
        let runtime = OwnedRuntime::start(backend, thread_name)?;
        let store = run(backend, runtime.handle(), async move { make().await })?;
        Ok(Driven {
            store,
            runtime: Arc::new(runtime),
        })
    }

    /// The adapter over `store`, made already, whose operations run on
    /// the store's own runtime (started now if it was not), which every
    /// blocking view of the store shares.
    ///
    /// # Errors
    ///
    /// A backend error if the runtime cannot be started.
    pub fn on(store: S, runtime: &StoreRuntime, thread_name: &str) -> Result<Self> {
        let backend = store.backend();
        Ok(Driven {
            runtime: runtime.get_or_start(backend, thread_name)?,
            store,
        })
    }

    /// The async store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs one operation of the async store on the runtime.
    fn call<T, F, Fut>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.call_within(None, operation)
    }

    /// [`call`](Self::call), given up after `limit` if given.
    fn call_within<T, F, Fut>(&self, limit: Option<Duration>, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let operation = operation(self.store.clone());
        run(self.store.backend(), self.runtime.handle(), async move {
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
    backend: &'static str,
    runtime: &Handle,
    operation: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The caller is waiting on `answered`, so it is still there.
        let _ = answer.send(operation.await);
    });
    answered.recv().unwrap_or_else(|_| {
        Err(Error::backend(
            backend,
            "the blocking adapter's runtime stopped before the operation finished",
        ))
    })
}

/// The runtime of an async store's own (one worker thread), started on
/// first need and shared by the store's clones: where the store's
/// connections run when it is made outside any runtime
/// ([`make_inside`](Self::make_inside)), and where its blocking views
/// ([`Driven::on`]) run their operations. Shut down when the last clone
/// goes.
#[derive(Clone, Default)]
pub struct StoreRuntime(Arc<OnceLock<Arc<OwnedRuntime>>>);

impl StoreRuntime {
    /// Runs `make` (which makes a store, spawning its connections' tasks)
    /// where they can live as long as the store: inside the caller's tokio
    /// runtime if there is one, else inside this runtime, started now.
    ///
    /// # Errors
    ///
    /// `make`'s error; a backend error if the runtime cannot be started.
    pub fn make_inside<T>(
        &self,
        backend: &'static str,
        thread_name: &str,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if Handle::try_current().is_ok() {
            return make();
        }
        let runtime = self.get_or_start(backend, thread_name)?;
        let _inside = runtime.handle().enter();
        make()
    }

    fn get_or_start(&self, backend: &'static str, thread_name: &str) -> Result<Arc<OwnedRuntime>> {
        if let Some(runtime) = self.0.get() {
            return Ok(Arc::clone(runtime));
        }
        let started = Arc::new(OwnedRuntime::start(backend, thread_name)?);
        // A concurrent starter's runtime may have won: this one then goes.
        Ok(Arc::clone(self.0.get_or_init(|| started)))
    }
}

impl fmt::Debug for StoreRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRuntime")
            .field("started", &self.0.get().is_some())
            .finish()
    }
}

/// The adapter's runtime, shut down without blocking when the last clone
/// goes, so dropping the adapter inside async code does not panic.
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    fn start(backend: &'static str, thread_name: &str) -> Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map(|runtime| OwnedRuntime(Some(runtime)))
            .map_err(|e| Error::backend(backend, e))
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

impl<S: fmt::Debug> fmt::Debug for Driven<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driven")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<S> Backend for Driven<S>
where
    S: Store + Clone + 'static,
{
    fn backend(&self) -> &'static str {
        self.store.backend()
    }

    fn system(&self) -> &'static str {
        self.store.system()
    }

    fn capabilities(&self) -> Capabilities {
        self.store.capabilities().bounded_operations(true)
    }

    fn health(&self) -> Option<Health> {
        self.store.health()
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.store.track_changes(tier)
    }
}

impl<S> BlockingStore for Driven<S>
where
    S: Store + Clone + 'static,
{
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

    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        let (key, options) = (key.to_owned(), *options);
        self.call_within(options.timeout, |store| async move {
            store.remove(&key, &options).await
        })
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        let keys = keys.clone();
        self.call(|store| async move { store.delete_matching(&keys).await })
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let key = key.to_owned();
        self.call(|store| async move { store.ttl(&key).await })
    }

    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let (key, token, action) = (key.to_owned(), request.token.to_owned(), request.action);
        self.call_within(request.timeout, |store| async move {
            store.lock(&key, &LockRequest::new(&token, action)).await
        })
    }
}
