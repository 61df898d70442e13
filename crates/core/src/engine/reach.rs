//! How the engine reaches the store: the only part of a call that differs
//! between the async and the blocking entry points.
//!
//! [`Async`] awaits a [`Store`] under the operation timeout and can write
//! in the background; [`Blocking`] calls a [`BlockingStore`] on the
//! caller's thread, handing it the timeout to honour, and writes before
//! returning. Everything else a call decides is written once, in the
//! engine, over [`Reach`].

use std::sync::Weak;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use bytes::Bytes;

use crate::health::Health;
use crate::key::KeyMatch;
use crate::memoizer::Memoizer;
use crate::store::{
    Backend, BlockingStore, Decoded, Entry, LockRequest, ReadOptions, RemoveOptions, Store,
    WriteOptions,
};
use crate::tier::{Changes, Invalidations};
use crate::{Codec, Error, KeyHasher, Result};

use super::lock::{Keeper, Lock};
use super::removals::retry_delays;
use super::{Write, block_on};

/// A memoizer's store, reached one way or the other.
pub(crate) trait Reach {
    /// The entry point's name in logs (the reference's `controller`).
    const CALL: &'static str;

    /// What the store is and offers, whichever way it is reached.
    fn store(&self) -> &dyn Backend;

    /// The backend's name for logs.
    fn backend(&self) -> &'static str {
        self.store().backend()
    }

    /// The store's shared health view, if it has one.
    fn health(&self) -> Option<Health> {
        self.store().health()
    }

    /// [`Backend::track_changes`].
    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.store().track_changes(tier)
    }

    /// [`Store::read`], bounded by `options.timeout`.
    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>>;

    /// [`Store::write`] (or [`Store::write_decoded`], given the value the
    /// bytes decode to), bounded by `options.timeout`.
    async fn write(
        &self,
        key: &str,
        value: Bytes,
        decoded: Option<Decoded>,
        options: WriteOptions,
    ) -> Result<()>;

    /// [`Store::remove`], bounded by `options.timeout`.
    async fn remove(&self, key: &str, options: RemoveOptions) -> Result<bool>;

    /// [`Store::delete_matching`].
    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;

    /// Takes `write` into the background if this way of reaching the store
    /// can; hands it back to be written now otherwise.
    fn write_behind(&self, write: Write) -> Option<Write>;

    /// Makes the memoizer's pending removals again until none waits, in
    /// the background: a task of the current tokio runtime on the async
    /// path (none outside one), a thread of its own on the blocking path.
    fn retry_later(&self);

    /// [`Store::lock`], bounded by `request.timeout`.
    async fn lock(&self, key: &str, request: LockRequest<'_>) -> Result<bool>;

    /// Whether a call can wait here ([`pause`](Self::pause)) and keep a
    /// lock ([`keep_lock`](Self::keep_lock)): on the async path, only
    /// inside a tokio runtime.
    fn can_wait(&self) -> bool;

    /// Waits `wait`, or less if `changes` (with the mark taken before the
    /// last read) reports a change first.
    async fn pause(&self, wait: Duration, changes: Option<(&Changes, u64)>);

    /// Starts the keeper of the held `lock`: it extends the lock every
    /// third of its lease until the returned [`Keeper`] is dropped, then
    /// releases it; a task of the current tokio runtime on the async
    /// path, a thread of its own on the blocking path. `None` when none
    /// could be started (logged): the lock then lasts its lease.
    fn keep_lock(&self, lock: Lock) -> Option<Keeper>;
}

/// The async entry points' way: awaits the store.
pub(crate) struct Async<'a, S, C, H> {
    memo: &'a Memoizer<S, C, H>,
    /// [`write_in_background`] for this store type. A plain function
    /// pointer made where `S: 'static` is known, so that the [`Reach`] impl
    /// needs no `'static` bound (with one, the engine's futures would not
    /// be `Send` over `Arc<dyn Store>`).
    behind: fn(&Memoizer<S, C, H>, Write) -> Option<Write>,
    /// [`retry_in_background`] for this store type, made likewise.
    retry: fn(&Memoizer<S, C, H>),
    /// [`keep_in_task`] for this store type, made likewise.
    keep: fn(&Memoizer<S, C, H>, Lock) -> Option<Keeper>,
}

impl<'a, S: Store + 'static, C: Codec, H: KeyHasher> Async<'a, S, C, H> {
    /// The async way of reaching `memo`'s store.
    pub(crate) fn new(memo: &'a Memoizer<S, C, H>) -> Self {
        Async {
            memo,
            behind: write_in_background::<S, C, H>,
            retry: retry_in_background::<S, C, H>,
            keep: keep_in_task::<S, C, H>,
        }
    }
}

/// Keeps `lock` from a task of the current tokio runtime, if there is one.
fn keep_in_task<S: Store + 'static, C: Codec, H: KeyHasher>(
    memo: &Memoizer<S, C, H>,
    lock: Lock,
) -> Option<Keeper> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let memo = memo.clone();
    runtime.spawn(async move {
        let reach = Async::new(&memo);
        // Until the flight drops its keeper (the channel closes).
        while tokio::time::timeout(lock.beat(), &mut stopped)
            .await
            .is_err()
        {
            if !memo.extend_lock(&reach, &lock).await {
                return;
            }
        }
        memo.release_lock(&reach, &lock).await;
    });
    Some(Box::new(stop))
}

/// Keeps `lock` from a thread of its own.
fn keep_on_thread<S: BlockingStore + 'static, C: Codec, H: KeyHasher>(
    memo: &Memoizer<S, C, H>,
    lock: Lock,
) -> Option<Keeper> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let keeper = memo.clone();
    let spawned = std::thread::Builder::new()
        .name("memocache-lock".to_owned())
        .spawn(move || {
            let memo = keeper;
            let reach = Blocking::new(&memo);
            // Until the flight drops its keeper (the channel closes).
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(lock.beat()) {
                if !block_on(memo.extend_lock(&reach, &lock)) {
                    return;
                }
            }
            block_on(memo.release_lock(&reach, &lock));
        });
    match spawned {
        Ok(_) => Some(Box::new(stop)),
        Err(e) => {
            tracing::error!(
                namespace = memo.namespace(),
                error = %e,
                "memocache: cannot start the thread that keeps a distributed lock; it lasts its \
                 lease"
            );
            None
        }
    }
}

/// Retries `memo`'s pending removals from a task of the current tokio
/// runtime, if there is one and no retry loop runs yet.
fn retry_in_background<S: Store + 'static, C: Codec, H: KeyHasher>(memo: &Memoizer<S, C, H>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if !memo.removals().start_retrying() {
        return;
    }
    let weak = memo.downgrade();
    runtime.spawn(async move {
        for delay in retry_delays() {
            tokio::time::sleep(delay).await;
            let Some(memo) = weak.upgrade() else {
                return;
            };
            if memo.retry_removals(&Async::new(&memo)).await && memo.removals().stop_retrying() {
                return;
            }
        }
    });
}

/// Retries `memo`'s pending removals from a thread of its own, if no retry
/// loop runs yet.
fn retry_on_thread<S: BlockingStore + 'static, C: Codec, H: KeyHasher>(memo: &Memoizer<S, C, H>) {
    if !memo.removals().start_retrying() {
        return;
    }
    let weak = memo.downgrade();
    let spawned = std::thread::Builder::new()
        .name("memocache-removals".to_owned())
        .spawn(move || {
            for delay in retry_delays() {
                std::thread::sleep(delay);
                let Some(memo) = weak.upgrade() else {
                    return;
                };
                if block_on(memo.retry_removals(&Blocking::new(&memo)))
                    && memo.removals().stop_retrying()
                {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        memo.removals().stop_retrying();
        tracing::error!(
            namespace = memo.namespace(),
            error = %e,
            "memocache: cannot start the thread that retries removals; they wait for the next \
             invalidate or clear_namespace"
        );
    }
}

/// Writes in a task of the current tokio runtime when write-behind is on
/// and there is one; else hands the write back.
fn write_in_background<S: Store + 'static, C: Codec, H: KeyHasher>(
    memo: &Memoizer<S, C, H>,
    write: Write,
) -> Option<Write> {
    let runtime = match tokio::runtime::Handle::try_current() {
        Ok(runtime) if memo.writes_behind() => runtime,
        _ => return Some(write),
    };
    let pending = memo.pending_write();
    let memo = memo.clone();
    runtime.spawn(async move {
        memo.store_write(&Async::new(&memo), write).await;
        drop(pending);
    });
    None
}

/// The blocking entry points' way: calls the store on this thread.
pub(crate) struct Blocking<'a, S, C, H> {
    memo: &'a Memoizer<S, C, H>,
    /// [`retry_on_thread`] for this store type, made as
    /// [`Async::retry`] is.
    retry: fn(&Memoizer<S, C, H>),
    /// [`keep_on_thread`] for this store type, made likewise.
    keep: fn(&Memoizer<S, C, H>, Lock) -> Option<Keeper>,
}

impl<'a, S: BlockingStore + 'static, C: Codec, H: KeyHasher> Blocking<'a, S, C, H> {
    /// The blocking way of reaching `memo`'s store.
    pub(crate) fn new(memo: &'a Memoizer<S, C, H>) -> Self {
        Blocking {
            memo,
            retry: retry_on_thread::<S, C, H>,
            keep: keep_on_thread::<S, C, H>,
        }
    }
}

/// Bounds an async operation by `limit`, inside a tokio runtime (whose
/// timers must be enabled); outside one, the operation runs unbounded.
async fn bounded<T>(
    limit: Option<Duration>,
    operation: impl Future<Output = Result<T>>,
) -> Result<T> {
    match (limit, tokio::runtime::Handle::try_current()) {
        (Some(limit), Ok(_)) => tokio::time::timeout(limit, operation)
            .await
            .unwrap_or(Err(Error::Timeout(limit))),
        _ => operation.await,
    }
}

impl<S: Store, C: Codec, H: KeyHasher> Reach for Async<'_, S, C, H> {
    const CALL: &'static str = "memocache::Memoizer::call";

    fn store(&self) -> &dyn Backend {
        self.memo.store()
    }

    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>> {
        bounded(options.timeout, self.memo.store().read(key, &options)).await
    }

    async fn write(
        &self,
        key: &str,
        value: Bytes,
        decoded: Option<Decoded>,
        options: WriteOptions,
    ) -> Result<()> {
        let store = self.memo.store();
        match decoded {
            Some(decoded) => {
                bounded(
                    options.timeout,
                    store.write_decoded(key, value, decoded, &options),
                )
                .await
            }
            None => bounded(options.timeout, store.write(key, value, &options)).await,
        }
    }

    async fn remove(&self, key: &str, options: RemoveOptions) -> Result<bool> {
        bounded(options.timeout, self.memo.store().remove(key, &options)).await
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.memo.store().delete_matching(keys).await
    }

    fn write_behind(&self, write: Write) -> Option<Write> {
        (self.behind)(self.memo, write)
    }

    fn retry_later(&self) {
        (self.retry)(self.memo);
    }

    async fn lock(&self, key: &str, request: LockRequest<'_>) -> Result<bool> {
        bounded(request.timeout, self.memo.store().lock(key, &request)).await
    }

    fn can_wait(&self) -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }

    async fn pause(&self, wait: Duration, changes: Option<(&Changes, u64)>) {
        match changes {
            Some((changes, mark)) => changes.wait(mark, wait).await,
            None => tokio::time::sleep(wait).await,
        }
    }

    fn keep_lock(&self, lock: Lock) -> Option<Keeper> {
        (self.keep)(self.memo, lock)
    }
}

impl<S: BlockingStore, C: Codec, H: KeyHasher> Reach for Blocking<'_, S, C, H> {
    const CALL: &'static str = "memocache::Memoizer::call_blocking";

    fn store(&self) -> &dyn Backend {
        self.memo.store()
    }

    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>> {
        self.memo.store().read(key, &options)
    }

    async fn write(
        &self,
        key: &str,
        value: Bytes,
        decoded: Option<Decoded>,
        options: WriteOptions,
    ) -> Result<()> {
        let store = self.memo.store();
        match decoded {
            Some(decoded) => store.write_decoded(key, value, decoded, &options),
            None => store.write(key, value, &options),
        }
    }

    async fn remove(&self, key: &str, options: RemoveOptions) -> Result<bool> {
        self.memo.store().remove(key, &options)
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.memo.store().delete_matching(keys)
    }

    fn write_behind(&self, write: Write) -> Option<Write> {
        Some(write)
    }

    fn retry_later(&self) {
        (self.retry)(self.memo);
    }

    async fn lock(&self, key: &str, request: LockRequest<'_>) -> Result<bool> {
        self.memo.store().lock(key, &request)
    }

    fn can_wait(&self) -> bool {
        true
    }

    async fn pause(&self, wait: Duration, changes: Option<(&Changes, u64)>) {
        // The blocking path runs on the caller's thread: it waits there.
        match changes {
            Some((changes, mark)) => changes.wait_blocking(mark, wait),
            None => std::thread::sleep(wait),
        }
    }

    fn keep_lock(&self, lock: Lock) -> Option<Keeper> {
        (self.keep)(self.memo, lock)
    }
}
