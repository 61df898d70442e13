//! The reference's entry points under their Python names, as thin
//! functions over [`Memoizer`].
//!
//! | Python (`dtpyfw.redis.caching`) | memocache |
//! |---|---|
//! | `cache_data(response, cache_key, redis, expire)` | [`cache_data`] / [`acache_data`] |
//! | (reading `cache_key` back, by hand) | [`get_data`] / [`aget_data`] |
//! | `cache_function(func, redis, namespace, ..., *args, **kwargs)` | [`cache_function`] |
//! | `acache_function(func, redis, namespace, ..., *args, **kwargs)` | [`acache_function`] |
//! | `@cache_wrapper(...)` | the `#[cache_wrapper]` attribute |
//!
//! The namespace, `expire`, `cache_only_for` and `skip_cache_keys` live in
//! the [`Memoizer`]; the arguments in [`Args`].

use std::future::Future;
use std::time::Duration;

use crate::Cacheable;
use serde::Serialize;

use crate::codec::Codec;
use crate::hasher::KeyHasher;
use crate::key::Args;
use crate::memoizer::Memoizer;
use crate::store::{BlockingStore, Store};

/// Stores `response` at exactly `cache_key` in the reference's format and
/// returns it unchanged; a failure is logged, never raised.
pub fn cache_data<T: Serialize, S: BlockingStore + 'static>(
    response: T,
    cache_key: &str,
    store: S,
    expire: Option<Duration>,
) -> T {
    data_memoizer(store, expire).cache_data_blocking(cache_key, response)
}

/// The async form of [`cache_data`].
pub async fn acache_data<T: Serialize, S: Store + 'static>(
    response: T,
    cache_key: &str,
    store: S,
    expire: Option<Duration>,
) -> T {
    data_memoizer(store, expire)
        .cache_data(cache_key, response)
        .await
}

/// Reads the value stored at exactly `cache_key` (the read side of
/// [`cache_data`], which the reference leaves to its callers); `None` when
/// there is none, it does not decode as a `T`, or the store failed (a
/// failure is logged, never raised).
pub fn get_data<T: Cacheable, S: BlockingStore + 'static>(cache_key: &str, store: S) -> Option<T> {
    data_memoizer(store, None).get_data_blocking(cache_key)
}

/// The async form of [`get_data`].
pub async fn aget_data<T: Cacheable, S: Store + 'static>(cache_key: &str, store: S) -> Option<T> {
    data_memoizer(store, None).get_data(cache_key).await
}

fn data_memoizer<S: crate::Backend>(store: S, expire: Option<Duration>) -> Memoizer<S> {
    Memoizer::builder(store)
        .expire(expire.unwrap_or_default())
        .build()
}

/// Runs `func` through `memoizer`'s cache, blocking (the reference's
/// `cache_function`).
pub fn cache_function<T, S, C, H>(
    memoizer: &Memoizer<S, C, H>,
    args: &Args,
    func: impl FnOnce() -> T,
) -> T
where
    T: Cacheable,
    S: BlockingStore + 'static,
    C: Codec,
    H: KeyHasher,
{
    memoizer.call_blocking(args, func)
}

/// Runs `func` through `memoizer`'s cache, async (the reference's
/// `acache_function`).
pub async fn acache_function<T, S, C, H, F, Fut>(
    memoizer: &Memoizer<S, C, H>,
    args: &Args,
    func: F,
) -> T
where
    T: Cacheable,
    S: Store + 'static,
    C: Codec,
    H: KeyHasher,
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    memoizer.call(args, func).await
}
