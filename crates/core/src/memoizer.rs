//! The [`Memoizer`]: look up a call's result in the store, or compute it and
//! store it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, JsonZlib};
use crate::condition::{Condition, should_cache};
use crate::hasher::{KeyHasher, Sha256};
use crate::key::{Args, cache_key};
use crate::store::{BlockingStore, Store};
use crate::{Error, Result};

/// Memoizes calls in a store, as the reference's `cache_function` does.
///
/// A call is looked up under the reference's key for its [`Args`]; on a hit
/// the stored value is returned without running the computation, on a miss
/// the computation runs and its result is stored (with the configured
/// expiry). Cache failures never reach the caller: a store that errors, a
/// value that does not decode, an argument that does not encode: each is
/// logged through `tracing` and the call is served by the computation.
///
/// Two deliberate differences from the reference, both invisible to Python
/// services sharing the cache: a `None` result is a real cached value (a hit
/// next time), and a write is one atomic `SET` with its expiry instead of
/// `DEL` then `SET`.
///
/// Cloning is cheap: clones share the store and configuration.
///
/// ```
/// # async fn demo(store: impl memocache_core::Store + 'static) {
/// use memocache_core::{Args, Memoizer};
/// use std::time::Duration;
///
/// let memo = Memoizer::builder(store)
///     .namespace("orders:user")
///     .expire(Duration::from_secs(3600))
///     .build();
/// let orders: Vec<String> = memo
///     .call(&Args::new().kwarg("user_id", &123), || async { vec!["o-1".to_owned()] })
///     .await;
/// # }
/// ```
pub struct Memoizer<S, C = JsonZlib, H = Sha256> {
    inner: Arc<Inner<S, C, H>>,
}

struct Inner<S, C, H> {
    store: S,
    codec: C,
    hasher: H,
    namespace: String,
    expire: Option<Duration>,
    cache_only_for: Option<Vec<Condition>>,
    skip_cache_keys: Vec<String>,
}

impl<S, C, H> Clone for Memoizer<S, C, H> {
    fn clone(&self) -> Self {
        Memoizer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, C, H> std::fmt::Debug for Memoizer<S, C, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memoizer")
            .field("namespace", &self.inner.namespace)
            .field("expire", &self.inner.expire)
            .field("skip_cache_keys", &self.inner.skip_cache_keys)
            .field("cache_only_for", &self.inner.cache_only_for)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Memoizer`]; see [`Memoizer::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct MemoizerBuilder<S, C = JsonZlib, H = Sha256> {
    inner: Inner<S, C, H>,
}

impl<S> Memoizer<S> {
    /// Starts configuring a memoizer over `store`, with the reference's codec
    /// (JSON + zlib) and hasher (SHA-256), an empty namespace, no expiry, no
    /// conditions and no skipped keys.
    pub fn builder(store: S) -> MemoizerBuilder<S> {
        MemoizerBuilder {
            inner: Inner {
                store,
                codec: JsonZlib::default(),
                hasher: Sha256,
                namespace: String::new(),
                expire: None,
                cache_only_for: None,
                skip_cache_keys: Vec::new(),
            },
        }
    }
}

impl<S, C, H> MemoizerBuilder<S, C, H> {
    /// The key prefix of every entry (the reference's `namespace`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.inner.namespace = namespace.into();
        self
    }

    /// How long entries live. As in the reference, zero means "no expiry".
    pub fn expire(mut self, expire: Duration) -> Self {
        self.inner.expire = (!expire.is_zero()).then_some(expire);
        self
    }

    /// [`expire`](Self::expire) in whole seconds, as the reference takes it
    /// (`0` means no expiry).
    pub fn expire_secs(self, seconds: u64) -> Self {
        self.expire(Duration::from_secs(seconds))
    }

    /// Caches a call only when one of these conditions matches (the
    /// reference's `cache_only_for`). Without this, every call is cached;
    /// with an empty list, none is.
    pub fn cache_only_for(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.inner.cache_only_for = Some(conditions.into_iter().collect());
        self
    }

    /// Keyword arguments left out of the key (the reference's
    /// `skip_cache_keys`). Positional arguments are always part of the key.
    pub fn skip_cache_keys<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.inner.skip_cache_keys = names.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the codec, e.g. with zstd or MessagePack for caches that no
    /// Python service reads.
    pub fn codec<C2: Codec>(self, codec: C2) -> MemoizerBuilder<S, C2, H> {
        let Inner {
            store,
            hasher,
            namespace,
            expire,
            cache_only_for,
            skip_cache_keys,
            ..
        } = self.inner;
        MemoizerBuilder {
            inner: Inner {
                store,
                codec,
                hasher,
                namespace,
                expire,
                cache_only_for,
                skip_cache_keys,
            },
        }
    }

    /// Replaces the key hasher, e.g. with BLAKE3 for caches that no Python
    /// service reads.
    pub fn hasher<H2: KeyHasher>(self, hasher: H2) -> MemoizerBuilder<S, C, H2> {
        let Inner {
            store,
            codec,
            namespace,
            expire,
            cache_only_for,
            skip_cache_keys,
            ..
        } = self.inner;
        MemoizerBuilder {
            inner: Inner {
                store,
                codec,
                hasher,
                namespace,
                expire,
                cache_only_for,
                skip_cache_keys,
            },
        }
    }

    /// Finishes the configuration.
    pub fn build(self) -> Memoizer<S, C, H> {
        Memoizer {
            inner: Arc::new(self.inner),
        }
    }
}

/// What a computation returns, and which part of it is cached.
trait Outcome {
    type Value: Serialize + DeserializeOwned;
    fn cacheable(&self) -> Option<&Self::Value>;
    fn from_cached(value: Self::Value) -> Self;
}

/// Every value is cached.
struct Always<T>(T);

impl<T: Serialize + DeserializeOwned> Outcome for Always<T> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        Some(&self.0)
    }

    fn from_cached(value: T) -> Self {
        Always(value)
    }
}

/// Only `Ok` values are cached.
impl<T: Serialize + DeserializeOwned, E> Outcome for Result<T, E> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_cached(value: T) -> Self {
        Ok(value)
    }
}

const CALL: &str = "memocache::Memoizer::call";
const CALL_BLOCKING: &str = "memocache::Memoizer::call_blocking";
const CACHE_DATA: &str = "memocache::Memoizer::cache_data";

/// Logs a cache failure with the reference's fields; the caller carries on.
fn log_failure(controller: &'static str, subject: &'static str, key: &str, error: &Error) {
    tracing::error!(
        controller,
        subject,
        redis_key = key,
        error = %error,
        "{subject}"
    );
}

impl<S, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// The store this memoizer writes to.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The codec values are stored with.
    pub fn codec(&self) -> &C {
        &self.inner.codec
    }

    /// The namespace keys start with.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The expiry of new entries.
    pub fn expire(&self) -> Option<Duration> {
        self.inner.expire
    }

    /// The key a call with `args` is cached under: byte for byte the
    /// reference's key for the same namespace, arguments and skipped keys.
    pub fn key(&self, args: &Args) -> Result<String> {
        cache_key(
            &self.inner.namespace,
            args,
            &self.inner.skip_cache_keys,
            &self.inner.hasher,
        )
    }

    /// Whether the `cache_only_for` conditions let this call use the cache.
    pub fn should_cache(&self, args: &Args) -> bool {
        should_cache(self.inner.cache_only_for.as_deref(), args)
    }

    /// The key to use for this call, or `None` when it bypasses the cache.
    fn key_for_call(&self, controller: &'static str, args: &Args) -> Option<String> {
        if !self.should_cache(args) {
            return None;
        }
        match self.key(args) {
            Ok(key) => Some(key),
            Err(e) => {
                log_failure(
                    controller,
                    "Error on building cache key",
                    &self.inner.namespace,
                    &e,
                );
                None
            }
        }
    }

    /// Turns a store read into a hit, or logs why it is a miss.
    fn decode_hit<T: DeserializeOwned>(
        &self,
        controller: &'static str,
        key: &str,
        read: Result<Option<Bytes>>,
    ) -> Option<T> {
        match read {
            Ok(Some(bytes)) if !bytes.is_empty() => match self.inner.codec.decode(&bytes) {
                Ok(value) => Some(value),
                Err(e) => {
                    log_failure(controller, "Error on reading cache", key, &e);
                    None
                }
            },
            Ok(_) => None,
            Err(e) => {
                log_failure(controller, "Error on get cached data", key, &e);
                None
            }
        }
    }

    /// Encodes a value for the store, or logs why it cannot be.
    fn encode<T: Serialize + ?Sized>(
        &self,
        controller: &'static str,
        key: &str,
        value: &T,
    ) -> Option<Bytes> {
        match self.inner.codec.encode(value) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(e) => {
                log_failure(controller, "Error on encoding value", key, &e);
                None
            }
        }
    }

    fn check_write(controller: &'static str, key: &str, write: Result<()>) {
        if let Err(e) = write {
            log_failure(controller, "Error on writing cache", key, &e);
        }
    }
}

impl<S: Store, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// Returns the cached result for `args`, or runs `compute`, caches its
    /// result and returns it. A sync computation fits as
    /// `|| async { compute() }`.
    pub async fn call<T, F, Fut>(&self, args: &Args, compute: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.run(args, || async { Always(compute().await) }).await.0
    }

    /// Like [`call`](Self::call) for a fallible computation: only `Ok`
    /// results are cached (as their value, so Python readers see the value
    /// itself); an `Err` is returned and the next call computes again.
    pub async fn try_call<T, E, F, Fut>(&self, args: &Args, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(args, compute).await
    }

    async fn run<R, F, Fut>(&self, args: &Args, compute: F) -> R
    where
        R: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let Some(key) = self.key_for_call(CALL, args) else {
            return compute().await;
        };
        let read = self.inner.store.get(&key).await;
        if let Some(hit) = self.decode_hit(CALL, &key, read) {
            return R::from_cached(hit);
        }
        let outcome = compute().await;
        if let Some(bytes) = outcome
            .cacheable()
            .and_then(|value| self.encode(CALL, &key, value))
        {
            let write = self.inner.store.set(&key, bytes, self.inner.expire).await;
            Self::check_write(CALL, &key, write);
        }
        outcome
    }

    /// Stores `value` at exactly `key` with this memoizer's codec and expiry,
    /// and hands it back (the reference's `cache_data`). Failures are logged.
    pub async fn cache_data<T: Serialize>(&self, key: &str, value: T) -> T {
        if let Some(bytes) = self.encode(CACHE_DATA, key, &value) {
            let write = self.inner.store.set(key, bytes, self.inner.expire).await;
            Self::check_write(CACHE_DATA, key, write);
        }
        value
    }

    /// Removes the entry of the call with `args`; answers whether there was
    /// one.
    pub async fn invalidate(&self, args: &Args) -> Result<bool> {
        self.inner.store.delete(&self.key(args)?).await
    }

    /// Removes every entry of this memoizer's namespace; answers how many.
    /// Fails for an empty namespace rather than clearing the whole store.
    pub async fn clear_namespace(&self) -> Result<u64> {
        let (exact, prefix) = self.namespace_keys()?;
        let with_args = self.inner.store.delete_prefix(&prefix).await?;
        Ok(with_args + u64::from(self.inner.store.delete(&exact).await?))
    }
}

impl<S: BlockingStore, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// The blocking form of [`call`](Self::call): for sync code, with no
    /// async runtime.
    pub fn call_blocking<T, F>(&self, args: &Args, compute: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        self.run_blocking(args, || Always(compute())).0
    }

    /// The blocking form of [`try_call`](Self::try_call).
    pub fn try_call_blocking<T, E, F>(&self, args: &Args, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T, E>,
    {
        self.run_blocking(args, compute)
    }

    fn run_blocking<R: Outcome>(&self, args: &Args, compute: impl FnOnce() -> R) -> R {
        let Some(key) = self.key_for_call(CALL_BLOCKING, args) else {
            return compute();
        };
        let read = self.inner.store.get(&key);
        if let Some(hit) = self.decode_hit(CALL_BLOCKING, &key, read) {
            return R::from_cached(hit);
        }
        let outcome = compute();
        if let Some(bytes) = outcome
            .cacheable()
            .and_then(|value| self.encode(CALL_BLOCKING, &key, value))
        {
            let write = self.inner.store.set(&key, bytes, self.inner.expire);
            Self::check_write(CALL_BLOCKING, &key, write);
        }
        outcome
    }

    /// The blocking form of [`cache_data`](Self::cache_data).
    pub fn cache_data_blocking<T: Serialize>(&self, key: &str, value: T) -> T {
        if let Some(bytes) = self.encode(CACHE_DATA, key, &value) {
            let write = self.inner.store.set(key, bytes, self.inner.expire);
            Self::check_write(CACHE_DATA, key, write);
        }
        value
    }

    /// The blocking form of [`invalidate`](Self::invalidate).
    pub fn invalidate_blocking(&self, args: &Args) -> Result<bool> {
        self.inner.store.delete(&self.key(args)?)
    }

    /// The blocking form of [`clear_namespace`](Self::clear_namespace).
    pub fn clear_namespace_blocking(&self) -> Result<u64> {
        let (exact, prefix) = self.namespace_keys()?;
        let with_args = self.inner.store.delete_prefix(&prefix)?;
        Ok(with_args + u64::from(self.inner.store.delete(&exact)?))
    }
}

impl<S, C, H> Memoizer<S, C, H> {
    /// The namespace's key for argument-less calls, and the prefix of every
    /// other key in it. An empty namespace has no prefix of its own: clearing
    /// it would clear every key of the store, so that is refused.
    fn namespace_keys(&self) -> Result<(String, String)> {
        let ns = &self.inner.namespace;
        if ns.is_empty() {
            return Err(Error::Config(
                "refusing to clear an empty namespace: its keys are not told apart from \
                 any other key in the store; give the memoizer a namespace"
                    .into(),
            ));
        }
        Ok((ns.trim_end_matches(':').to_owned(), format!("{ns}:")))
    }
}
