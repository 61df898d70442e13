//! The [`Memoizer`]: look up a call's result in the store, or compute it and
//! store it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::breaker::{Breaker, BreakerPolicy};
use crate::codec::{Codec, JsonZlib};
use crate::condition::{Condition, should_cache};
use crate::flight::{Flights, Landing, Leader, Role};
use crate::hasher::{KeyHasher, Sha256};
use crate::key::{Args, KeyMatch, cache_key};
use crate::stats::{Counters, Stats};
use crate::store::{BlockingStore, Store};
use crate::{Error, Result};

/// The default store operation timeout: 500 ms, a tenth of the reference's
/// 5 s socket timeout.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);

/// Memoizes calls in a store, as the reference's `cache_function` does.
///
/// A call is looked up under the reference's key for its [`Args`]; on a hit
/// the stored value is returned without running the computation, on a miss
/// the computation runs and its result is stored (with the configured
/// expiry). Cache failures never reach the caller: a store that errors or
/// hangs, a value that does not decode, an argument that does not encode:
/// each is logged through `tracing` and the call is served by the
/// computation.
///
/// Beyond the reference:
/// - **Single-flight** (on by default): concurrent calls with the same key
///   in one process run the computation once; the others wait for it. If
///   the leading call is cancelled or panics, a waiter takes over.
/// - **Operation timeout** (default [`DEFAULT_OP_TIMEOUT`], async path,
///   inside a tokio runtime with timers): a slow read is a miss.
/// - **Write-behind** (default on the async path inside a tokio runtime):
///   the result is returned as soon as it is computed and written in the
///   background; calls in this process see it at once, and
///   [`flush`](Self::flush) waits for pending writes (call it before a
///   short-lived program exits). A call whose read failed does not write.
/// - **Circuit breaker** (default [`BreakerPolicy::default`]): after
///   consecutive store failures the store is skipped for a cool-down, then
///   probed; transitions are logged once.
/// - **Counters** ([`stats`](Self::stats)) and a `tracing` span per call
///   (`memocache.call`, with `key`, `outcome` and `micros`).
///
/// And two fixes invisible to Python services sharing the cache: a `None`
/// result is a real cached value, and a write is one atomic `SET` with its
/// expiry instead of `DEL` then `SET`.
///
/// Cloning is cheap: clones share the store, configuration, flights,
/// breaker and counters.
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
    policy: Policy,
    flights: Arc<Flights>,
    breaker: Breaker,
    counters: Counters,
    pending_writes: AtomicUsize,
    write_done: Notify,
}

#[derive(Debug)]
struct Policy {
    namespace: String,
    expire: Option<Duration>,
    cache_only_for: Option<Vec<Condition>>,
    skip_cache_keys: Vec<String>,
    single_flight: bool,
    op_timeout: Option<Duration>,
    write_behind: bool,
    breaker: Option<BreakerPolicy>,
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
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Memoizer`]; see [`Memoizer::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct MemoizerBuilder<S, C = JsonZlib, H = Sha256> {
    store: S,
    codec: C,
    hasher: H,
    policy: Policy,
}

impl<S> Memoizer<S> {
    /// Starts configuring a memoizer over `store`, with the reference's codec
    /// (JSON + zlib) and hasher (SHA-256), an empty namespace, no expiry, no
    /// conditions and no skipped keys, and memocache's resilience defaults.
    pub fn builder(store: S) -> MemoizerBuilder<S> {
        MemoizerBuilder {
            store,
            codec: JsonZlib::default(),
            hasher: Sha256,
            policy: Policy {
                namespace: String::new(),
                expire: None,
                cache_only_for: None,
                skip_cache_keys: Vec::new(),
                single_flight: true,
                op_timeout: Some(DEFAULT_OP_TIMEOUT),
                write_behind: true,
                breaker: Some(BreakerPolicy::default()),
            },
        }
    }
}

impl<S, C, H> MemoizerBuilder<S, C, H> {
    /// The key prefix of every entry (the reference's `namespace`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.policy.namespace = namespace.into();
        self
    }

    /// How long entries live. As in the reference, zero means "no expiry".
    pub fn expire(mut self, expire: Duration) -> Self {
        self.policy.expire = (!expire.is_zero()).then_some(expire);
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
        self.policy.cache_only_for = Some(conditions.into_iter().collect());
        self
    }

    /// Keyword arguments left out of the key (the reference's
    /// `skip_cache_keys`). Positional arguments are always part of the key.
    pub fn skip_cache_keys<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.policy.skip_cache_keys = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether concurrent calls with one key share one computation (on by
    /// default).
    pub fn single_flight(mut self, on: bool) -> Self {
        self.policy.single_flight = on;
        self
    }

    /// How long an async store operation may take before it is abandoned
    /// (a read becomes a miss); `None` leaves it to the client. Default
    /// [`DEFAULT_OP_TIMEOUT`]. Applies inside a tokio runtime, whose timers
    /// must be enabled. The blocking path relies on the store client's own
    /// socket timeouts.
    pub fn op_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.policy.op_timeout = timeout;
        self
    }

    /// Whether the async path writes results in the background (default
    /// on, inside a tokio runtime) or waits for the write.
    pub fn write_behind(mut self, on: bool) -> Self {
        self.policy.write_behind = on;
        self
    }

    /// The circuit breaker's policy, or `None` to always call the store.
    pub fn circuit_breaker(mut self, policy: Option<BreakerPolicy>) -> Self {
        self.policy.breaker = policy;
        self
    }

    /// Replaces the codec, e.g. with zstd or MessagePack for caches that no
    /// Python service reads.
    pub fn codec<C2: Codec>(self, codec: C2) -> MemoizerBuilder<S, C2, H> {
        MemoizerBuilder {
            store: self.store,
            codec,
            hasher: self.hasher,
            policy: self.policy,
        }
    }

    /// Replaces the key hasher, e.g. with BLAKE3 for caches that no Python
    /// service reads.
    pub fn hasher<H2: KeyHasher>(self, hasher: H2) -> MemoizerBuilder<S, C, H2> {
        MemoizerBuilder {
            store: self.store,
            codec: self.codec,
            hasher,
            policy: self.policy,
        }
    }

    /// Finishes the configuration.
    pub fn build(self) -> Memoizer<S, C, H> {
        Memoizer {
            inner: Arc::new(Inner {
                store: self.store,
                codec: self.codec,
                hasher: self.hasher,
                breaker: Breaker::new(self.policy.breaker),
                policy: self.policy,
                flights: Arc::default(),
                counters: Counters::default(),
                pending_writes: AtomicUsize::new(0),
                write_done: Notify::new(),
            }),
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
const READ_FAILED: &str = "Error on get cached data";
const WRITE_FAILED: &str = "Error on writing cache";

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

/// What the store read of a call found.
enum Read<T> {
    /// A stored value that decoded, with its bytes (to share with waiters).
    Hit(T, Bytes),
    /// Nothing usable; `store_ok` says whether the store answered (a call
    /// whose read failed does not write).
    Miss { store_ok: bool },
}

/// How a call went, for its span and counters.
#[derive(Clone, Copy)]
enum Path {
    Hit,
    Miss,
    Merged,
    Bypassed,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Hit => "hit",
            Path::Miss => "miss",
            Path::Merged => "merged",
            Path::Bypassed => "bypassed",
        }
    }
}

/// The `memocache.call` span of one call.
struct CallSpan {
    span: tracing::Span,
    /// When the call began; not read when no subscriber takes the span.
    start: Option<Instant>,
}

impl CallSpan {
    fn new(namespace: &str) -> Self {
        let span = tracing::debug_span!(
            "memocache.call",
            namespace,
            key = tracing::field::Empty,
            outcome = tracing::field::Empty,
            micros = tracing::field::Empty
        );
        let start = (!span.is_disabled()).then(Instant::now);
        CallSpan { span, start }
    }

    fn key(&self, key: &str) {
        self.span.record("key", key);
    }

    fn end(&self, path: Path) {
        let Some(start) = self.start else {
            return;
        };
        self.span.record("outcome", path.name());
        self.span.record(
            "micros",
            u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
    }
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
        &self.inner.policy.namespace
    }

    /// The expiry of new entries.
    pub fn expire(&self) -> Option<Duration> {
        self.inner.policy.expire
    }

    /// What this memoizer has done so far.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(self.inner.breaker.state())
    }

    /// The key a call with `args` is cached under: byte for byte the
    /// reference's key for the same namespace, arguments and skipped keys.
    pub fn key(&self, args: &Args) -> Result<String> {
        cache_key(
            &self.inner.policy.namespace,
            args,
            &self.inner.policy.skip_cache_keys,
            &self.inner.hasher,
        )
    }

    /// Whether the `cache_only_for` conditions let this call use the cache.
    pub fn should_cache(&self, args: &Args) -> bool {
        should_cache(self.inner.policy.cache_only_for.as_deref(), args)
    }

    /// The key to use for this call, or `None` when it bypasses the cache.
    fn key_for_call(&self, controller: &'static str, args: &Args) -> Option<String> {
        if !self.should_cache(args) {
            Counters::bump(&self.inner.counters.bypassed);
            return None;
        }
        match self.key(args) {
            Ok(key) => Some(key),
            Err(e) => {
                Counters::bump(&self.inner.counters.bypassed);
                let namespace = &self.inner.policy.namespace;
                log_failure(controller, "Error on building cache key", namespace, &e);
                None
            }
        }
    }

    fn join_flight(&self, key: &str) -> Option<Role> {
        self.inner
            .policy
            .single_flight
            .then(|| self.inner.flights.join(key))
    }

    /// Records the result of a store operation in the breaker and counters;
    /// failures are logged and become `None`.
    fn record<T>(
        &self,
        backend: &'static str,
        controller: &'static str,
        subject: &'static str,
        key: &str,
        result: Result<T>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.inner.breaker.success(backend);
                Some(value)
            }
            Err(e) => {
                let counter = match e {
                    Error::Timeout(_) => &self.inner.counters.timeouts,
                    _ => &self.inner.counters.store_errors,
                };
                Counters::bump(counter);
                self.inner.breaker.failure(backend);
                log_failure(controller, subject, key, &e);
                None
            }
        }
    }

    /// Whether the breaker lets this call use the store.
    fn store_allowed(&self, backend: &'static str) -> bool {
        let allowed = self.inner.breaker.allow(backend);
        if !allowed {
            Counters::bump(&self.inner.counters.skipped_by_breaker);
        }
        allowed
    }

    /// Turns a store read into a hit, or a miss (logging a value that does
    /// not decode).
    fn decode_read<T: DeserializeOwned>(
        &self,
        controller: &'static str,
        key: &str,
        read: Option<Option<Bytes>>,
    ) -> Read<T> {
        match read {
            None => Read::Miss { store_ok: false },
            Some(Some(bytes)) if !bytes.is_empty() => match self.inner.codec.decode(&bytes) {
                Ok(value) => Read::Hit(value, bytes),
                Err(e) => {
                    Counters::bump(&self.inner.counters.decode_errors);
                    log_failure(controller, "Error on reading cache", key, &e);
                    Read::Miss { store_ok: true }
                }
            },
            Some(_) => Read::Miss { store_ok: true },
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

    /// What a waiter makes of its flight's landing: `Ok` a value, or
    /// `Err(retry)` where `retry` says whether to join again (the leader
    /// went away) or compute alone.
    fn landed<T: DeserializeOwned>(&self, landing: Landing) -> Result<T, bool> {
        match landing {
            Landing::Shared(bytes) => self.inner.codec.decode(&bytes).map_err(|_| false),
            Landing::Unshared => Err(false),
            Landing::Abandoned => Err(true),
        }
    }

    /// After a miss: the encoded result, shared with the flight's waiters.
    fn settle<R: Outcome>(
        &self,
        controller: &'static str,
        key: &str,
        leader: Option<&Leader>,
        outcome: &R,
    ) -> Option<Bytes> {
        let encoded = outcome
            .cacheable()
            .and_then(|value| self.encode(controller, key, value));
        if let Some(leader) = leader {
            match &encoded {
                Some(bytes) => leader.share(bytes.clone()),
                None => leader.unshared(),
            }
        }
        encoded
    }
}

impl<S: Store + 'static, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
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
        let span = CallSpan::new(&self.inner.policy.namespace);
        let Some(key) = self.key_for_call(CALL, args) else {
            span.end(Path::Bypassed);
            return compute().await;
        };
        span.key(&key);
        loop {
            let leader = match self.join_flight(&key) {
                Some(Role::Waiter(waiter)) => match self.landed(waiter.wait().await) {
                    Ok(value) => {
                        Counters::bump(&self.inner.counters.merged);
                        span.end(Path::Merged);
                        return R::from_cached(value);
                    }
                    Err(true) => continue,
                    Err(false) => {
                        Counters::bump(&self.inner.counters.misses);
                        span.end(Path::Miss);
                        return compute().await;
                    }
                },
                Some(Role::Leader(leader)) => Some(leader),
                None => None,
            };
            let (outcome, path) = self.lead(&key, leader, compute).await;
            span.end(path);
            return outcome;
        }
    }

    async fn lead<R, F, Fut>(&self, key: &str, leader: Option<Leader>, compute: F) -> (R, Path)
    where
        R: Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let read = self.read(key).await;
        let store_ok = match self.decode_read(CALL, key, read) {
            Read::Hit(value, bytes) => {
                Counters::bump(&self.inner.counters.hits);
                if let Some(leader) = &leader {
                    leader.share(bytes);
                }
                return (R::from_cached(value), Path::Hit);
            }
            Read::Miss { store_ok } => store_ok,
        };
        Counters::bump(&self.inner.counters.misses);
        let outcome = compute().await;
        let encoded = self.settle(CALL, key, leader.as_ref(), &outcome);
        if let (true, Some(bytes)) = (store_ok, encoded) {
            self.write(key, bytes, leader).await;
        }
        (outcome, Path::Miss)
    }

    /// A store operation under the breaker and the operation timeout.
    async fn guarded<T, Fut>(
        &self,
        controller: &'static str,
        subject: &'static str,
        key: &str,
        op: impl FnOnce() -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let backend = self.inner.store.backend();
        if !self.store_allowed(backend) {
            return None;
        }
        let result = match (
            self.inner.policy.op_timeout,
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(limit), Ok(_)) => tokio::time::timeout(limit, op())
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
            _ => op().await,
        };
        self.record(backend, controller, subject, key, result)
    }

    async fn read(&self, key: &str) -> Option<Option<Bytes>> {
        self.guarded(CALL, READ_FAILED, key, || self.inner.store.get(key))
            .await
    }

    /// Writes a computed value: in the background when write-behind is on
    /// and a tokio runtime is running, else before returning. The flight
    /// (if any) ends when the write does.
    async fn write(&self, key: &str, bytes: Bytes, leader: Option<Leader>) {
        let expire = self.inner.policy.expire;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if self.inner.policy.write_behind => {
                let this = self.clone();
                let key = key.to_owned();
                self.inner.pending_writes.fetch_add(1, Ordering::SeqCst);
                runtime.spawn(async move {
                    this.guarded(CALL, WRITE_FAILED, &key, || {
                        this.inner.store.set(&key, bytes, expire)
                    })
                    .await;
                    drop(leader);
                    this.inner.pending_writes.fetch_sub(1, Ordering::SeqCst);
                    this.inner.write_done.notify_waiters();
                });
            }
            _ => {
                self.guarded(CALL, WRITE_FAILED, key, || {
                    self.inner.store.set(key, bytes, expire)
                })
                .await;
            }
        }
    }

    /// Waits until every background write started so far has finished
    /// (or timed out). Call it before a short-lived program exits, so the
    /// last results are not lost with the runtime.
    pub async fn flush(&self) {
        loop {
            let done = self.inner.write_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.inner.pending_writes.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }

    /// Stores `value` at exactly `key` with this memoizer's codec and expiry,
    /// and hands it back (the reference's `cache_data`). The write is done
    /// when this returns; failures are logged.
    pub async fn cache_data<T: Serialize>(&self, key: &str, value: T) -> T {
        if let Some(bytes) = self.encode(CACHE_DATA, key, &value) {
            let expire = self.inner.policy.expire;
            self.guarded(CACHE_DATA, WRITE_FAILED, key, || {
                self.inner.store.set(key, bytes, expire)
            })
            .await;
        }
        value
    }

    /// Removes the entry of the call with `args`; answers whether there was
    /// one. A background write of that entry still under way finishes first,
    /// so it cannot bring the entry back.
    pub async fn invalidate(&self, args: &Args) -> Result<bool> {
        let key = self.key(args)?;
        if let Some(flight) = self.inner.flights.current(&key) {
            flight.wait().await;
        }
        self.inner.store.delete(&key).await
    }

    /// Removes every entry of this memoizer's namespace, and nothing else
    /// (a nested namespace such as `ns:sub` keeps its entries); answers how
    /// many. Background writes under way finish first. Fails for an empty
    /// namespace rather than clearing the whole store.
    pub async fn clear_namespace(&self) -> Result<u64> {
        self.flush().await;
        let (exact, prefix) = self.namespace_keys()?;
        let with_args = self.inner.store.delete_matching(&prefix).await?;
        Ok(with_args + u64::from(self.inner.store.delete(&exact).await?))
    }
}

impl<S: BlockingStore, C: Codec, H: KeyHasher> Memoizer<S, C, H> {
    /// The blocking form of [`call`](Self::call): for sync code, with no
    /// async runtime. The write is done before it returns.
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
        let span = CallSpan::new(&self.inner.policy.namespace);
        let Some(key) = self.key_for_call(CALL_BLOCKING, args) else {
            span.end(Path::Bypassed);
            return compute();
        };
        span.key(&key);
        loop {
            let leader = match self.join_flight(&key) {
                Some(Role::Waiter(waiter)) => match self.landed(waiter.wait_blocking()) {
                    Ok(value) => {
                        Counters::bump(&self.inner.counters.merged);
                        span.end(Path::Merged);
                        return R::from_cached(value);
                    }
                    Err(true) => continue,
                    Err(false) => {
                        Counters::bump(&self.inner.counters.misses);
                        span.end(Path::Miss);
                        return compute();
                    }
                },
                Some(Role::Leader(leader)) => Some(leader),
                None => None,
            };
            let (outcome, path) = self.lead_blocking(&key, leader, compute);
            span.end(path);
            return outcome;
        }
    }

    fn lead_blocking<R: Outcome>(
        &self,
        key: &str,
        leader: Option<Leader>,
        compute: impl FnOnce() -> R,
    ) -> (R, Path) {
        let read = self.guarded_blocking(CALL_BLOCKING, READ_FAILED, key, || {
            self.inner.store.get(key)
        });
        let store_ok = match self.decode_read(CALL_BLOCKING, key, read) {
            Read::Hit(value, bytes) => {
                Counters::bump(&self.inner.counters.hits);
                if let Some(leader) = &leader {
                    leader.share(bytes);
                }
                return (R::from_cached(value), Path::Hit);
            }
            Read::Miss { store_ok } => store_ok,
        };
        Counters::bump(&self.inner.counters.misses);
        let outcome = compute();
        let encoded = self.settle(CALL_BLOCKING, key, leader.as_ref(), &outcome);
        if let (true, Some(bytes)) = (store_ok, encoded) {
            let expire = self.inner.policy.expire;
            self.guarded_blocking(CALL_BLOCKING, WRITE_FAILED, key, || {
                self.inner.store.set(key, bytes, expire)
            });
        }
        drop(leader);
        (outcome, Path::Miss)
    }

    /// A blocking store operation under the breaker (its timeout is the
    /// client's own).
    fn guarded_blocking<T>(
        &self,
        controller: &'static str,
        subject: &'static str,
        key: &str,
        op: impl FnOnce() -> Result<T>,
    ) -> Option<T> {
        let backend = self.inner.store.backend();
        if !self.store_allowed(backend) {
            return None;
        }
        self.record(backend, controller, subject, key, op())
    }

    /// The blocking form of [`cache_data`](Self::cache_data).
    pub fn cache_data_blocking<T: Serialize>(&self, key: &str, value: T) -> T {
        if let Some(bytes) = self.encode(CACHE_DATA, key, &value) {
            let expire = self.inner.policy.expire;
            self.guarded_blocking(CACHE_DATA, WRITE_FAILED, key, || {
                self.inner.store.set(key, bytes, expire)
            });
        }
        value
    }

    /// The blocking form of [`invalidate`](Self::invalidate).
    pub fn invalidate_blocking(&self, args: &Args) -> Result<bool> {
        let key = self.key(args)?;
        if let Some(flight) = self.inner.flights.current(&key) {
            flight.wait_blocking();
        }
        self.inner.store.delete(&key)
    }

    /// The blocking form of [`clear_namespace`](Self::clear_namespace).
    pub fn clear_namespace_blocking(&self) -> Result<u64> {
        // Background writes come from the async path; each is bounded by
        // the operation timeout.
        while self.inner.pending_writes.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (exact, prefix) = self.namespace_keys()?;
        let with_args = self.inner.store.delete_matching(&prefix)?;
        Ok(with_args + u64::from(self.inner.store.delete(&exact)?))
    }
}

impl<S, C, H> Memoizer<S, C, H> {
    /// The namespace's key for argument-less calls, and its entries with
    /// arguments. An empty namespace has no prefix of its own: clearing it
    /// would clear every key of the store, so that is refused.
    fn namespace_keys(&self) -> Result<(String, KeyMatch)> {
        let ns = &self.inner.policy.namespace;
        if ns.is_empty() {
            return Err(Error::Config(
                "refusing to clear an empty namespace: its keys are not told apart from \
                 any other key in the store; give the memoizer a namespace"
                    .into(),
            ));
        }
        Ok((
            ns.trim_end_matches(':').to_owned(),
            KeyMatch::Namespace(ns.clone()),
        ))
    }
}
