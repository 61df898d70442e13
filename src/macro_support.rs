//! What the `#[cache_wrapper]` expansion refers to. Not a stable API.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use memocache_core::{BlockingStore, Memoizer, Store};

/// The store of an `async fn` configured with `store = ...`.
pub type AsyncStore = Arc<dyn Store>;
/// The store of a sync `fn` configured with `store = ...`.
pub type BlockingStoreRef = Arc<dyn BlockingStore>;

/// Turns the `store = ...` value of an `async fn` into its shared form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `memocache::store::Store`",
    label = "the `store` of an `async fn` must implement `memocache::store::Store`",
    note = "an `async fn` uses the async store interface; a sync `fn` needs a `memocache::store::BlockingStore`",
    note = "a constructor's `Result` is not a store: unwrap it, e.g. `store = RedisStore::connect_lazy(&RedisConfig::from_env()).expect(\"valid Redis settings\")`"
)]
pub trait IntoAsyncStore {
    /// Boxes the store.
    fn into_async_store(self) -> AsyncStore;
}

#[diagnostic::do_not_recommend]
impl<S: Store + 'static> IntoAsyncStore for S {
    fn into_async_store(self) -> AsyncStore {
        Arc::new(self)
    }
}

/// Turns the `store = ...` value of a sync `fn` into its shared form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `memocache::store::BlockingStore`",
    label = "the `store` of a sync `fn` must implement `memocache::store::BlockingStore`",
    note = "a sync `fn` uses the blocking store interface; make the function `async` to use a `memocache::store::Store`",
    note = "a constructor's `Result` is not a store: unwrap it, e.g. `store = RedisBlockingStore::connect_lazy(&RedisConfig::from_env()).expect(\"valid Redis settings\")`"
)]
pub trait IntoBlockingStore {
    /// Boxes the store.
    fn into_blocking_store(self) -> BlockingStoreRef;
}

#[diagnostic::do_not_recommend]
impl<S: BlockingStore + 'static> IntoBlockingStore for S {
    fn into_blocking_store(self) -> BlockingStoreRef {
        Arc::new(self)
    }
}

/// The `expire = ...` value: whole seconds or a `Duration`.
#[diagnostic::on_unimplemented(
    message = "`expire` takes whole seconds (`u64`) or a `std::time::Duration`, not `{Self}`"
)]
pub trait IntoExpire {
    /// The expiry as a duration.
    fn into_expire(self) -> Duration;
}

impl IntoExpire for Duration {
    fn into_expire(self) -> Duration {
        self
    }
}

impl IntoExpire for u64 {
    fn into_expire(self) -> Duration {
        Duration::from_secs(self)
    }
}

impl IntoExpire for u32 {
    fn into_expire(self) -> Duration {
        Duration::from_secs(self.into())
    }
}

/// The `memoizer = ...` value: a `Memoizer` or a reference to one.
#[diagnostic::on_unimplemented(
    message = "`memoizer = ...` must be a `memocache::Memoizer`, not `{Self}`",
    label = "expected a `Memoizer`, `&Memoizer`, `Arc<Memoizer>` or `LazyLock<Memoizer>`"
)]
pub trait MemoizerRef {
    /// The memoizer's store.
    type Store;
    /// The memoizer's codec.
    type Codec;
    /// The memoizer's key hasher.
    type Hasher;
    /// The memoizer itself.
    fn memoizer_ref(&self) -> &Memoizer<Self::Store, Self::Codec, Self::Hasher>;
}

impl<S, C, H> MemoizerRef for Memoizer<S, C, H> {
    type Store = S;
    type Codec = C;
    type Hasher = H;
    fn memoizer_ref(&self) -> &Memoizer<S, C, H> {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<M: MemoizerRef + ?Sized> MemoizerRef for &M {
    type Store = M::Store;
    type Codec = M::Codec;
    type Hasher = M::Hasher;
    fn memoizer_ref(&self) -> &Memoizer<M::Store, M::Codec, M::Hasher> {
        (**self).memoizer_ref()
    }
}

#[diagnostic::do_not_recommend]
impl<M: MemoizerRef + ?Sized> MemoizerRef for Arc<M> {
    type Store = M::Store;
    type Codec = M::Codec;
    type Hasher = M::Hasher;
    fn memoizer_ref(&self) -> &Memoizer<M::Store, M::Codec, M::Hasher> {
        (**self).memoizer_ref()
    }
}

#[diagnostic::do_not_recommend]
impl<M: MemoizerRef, F: FnOnce() -> M> MemoizerRef for std::sync::LazyLock<M, F> {
    type Store = M::Store;
    type Codec = M::Codec;
    type Hasher = M::Hasher;
    fn memoizer_ref(&self) -> &Memoizer<M::Store, M::Codec, M::Hasher> {
        (**self).memoizer_ref()
    }
}

/// A handle on the memoizer `memoizer = ...` names (a cheap clone), so
/// the call does not keep `self` borrowed while the body runs.
pub fn owned_memoizer<M: MemoizerRef + ?Sized>(
    memoizer: &M,
) -> Memoizer<M::Store, M::Codec, M::Hasher> {
    memoizer.memoizer_ref().clone()
}

/// The one memoizer of a `#[cache_wrapper(store = ...)]` function,
/// shared by the function and its `_invalidate` and `_cache_key`
/// companions, which find it by `id` (the same in all three) and keep
/// it in a `static` of their own. They cannot share one `static` by
/// name: an `impl` block holds no `static`, and the attribute cannot
/// tell an associated function from a free one. The first caller builds
/// the memoizer; a losing concurrent builder's is dropped.
pub fn shared_memoizer<S: Send + Sync + 'static>(
    id: &'static str,
    build: impl FnOnce() -> Memoizer<S>,
) -> Memoizer<S> {
    type Registry = Mutex<HashMap<&'static str, Box<dyn Any + Send + Sync>>>;
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(Registry::default);
    let found = registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(id)
        .and_then(|m| m.downcast_ref::<Memoizer<S>>().cloned());
    if let Some(memoizer) = found {
        return memoizer;
    }
    // Built outside the lock: the store expression is user code.
    let built = build();
    registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(id)
        .or_insert_with(|| Box::new(built))
        .downcast_ref::<Memoizer<S>>()
        .cloned()
        .expect("one id, one memoizer type")
}

/// The value a function returning `Result<T, E>` (or an alias of it)
/// caches: `T`, the type its `cache_if` and `expire_with` rules see.
pub trait OkValue {
    /// The `Ok` type.
    type Ok;
}

impl<T, E> OkValue for Result<T, E> {
    type Ok = T;
}
