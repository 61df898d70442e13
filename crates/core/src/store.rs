//! Stores: where encoded values live.
//!
//! A store maps `&str` keys to byte values with an optional time to live, as
//! Redis does. [`Store`] is the async interface every backend implements;
//! [`BlockingStore`] is its twin for backends with a real blocking client,
//! so blocking code needs no async runtime.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;
use crate::health::Health;
use crate::key::KeyMatch;
use crate::tier::Invalidations;

/// The remaining life of a key, as Redis' `PTTL` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyTtl {
    /// No such key (`PTTL` answers -2).
    Missing,
    /// The key never expires (`PTTL` answers -1).
    Persistent,
    /// The key expires after this long.
    Expires(Duration),
}

impl KeyTtl {
    /// What a Redis `PTTL` answer means: -2 no key, -1 no expiry, else
    /// milliseconds left.
    pub fn from_pttl(pttl: i64) -> Self {
        match pttl {
            -1 => KeyTtl::Persistent,
            millis if millis >= 0 => KeyTtl::Expires(Duration::from_millis(millis.unsigned_abs())),
            _ => KeyTtl::Missing,
        }
    }
}

/// The `PX` argument of a Redis `SET key value PX ms` for `expire`: whole
/// milliseconds rounded up (at least 1), so a sub-millisecond expiry still
/// expires rather than being refused by Redis as zero.
pub fn expire_millis(expire: Duration) -> u64 {
    let millis = expire.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// How a [`Store::read`] is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Give up after this long with [`Error::Timeout`](crate::Error::Timeout).
    /// A blocking store must honour it (nothing else can bound a blocking
    /// call); an async store may, and the memoizer bounds it anyway.
    pub timeout: Option<Duration>,
    /// Also report the entry's remaining life ([`Entry::ttl`]), in the same
    /// round trip, where the store can ([`Capabilities::ttl_in_read`]).
    pub with_ttl: bool,
}

impl ReadOptions {
    /// A plain read: no timeout of its own, no remaining life.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`ReadOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// See [`ReadOptions::with_ttl`].
    #[must_use]
    pub fn with_ttl(mut self, with_ttl: bool) -> Self {
        self.with_ttl = with_ttl;
        self
    }
}

/// What a [`Store::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The stored bytes.
    pub value: Bytes,
    /// The entry's remaining life, when [`ReadOptions::with_ttl`] asked for
    /// it and the store reports it in a read.
    pub ttl: Option<KeyTtl>,
    /// The value the bytes decode to, from a store that keeps it
    /// ([`Capabilities::keeps_decoded`]): a memoizer with the same codec
    /// and type serves it without decoding.
    pub decoded: Option<Decoded>,
}

impl Entry {
    /// An entry holding `value`, its remaining life not asked for.
    pub fn new(value: Bytes) -> Self {
        Entry {
            value,
            ttl: None,
            decoded: None,
        }
    }

    /// The same entry with its remaining life.
    #[must_use]
    pub fn ttl(mut self, ttl: KeyTtl) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The same entry with the value its bytes decode to.
    #[must_use]
    pub fn decoded(mut self, decoded: Option<Decoded>) -> Self {
        self.decoded = decoded;
        self
    }
}

/// What a [`Decoded`] costs beyond its value's serialized and inline
/// sizes: the shared allocation's header, this handle, and the
/// allocator's rounding.
const DECODED_OVERHEAD: usize = 128;

/// The value an entry's bytes decode to, as the memoizer that wrote them
/// decoded them once, at the write (so it is exactly what a read of the
/// bytes would give): what a store that lives in the process
/// ([`Capabilities::keeps_decoded`]) keeps beside the bytes, and hands
/// back in [`Entry::decoded`], so that its hits decode nothing. Only a
/// memoizer with the same codec type and value type uses it; any other
/// reader decodes the bytes.
///
/// A memoizer that found it remembers it for the same arguments' next
/// call, which then serves it with no lookup in the store: the store
/// must [`retire`](Self::retire) it the moment its entry is replaced,
/// removed, evicted or cleared (its expiry, given at the write, the
/// memoizer checks itself).
#[derive(Clone)]
pub struct Decoded {
    value: Arc<dyn Any + Send + Sync>,
    codec: TypeId,
    size: usize,
    /// Shared by the clones: cleared by [`retire`](Self::retire).
    live: Arc<AtomicBool>,
    /// When the entry it was written with expires, if it does.
    expires: Option<Instant>,
}

impl Decoded {
    /// `value`, decoded by a codec of type `C` from bytes that were `size`
    /// bytes long before compression, for an entry that expires after
    /// `expire` (if it does).
    pub(crate) fn new<C: 'static, T: Send + Sync + 'static>(
        value: Arc<T>,
        size: usize,
        expire: Option<Duration>,
    ) -> Self {
        Decoded {
            value,
            codec: TypeId::of::<C>(),
            size: size.saturating_add(std::mem::size_of::<T>() + DECODED_OVERHEAD),
            live: Arc::new(AtomicBool::new(true)),
            expires: expire.and_then(|expire| Instant::now().checked_add(expire)),
        }
    }

    /// Says its entry no longer holds it (replaced, removed, evicted,
    /// cleared): no memoizer serves it from then on. A store that keeps
    /// decoded values calls it before the change returns.
    pub fn retire(&self) {
        self.live.store(false, Ordering::Release);
    }

    /// A handle on it for the memoizer that found it (see
    /// [`crate::identity::Handle`]).
    pub(crate) fn handle(&self) -> crate::identity::Handle {
        crate::identity::Handle::new(
            Arc::downgrade(&self.value),
            Arc::clone(&self.live),
            self.expires,
            None,
        )
    }

    /// The memory the decoded value takes, estimated: its serialized size
    /// before compression, its inline size, and its allocation's and this
    /// handle's overhead. A store bounded in bytes counts it with the
    /// entry.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The value, if a codec of type `C` decoded it as a `T`.
    pub(crate) fn get<C: 'static, T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        if self.codec != TypeId::of::<C>() {
            return None;
        }
        Arc::clone(&self.value).downcast::<T>().ok()
    }
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded").field("size", &self.size).finish()
    }
}

impl PartialEq for Decoded {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.value, &other.value) && self.codec == other.codec
    }
}

impl Eq for Decoded {}

/// How a [`Store::write`] is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// The entry disappears after this long; without it, it is kept.
    pub expire: Option<Duration>,
    /// Give up after this long, as [`ReadOptions::timeout`] says.
    pub timeout: Option<Duration>,
}

impl WriteOptions {
    /// A write that keeps the entry and has no timeout of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`WriteOptions::expire`].
    #[must_use]
    pub fn expire(mut self, expire: Option<Duration>) -> Self {
        self.expire = expire;
        self
    }

    /// See [`WriteOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// How [`Store::remove`] removes a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoveOptions {
    /// Give up after this long, as [`ReadOptions::timeout`] says.
    pub timeout: Option<Duration>,
}

impl RemoveOptions {
    /// No timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`RemoveOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What [`Store::lock`] does with the cross-process lock of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    /// Take the lock if nobody holds it, for this long (Redis'
    /// `SET <lock key> <token> NX PX <lease>`).
    Acquire(Duration),
    /// Give the lock this long again from now, if the token still holds it.
    Extend(Duration),
    /// Let the lock go, if the token still holds it (never another
    /// holder's).
    Release,
}

/// A request to [`Store::lock`]: what to do, for which holder, and how long
/// to wait for the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockRequest<'a> {
    /// The holder: a token no other holder, in any process, ever uses.
    pub token: &'a str,
    /// What to do.
    pub action: LockAction,
    /// Give up after this long, as [`ReadOptions::timeout`] says.
    pub timeout: Option<Duration>,
}

impl<'a> LockRequest<'a> {
    /// `action` for the holder `token`, with no timeout of its own.
    pub fn new(token: &'a str, action: LockAction) -> Self {
        LockRequest {
            token,
            action,
            timeout: None,
        }
    }

    /// See [`LockRequest::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The error [`Store::lock`] answers by default: the store holds no
/// cross-process locks ([`Capabilities::locks`] is off).
fn no_locks(backend: &str) -> crate::Error {
    crate::Error::config(format!(
        "the {backend} store holds no cross-process locks; distributed_lock needs a Redis store"
    ))
}

/// What a store can do beyond the required methods, so that callers (and
/// the conformance suites) adapt to it instead of asking which backend it
/// is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`Store::read`] with [`ReadOptions::with_ttl`] reports the entry's
    /// remaining life, in the same round trip.
    pub ttl_in_read: bool,
    /// [`ReadOptions::timeout`] and [`WriteOptions::timeout`] are honoured
    /// by the store itself.
    pub bounded_operations: bool,
    /// The store hands out one [`Health`] shared by all its clones
    /// ([`Backend::health`](crate::Backend::health)).
    pub shared_health: bool,
    /// The store reports every change to its keys to the local tiers over
    /// it ([`Backend::track_changes`](crate::Backend::track_changes)).
    pub tracks_changes: bool,
    /// The store holds locks that every process sharing it sees
    /// ([`Store::lock`]), for
    /// [`distributed_lock`](crate::MemoizerBuilder::distributed_lock).
    pub locks: bool,
    /// The store lives in the process and keeps each entry's decoded value
    /// beside its bytes ([`Store::write_decoded`], [`Entry::decoded`]), so
    /// that a memoizer's hits decode nothing.
    pub keeps_decoded: bool,
}

impl Capabilities {
    /// Nothing beyond the required methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`Capabilities::ttl_in_read`].
    #[must_use]
    pub fn ttl_in_read(mut self, on: bool) -> Self {
        self.ttl_in_read = on;
        self
    }

    /// See [`Capabilities::bounded_operations`].
    #[must_use]
    pub fn bounded_operations(mut self, on: bool) -> Self {
        self.bounded_operations = on;
        self
    }

    /// See [`Capabilities::shared_health`].
    #[must_use]
    pub fn shared_health(mut self, on: bool) -> Self {
        self.shared_health = on;
        self
    }

    /// See [`Capabilities::tracks_changes`].
    #[must_use]
    pub fn tracks_changes(mut self, on: bool) -> Self {
        self.tracks_changes = on;
        self
    }

    /// See [`Capabilities::locks`].
    #[must_use]
    pub fn locks(mut self, on: bool) -> Self {
        self.locks = on;
        self
    }

    /// See [`Capabilities::keeps_decoded`].
    #[must_use]
    pub fn keeps_decoded(mut self, on: bool) -> Self {
        self.keeps_decoded = on;
        self
    }
}

/// What a store is and offers, whichever way it is called: its name, its
/// [`Capabilities`], its shared [`Health`] and its change reports.
///
/// Declared once for [`Store`] and [`BlockingStore`], both of which build
/// on it: a store with both interfaces (as the memory store has) says it
/// once. Only [`backend`](Self::backend) is required.
pub trait Backend: Send + Sync {
    /// The backend's name for logs, e.g. `"redis"`.
    fn backend(&self) -> &'static str;

    /// The database system the store talks to, as OpenTelemetry's
    /// `db.system.name` names it (`"redis"` for either Redis client), for
    /// the store operations' metric. The default: the backend's name.
    fn system(&self) -> &'static str {
        self.backend()
    }

    /// What this store can do beyond the required methods. The default:
    /// nothing.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The health view every memoizer over this store (and its clones)
    /// shares: one circuit breaker, so that an outage learned by one call
    /// spares every other. The default, `None`, gives each memoizer a
    /// breaker of its own.
    fn health(&self) -> Option<Health> {
        None
    }

    /// Reports every later change to this store's keys (a write, a
    /// removal, an expiry, an eviction, from this process or another) to
    /// `tier`, for as long as it lives, and a flush whenever changes may
    /// have gone unreported. This is what keeps a local tier true. The
    /// default: not supported.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when the store cannot report
    /// changes, saying why.
    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        let _ = tier;
        Err(untracked(
            &format!("the {} store", self.backend()),
            "use a store that tracks changes",
        ))
    }
}

/// The error [`Backend::track_changes`] answers for a store that cannot
/// report changes to its keys: names the store (`"the memory store"`,
/// `"this RedisStore"`) and says how to make it report them (`fix`), or to
/// accept a tier's copies as old as its `max_ttl`.
pub fn untracked(store: &str, fix: &str) -> crate::Error {
    crate::Error::config(format!(
        "{store} cannot report changes to its keys, so a local tier over it could serve values \
         other processes changed: {fix}, or use LocalTier::best_effort(true) to accept copies \
         as old as max_ttl"
    ))
}

/// The remaining life of the entry in `read` (asked with
/// [`ReadOptions::with_ttl`]): what [`Store::ttl`] and
/// [`BlockingStore::ttl`] answer by default.
fn ttl_of(backend: &str, read: Option<Entry>) -> Result<KeyTtl> {
    match read {
        None => Ok(KeyTtl::Missing),
        Some(Entry { ttl: Some(ttl), .. }) => Ok(ttl),
        Some(Entry { ttl: None, .. }) => Err(crate::Error::config(format!(
            "the {backend} store reports no time to live in its reads; it must implement `ttl`"
        ))),
    }
}

/// An async key-value store with per-key expiry.
///
/// The four required methods are the ones a memoizer calls:
/// [`read`](Self::read), [`write`](Self::write), [`remove`](Self::remove)
/// and [`delete_matching`](Self::delete_matching), each with the options a
/// call gives it. [`get`](Self::get), [`set`](Self::set),
/// [`delete`](Self::delete) and [`ttl`](Self::ttl) are the convenience
/// forms, provided on top of them. What a store is and offers (its name,
/// capabilities, health, change reports) is its [`Backend`].
///
/// Object safe: `Arc<dyn Store>` and `Box<dyn Store>` are stores too.
#[async_trait]
pub trait Store: Backend {
    /// The entry at `key`, or `None` when there is none (or it expired),
    /// read as `options` say. A store whose
    /// [`capabilities`](crate::Backend::capabilities) have
    /// [`ttl_in_read`](Capabilities::ttl_in_read) reports the entry's
    /// remaining life when asked; others leave [`Entry::ttl`] empty.
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>>;

    /// Stores `value` at `key` in one step, replacing any value and its
    /// expiry; with [`WriteOptions::expire`] the key disappears after that
    /// long, without it the key is kept.
    async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()>;

    /// [`write`](Self::write), with the value the bytes decode to, for a
    /// store that keeps it ([`Capabilities::keeps_decoded`]) and hands it
    /// back in [`Entry::decoded`]. The default writes the bytes alone.
    async fn write_decoded(
        &self,
        key: &str,
        value: Bytes,
        decoded: Decoded,
        options: &WriteOptions,
    ) -> Result<()> {
        let _ = decoded;
        self.write(key, value, options).await
    }

    /// Removes `key`, as `options` say; answers whether it existed.
    async fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool>;

    /// Removes every key in `keys`; answers how many. Backends scan the
    /// keys that start with [`KeyMatch::prefix`] (never `KEYS`) and remove
    /// those that [`KeyMatch::matches`].
    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;

    /// The value at `key`: [`read`](Self::read) with default options.
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self
            .read(key, &ReadOptions::new())
            .await?
            .map(|entry| entry.value))
    }

    /// Stores `value` at `key`, expiring after `expire` if given:
    /// [`write`](Self::write) with that expiry.
    async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        self.write(key, value, &WriteOptions::new().expire(expire))
            .await
    }

    /// Removes `key`; answers whether it existed: [`remove`](Self::remove)
    /// with default options.
    async fn delete(&self, key: &str) -> Result<bool> {
        self.remove(key, &RemoveOptions::new()).await
    }

    /// The remaining life of `key`. The default reads the entry with its
    /// time to live; a store without
    /// [`ttl_in_read`](Capabilities::ttl_in_read) must implement it.
    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let read = self.read(key, &ReadOptions::new().with_ttl(true)).await?;
        ttl_of(self.backend(), read)
    }

    /// Acts on the cross-process lock of the entry at `key` (kept at a key
    /// of the store's own choosing, never `key`), as `request` says;
    /// answers whether `request.token` holds the lock afterwards (for a
    /// release: whether it held it until then). A store whose
    /// [`capabilities`](crate::Backend::capabilities) have
    /// [`locks`](Capabilities::locks) implements it; the default refuses.
    ///
    /// # Errors
    ///
    /// The store's error; by default, [`Error::Config`](crate::Error::Config).
    async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let _ = (key, request);
        Err(no_locks(self.backend()))
    }
}

/// The blocking form of [`Store`], for backends with a real blocking
/// client: the same required methods and conveniences, called on the
/// caller's thread. Nothing but the store can bound a blocking call, so a
/// store that can be slow honours the options' timeouts.
///
/// Object safe: `Arc<dyn BlockingStore>` and `Box<dyn BlockingStore>` are
/// stores too.
pub trait BlockingStore: Backend {
    /// See [`Store::read`]; honours [`ReadOptions::timeout`].
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>>;

    /// See [`Store::write`]; honours [`WriteOptions::timeout`].
    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()>;

    /// See [`Store::write_decoded`].
    fn write_decoded(
        &self,
        key: &str,
        value: Bytes,
        decoded: Decoded,
        options: &WriteOptions,
    ) -> Result<()> {
        let _ = decoded;
        self.write(key, value, options)
    }

    /// See [`Store::remove`]; honours [`RemoveOptions::timeout`].
    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool>;

    /// See [`Store::delete_matching`].
    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;

    /// See [`Store::get`].
    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self
            .read(key, &ReadOptions::new())?
            .map(|entry| entry.value))
    }

    /// See [`Store::set`].
    fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        self.write(key, value, &WriteOptions::new().expire(expire))
    }

    /// See [`Store::delete`].
    fn delete(&self, key: &str) -> Result<bool> {
        self.remove(key, &RemoveOptions::new())
    }

    /// See [`Store::ttl`].
    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let read = self.read(key, &ReadOptions::new().with_ttl(true))?;
        ttl_of(self.backend(), read)
    }

    /// See [`Store::lock`]; honours [`LockRequest::timeout`].
    ///
    /// # Errors
    ///
    /// As [`Store::lock`] says.
    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let _ = (key, request);
        Err(no_locks(self.backend()))
    }
}

// Both traits must stay object safe.
const _: Option<&dyn Store> = None;
const _: Option<&dyn BlockingStore> = None;

macro_rules! forward_store {
    ($($ptr:ident),*) => {$(
        impl<S: Backend + ?Sized> Backend for $ptr<S> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }

            fn system(&self) -> &'static str {
                (**self).system()
            }

            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }

            fn health(&self) -> Option<Health> {
                (**self).health()
            }

            fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
                (**self).track_changes(tier)
            }
        }

        #[async_trait]
        impl<S: Store + ?Sized> Store for $ptr<S> {
            async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
                (**self).read(key, options).await
            }

            async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
                (**self).write(key, value, options).await
            }

            async fn write_decoded(
                &self,
                key: &str,
                value: Bytes,
                decoded: Decoded,
                options: &WriteOptions,
            ) -> Result<()> {
                (**self).write_decoded(key, value, decoded, options).await
            }

            async fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
                (**self).remove(key, options).await
            }

            async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
                (**self).delete_matching(keys).await
            }

            async fn ttl(&self, key: &str) -> Result<KeyTtl> {
                (**self).ttl(key).await
            }

            async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
                (**self).lock(key, request).await
            }
        }

        impl<S: BlockingStore + ?Sized> BlockingStore for $ptr<S> {
            fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
                (**self).read(key, options)
            }

            fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
                (**self).write(key, value, options)
            }

            fn write_decoded(
                &self,
                key: &str,
                value: Bytes,
                decoded: Decoded,
                options: &WriteOptions,
            ) -> Result<()> {
                (**self).write_decoded(key, value, decoded, options)
            }

            fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
                (**self).remove(key, options)
            }

            fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
                (**self).delete_matching(keys)
            }

            fn ttl(&self, key: &str) -> Result<KeyTtl> {
                (**self).ttl(key)
            }

            fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
                (**self).lock(key, request)
            }
        }
    )*};
}

forward_store!(Arc, Box);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pttl_answers_map_to_key_ttl() {
        assert_eq!(KeyTtl::from_pttl(-2), KeyTtl::Missing);
        assert_eq!(KeyTtl::from_pttl(-1), KeyTtl::Persistent);
        assert_eq!(KeyTtl::from_pttl(0), KeyTtl::Expires(Duration::ZERO));
        assert_eq!(
            KeyTtl::from_pttl(1500),
            KeyTtl::Expires(Duration::from_millis(1500))
        );
    }

    #[test]
    fn expiries_round_up_to_whole_milliseconds() {
        assert_eq!(expire_millis(Duration::from_micros(1500)), 2);
        assert_eq!(expire_millis(Duration::from_nanos(1)), 1);
        assert_eq!(expire_millis(Duration::from_secs(3600)), 3_600_000);
    }
}
