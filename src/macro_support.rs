//! What the `#[cache_wrapper]` expansion refers to. Not a stable API.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use memocache_core::{
    Backend, BlockingStore, Bytes, Entry, KeyMatch, Memoizer, MemoizerBuilder, ReadOptions,
    RemoveOptions, Store, WriteOptions, async_trait,
};

/// The store of an `async fn` configured with `store = ...`.
pub type AsyncStore = Arc<dyn Store>;
/// The store of a sync `fn` configured with `store = ...`.
pub type BlockingStoreRef = Arc<dyn BlockingStore>;

/// How a `store = ...` value is given: a store itself
/// ([`given::Direct`]), a constructor's `Result` ([`given::Fallible`]), or
/// a reference to a `Result` shared by several functions, such as a
/// `static` `LazyLock` ([`given::Shared`], [`given::SharedAsync`]). A type parameter of [`IntoAsyncStore`] and
/// [`IntoBlockingStore`], so that one trait takes all three.
pub mod given {
    /// A store.
    pub enum Direct {}
    /// A constructor's `Result`.
    pub enum Fallible {}
    /// A reference to a constructor's `Result`, e.g. `&REDIS` for a
    /// `static REDIS: LazyLock<memocache::Result<RedisStore>>`.
    pub enum Shared {}
    /// The same, for a sync `fn` given an async store that has a blocking
    /// side ([`BlockingSide`](super::BlockingSide)).
    pub enum SharedAsync {}
}

/// An async store that serves sync callers too, on the same connection
/// and circuit breaker (`RedisStore::blocking`, `FredStore::blocking`):
/// what lets a sync `fn` and an `async fn` share one `store = &REDIS`.
pub trait BlockingSide: Store {
    /// The blocking store over it.
    type Blocking: BlockingStore + 'static;
    /// Makes the blocking store over it.
    fn blocking_side(&self) -> memocache_core::Result<Self::Blocking>;
}

#[cfg(feature = "redis")]
impl BlockingSide for memocache_redis::RedisStore {
    type Blocking = memocache_redis::RedisBlockingStore;
    fn blocking_side(&self) -> memocache_core::Result<Self::Blocking> {
        self.blocking()
    }
}

#[cfg(feature = "fred")]
impl BlockingSide for memocache_fred::FredStore {
    type Blocking = memocache_fred::FredBlockingStore;
    fn blocking_side(&self) -> memocache_core::Result<Self::Blocking> {
        self.blocking()
    }
}

/// The store a `store = ...` value gave, or why it gave none.
pub struct Built<S> {
    store: Result<S, String>,
}

impl<S> Built<S> {
    fn store(store: S) -> Self {
        Built { store: Ok(store) }
    }

    fn failed(error: &(dyn std::error::Error + 'static)) -> Self {
        Built {
            store: Err(memocache_core::Report::new(error).to_string()),
        }
    }
}

/// Turns the `store = ...` value of an `async fn` into its shared form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `memocache::store::Store`",
    label = "the `store` of an `async fn` must implement `memocache::store::Store`",
    note = "an `async fn` uses the async store interface; a sync `fn` needs a `memocache::store::BlockingStore`",
    note = "`store = ...` takes a store, a constructor's `Result` (an `Err` is logged once and the function runs uncached), or a reference to a shared one, e.g. `&REDIS` for a `static REDIS: LazyLock<memocache::Result<RedisStore>>`"
)]
pub trait IntoAsyncStore<How> {
    /// The store, boxed.
    fn into_async_store(self) -> Built<AsyncStore>;
}

/// Turns the `store = ...` value of a sync `fn` into its shared form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `memocache::store::BlockingStore`",
    label = "the `store` of a sync `fn` must implement `memocache::store::BlockingStore`",
    note = "a sync `fn` uses the blocking store interface; make the function `async` to use a `memocache::store::Store`",
    note = "`store = ...` takes a store, a constructor's `Result` (an `Err` is logged once and the function runs uncached), or a reference to a shared one, e.g. `&REDIS` for a `static REDIS: LazyLock<memocache::Result<RedisStore>>` (whose blocking side serves sync functions)"
)]
pub trait IntoBlockingStore<How> {
    /// The store, boxed.
    fn into_blocking_store(self) -> Built<BlockingStoreRef>;
}

/// The three forms of a `store = ...` value ([`given`]), for one kind of
/// store: `$into` and its method, the store trait, and its boxed form.
macro_rules! store_forms {
    ($into:ident, $method:ident, $store:ident, $boxed:ty) => {
        #[diagnostic::do_not_recommend]
        impl<S: $store + 'static> $into<given::Direct> for S {
            fn $method(self) -> Built<$boxed> {
                Built::store(Arc::new(self))
            }
        }

        #[diagnostic::do_not_recommend]
        impl<S, E> $into<given::Fallible> for Result<S, E>
        where
            S: $store + 'static,
            E: std::error::Error + 'static,
        {
            fn $method(self) -> Built<$boxed> {
                match self {
                    Ok(store) => Built::store(Arc::new(store)),
                    Err(error) => Built::failed(&error),
                }
            }
        }

        #[diagnostic::do_not_recommend]
        impl<T, S, E> $into<given::Shared> for &T
        where
            T: std::ops::Deref<Target = Result<S, E>>,
            S: $store + Clone + 'static,
            E: std::error::Error + 'static,
        {
            fn $method(self) -> Built<$boxed> {
                match &**self {
                    Ok(store) => Built::store(Arc::new(store.clone())),
                    Err(error) => Built::failed(error),
                }
            }
        }

        impl Boxed for $boxed {
            fn unavailable(error: String) -> Self {
                Arc::new(Unavailable(error))
            }
        }
    };
}

store_forms!(IntoAsyncStore, into_async_store, Store, AsyncStore);
store_forms!(
    IntoBlockingStore,
    into_blocking_store,
    BlockingStore,
    BlockingStoreRef
);

#[diagnostic::do_not_recommend]
impl<T, S, E> IntoBlockingStore<given::SharedAsync> for &T
where
    T: std::ops::Deref<Target = Result<S, E>>,
    S: BlockingSide,
    E: std::error::Error + 'static,
{
    fn into_blocking_store(self) -> Built<BlockingStoreRef> {
        match (**self).as_ref().map(BlockingSide::blocking_side) {
            Ok(Ok(store)) => Built::store(Arc::new(store)),
            Ok(Err(error)) => Built::failed(&error),
            Err(error) => Built::failed(error),
        }
    }
}

/// The store of a function whose `store = ...` gave an error: every
/// operation fails with that error. The memoizer over it caches no call
/// (the function runs uncached); only the companions that ask the store
/// directly (`_invalidate`) meet the error.
struct Unavailable(String);

impl Unavailable {
    fn error<T>(&self) -> memocache_core::Result<T> {
        Err(memocache_core::Error::config(format!(
            "this function's store could not be built: {}",
            self.0
        )))
    }
}

impl Backend for Unavailable {
    fn backend(&self) -> &'static str {
        "unavailable"
    }
}

#[async_trait]
impl Store for Unavailable {
    async fn read(&self, _: &str, _: &ReadOptions) -> memocache_core::Result<Option<Entry>> {
        self.error()
    }
    async fn write(&self, _: &str, _: Bytes, _: &WriteOptions) -> memocache_core::Result<()> {
        self.error()
    }
    async fn remove(&self, _: &str, _: &RemoveOptions) -> memocache_core::Result<bool> {
        self.error()
    }
    async fn delete_matching(&self, _: &KeyMatch) -> memocache_core::Result<u64> {
        self.error()
    }
}

impl BlockingStore for Unavailable {
    fn read(&self, _: &str, _: &ReadOptions) -> memocache_core::Result<Option<Entry>> {
        self.error()
    }
    fn write(&self, _: &str, _: Bytes, _: &WriteOptions) -> memocache_core::Result<()> {
        self.error()
    }
    fn remove(&self, _: &str, _: &RemoveOptions) -> memocache_core::Result<bool> {
        self.error()
    }
    fn delete_matching(&self, _: &KeyMatch) -> memocache_core::Result<u64> {
        self.error()
    }
}

/// A store that is either of the two kinds [`Built`] boxes.
pub trait Boxed: memocache_core::Backend + Sized {
    /// A store whose every operation fails with `error`.
    fn unavailable(error: String) -> Self;
}

/// The memoizer of `function` over what its `store = ...` gave,
/// configured by `configure`. A store that could not be built is logged
/// once, here, with its error (which names the setting to fix), and the
/// memoizer then caches no call: the function runs uncached.
pub fn memoizer_over<S: Boxed>(
    function: &str,
    built: Built<S>,
    configure: impl FnOnce(MemoizerBuilder<S>) -> MemoizerBuilder<S>,
) -> Memoizer<S> {
    match built.store {
        Ok(store) => configure(Memoizer::builder(store)).build(),
        Err(error) => {
            tracing::error!(
                function,
                error = %error,
                "memocache: `{function}` runs uncached: its store could not be built; fix the \
                 setting the error names and restart to cache it"
            );
            configure(Memoizer::builder(S::unavailable(error)))
                .cache_only_for([])
                .build()
        }
    }
}

/// The `op_timeout = ...` value: a `Duration`, or an `Option<Duration>`
/// (`None`: the store client's own timeouts only).
#[diagnostic::on_unimplemented(
    message = "`op_timeout` takes a `std::time::Duration` or an `Option<Duration>`, not `{Self}`"
)]
pub trait IntoOpTimeout {
    /// The timeout, if any.
    fn into_op_timeout(self) -> Option<Duration>;
}

impl IntoOpTimeout for Duration {
    fn into_op_timeout(self) -> Option<Duration> {
        Some(self)
    }
}

impl IntoOpTimeout for Option<Duration> {
    fn into_op_timeout(self) -> Option<Duration> {
        self
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

// What keeps a misuse of the attribute to one compile error that says the
// fix: the cached value's check, the memoizer calls it goes through, and
// the key arguments' check.

/// `Serialize`, under a name the parameter checks the expansion declares
/// can use (the caller need not depend on serde). Not a re-export of
/// serde's trait, which would make rustc name that trait by this path in
/// the caller's other errors.
pub trait SerializeArg {}

impl<T: serde::Serialize + ?Sized> SerializeArg for T {}

/// The value a memoized function caches (its return type, or that type's
/// `Ok` type): what [`memocache::Cacheable`](memocache_core::Cacheable)
/// asks, as one bound. Its impl is `do_not_recommend`, so a type that
/// misses several of the bounds is one error at the return type, not one
/// per missing bound.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be memoized",
    label = "the cached value: the return type, or its `Ok` type",
    note = "a memoized value must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static` (`memocache::Cacheable`): derive `Serialize, Deserialize, Clone` on it"
)]
pub trait Memoizable: memocache_core::Cacheable {}

#[diagnostic::do_not_recommend]
impl<T: memocache_core::Cacheable> Memoizable for T {}

/// What a generated function asks of its memoizer: [`Call`] for the
/// function itself, [`Refresh`] for its `_refresh` companion. Both go
/// through the same `memoize*` function, so that a return type that
/// cannot be memoized is the same error at both, which rustc reports once.
pub trait Verb {
    /// Whether the body runs whatever is cached.
    const REFRESH: bool;
}

/// The function itself: a hit is served from the cache.
pub struct Call;

impl Verb for Call {
    const REFRESH: bool = false;
}

/// The `_refresh` companion: the body runs, and its result is written.
pub struct Refresh;

impl Verb for Refresh {
    const REFRESH: bool = true;
}

/// A sync function's call (`Memoizer::call_blocking`) or refresh
/// (`Memoizer::refresh_blocking`).
pub fn memoize_blocking<V, S, C, H, T, F>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> T
where
    V: Verb,
    S: BlockingStore + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> T,
{
    if V::REFRESH {
        memoizer.refresh_blocking(args, compute)
    } else {
        memoizer.call_blocking(args, compute)
    }
}

/// [`memoize_blocking`] for a function returning a `Result`: only `Ok`
/// values are cached.
pub fn try_memoize_blocking<V, S, C, H, T, E, F>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> Result<T, E>
where
    V: Verb,
    S: BlockingStore + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> Result<T, E>,
{
    if V::REFRESH {
        memoizer.try_refresh_blocking(args, compute)
    } else {
        memoizer.try_call_blocking(args, compute)
    }
}

/// An async function's call (`Memoizer::call`) or refresh
/// (`Memoizer::refresh`).
pub async fn memoize<V, S, C, H, T, F, Fut>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> T
where
    V: Verb,
    S: Store + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    if V::REFRESH {
        memoizer.refresh(args, compute).await
    } else {
        memoizer.call(args, compute).await
    }
}

/// [`memoize`] for a function returning a `Result`: only `Ok` values are
/// cached.
pub async fn try_memoize<V, S, C, H, T, E, F, Fut>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> Result<T, E>
where
    V: Verb,
    S: Store + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    if V::REFRESH {
        memoizer.try_refresh(args, compute).await
    } else {
        memoizer.try_call(args, compute).await
    }
}

// The `_owned` forms, for a function with `refresh_ahead`, `soft_timeout`
// or `hard_timeout` (which run the computation on its own): the same four
// with `Send + 'static` computations. A refresh runs inline, as above.

/// The error type of a function returning a `Result` whose computation
/// runs on its own: a hard timeout returns `E::from(Elapsed)`.
#[diagnostic::on_unimplemented(
    message = "with `refresh_ahead`, `soft_timeout` or `hard_timeout`, the function's error type must implement `From<memocache::Elapsed>`, and `{Self}` does not",
    label = "the error type: a hard timeout with no stale value to serve returns `Err(E::from(Elapsed))`",
    note = "implement `From<memocache::Elapsed>` for it (e.g. as a `TimedOut` variant), or return an error type of your own that does (a foreign type such as `String` cannot: wrap it)"
)]
pub trait TimeoutError: From<memocache_core::Elapsed> {}

#[diagnostic::do_not_recommend]
impl<E: From<memocache_core::Elapsed>> TimeoutError for E {}

/// [`memoize_blocking`] for a computation that runs on its own
/// (`Memoizer::call_blocking_owned`).
pub fn memoize_blocking_owned<V, S, C, H, T, F>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> T
where
    V: Verb,
    S: BlockingStore + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> T + Send + 'static,
{
    if V::REFRESH {
        memoizer.refresh_blocking(args, compute)
    } else {
        memoizer.call_blocking_owned(args, compute)
    }
}

/// [`try_memoize_blocking`] for a computation that runs on its own
/// (`Memoizer::try_call_blocking_owned`).
pub fn try_memoize_blocking_owned<V, S, C, H, T, E, F>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> Result<T, E>
where
    V: Verb,
    S: BlockingStore + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    E: TimeoutError + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    if V::REFRESH {
        memoizer.try_refresh_blocking(args, compute)
    } else {
        memoizer.try_call_blocking_owned(args, compute)
    }
}

/// [`memoize`] for a computation that runs on its own
/// (`Memoizer::call_owned`).
pub async fn memoize_owned<V, S, C, H, T, F, Fut>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> T
where
    V: Verb,
    S: Store + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    if V::REFRESH {
        memoizer.refresh(args, compute).await
    } else {
        memoizer.call_owned(args, compute).await
    }
}

/// [`try_memoize`] for a computation that runs on its own
/// (`Memoizer::try_call_owned`).
pub async fn try_memoize_owned<V, S, C, H, T, E, F, Fut>(
    _: V,
    memoizer: &Memoizer<S, C, H>,
    args: &memocache_core::Resolved,
    compute: F,
) -> Result<T, E>
where
    V: Verb,
    S: Store + 'static,
    C: memocache_core::Codec,
    H: memocache_core::KeyHasher,
    T: Memoizable,
    E: TimeoutError + Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    if V::REFRESH {
        memoizer.try_refresh(args, compute).await
    } else {
        memoizer.try_call_owned(args, compute).await
    }
}

/// An argument of the key, on its way to `Args::kwarg`. The function
/// itself checks each argument with a message naming the parameter;
/// everywhere else (its companions, its own `Args`) an argument that is not
/// `Serialize` must then be no second error, so its `memocache_key_arg()`
/// is chosen by method resolution: the argument itself when it is
/// `Serialize`, else (through `Deref`) a stand-in that fails to encode.
/// Only a build that fails anyway, at the function's own check, takes the
/// stand-in.
pub struct KeyArg<'a, T: ?Sized>(Unchecked<'a, T>);

/// What [`KeyArg`] derefs to: the argument, not known to be `Serialize`.
pub struct Unchecked<'a, T: ?Sized>(&'a T);

/// The argument `value`, for the key.
pub fn key_arg<T: ?Sized>(value: &T) -> KeyArg<'_, T> {
    KeyArg(Unchecked(value))
}

impl<'a, T: serde::Serialize + ?Sized> KeyArg<'a, T> {
    /// The argument itself.
    pub fn memocache_key_arg(&self) -> &'a T {
        self.0.0
    }
}

impl<'a, T: ?Sized> std::ops::Deref for KeyArg<'a, T> {
    type Target = Unchecked<'a, T>;

    fn deref(&self) -> &Unchecked<'a, T> {
        &self.0
    }
}

impl<T: ?Sized> Unchecked<'_, T> {
    /// A stand-in for an argument that is not `Serialize`.
    pub fn memocache_key_arg(&self) -> &'static NotSerializable {
        &NotSerializable
    }
}

/// The stand-in for an argument that is not `Serialize`: encoding it fails,
/// so a key holding it is never computed.
pub struct NotSerializable;

impl serde::Serialize for NotSerializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "a key argument is not `Serialize`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serializable_key_argument_is_passed_through_and_others_fail_to_encode() {
        struct Opaque;
        let id: &u64 = key_arg(&7u64).memocache_key_arg();
        let args = memocache_core::Args::new()
            .kwarg("id", id)
            .kwarg("conn", key_arg(&Opaque).memocache_key_arg());
        assert_eq!(args.kwarg_json("id"), Some(&b"7"[..]));
        assert!(args.error().is_some());
    }
}
