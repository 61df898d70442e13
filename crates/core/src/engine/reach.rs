//! How the engine reaches the store: the only part of a call that differs
//! between the async and the blocking entry points.
//!
//! [`Async`] awaits a [`Store`] under the operation timeout and can write
//! in the background; [`Blocking`] calls a [`BlockingStore`] on the
//! caller's thread, handing it the timeout to honour, and writes before
//! returning. Everything else a call decides is written once, in the
//! engine, over [`Reach`].

use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;

use crate::health::Health;
use crate::key::KeyMatch;
use crate::memoizer::Memoizer;
use crate::store::{BlockingStore, Entry, ReadOptions, Store, WriteOptions};
use crate::tier::Invalidations;
use crate::{Codec, Error, KeyHasher, Result};

use super::Write;

/// A memoizer's store, reached one way or the other.
pub(crate) trait Reach {
    /// The entry point's name in logs (the reference's `controller`).
    const CALL: &'static str;

    /// The backend's name for logs.
    fn backend(&self) -> &'static str;

    /// The store's shared health view, if it has one.
    fn health(&self) -> Option<Health>;

    /// [`Store::track_changes`].
    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()>;

    /// [`Store::read`], bounded by `options.timeout`.
    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>>;

    /// [`Store::write`], bounded by `options.timeout`.
    async fn write(&self, key: &str, value: Bytes, options: WriteOptions) -> Result<()>;

    /// [`Store::delete`].
    async fn delete(&self, key: &str) -> Result<bool>;

    /// [`Store::delete_matching`].
    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;

    /// Takes `write` into the background if this way of reaching the store
    /// can; hands it back to be written now otherwise.
    fn write_behind(&self, write: Write) -> Option<Write>;
}

/// The async entry points' way: awaits the store.
pub(crate) struct Async<'a, S, C, H> {
    memo: &'a Memoizer<S, C, H>,
    /// [`write_in_background`] for this store type. A plain function
    /// pointer made where `S: 'static` is known, so that the [`Reach`] impl
    /// needs no `'static` bound (with one, the engine's futures would not
    /// be `Send` over `Arc<dyn Store>`).
    behind: fn(&Memoizer<S, C, H>, Write) -> Option<Write>,
}

impl<'a, S: Store + 'static, C: Codec, H: KeyHasher> Async<'a, S, C, H> {
    /// The async way of reaching `memo`'s store.
    pub(crate) fn new(memo: &'a Memoizer<S, C, H>) -> Self {
        Async {
            memo,
            behind: write_in_background::<S, C, H>,
        }
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
pub(crate) struct Blocking<'a, S, C, H>(pub(crate) &'a Memoizer<S, C, H>);

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

    fn backend(&self) -> &'static str {
        self.memo.store().backend()
    }

    fn health(&self) -> Option<Health> {
        self.memo.store().health()
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.memo.store().track_changes(tier)
    }

    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>> {
        bounded(options.timeout, self.memo.store().read(key, &options)).await
    }

    async fn write(&self, key: &str, value: Bytes, options: WriteOptions) -> Result<()> {
        bounded(
            options.timeout,
            self.memo.store().write(key, value, &options),
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.memo.store().delete(key).await
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.memo.store().delete_matching(keys).await
    }

    fn write_behind(&self, write: Write) -> Option<Write> {
        (self.behind)(self.memo, write)
    }
}

impl<S: BlockingStore, C: Codec, H: KeyHasher> Reach for Blocking<'_, S, C, H> {
    const CALL: &'static str = "memocache::Memoizer::call_blocking";

    fn backend(&self) -> &'static str {
        self.0.store().backend()
    }

    fn health(&self) -> Option<Health> {
        self.0.store().health()
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.0.store().track_changes(tier)
    }

    async fn read(&self, key: &str, options: ReadOptions) -> Result<Option<Entry>> {
        self.0.store().read(key, &options)
    }

    async fn write(&self, key: &str, value: Bytes, options: WriteOptions) -> Result<()> {
        self.0.store().write(key, value, &options)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.0.store().delete(key)
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.0.store().delete_matching(keys)
    }

    fn write_behind(&self, write: Write) -> Option<Write> {
        Some(write)
    }
}
