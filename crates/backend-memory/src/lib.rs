//! An in-memory [`Store`] for memocache on [moka]: bounded by entries or by
//! bytes, with a per-entry time to live that behaves like Redis' (gone after
//! it passes, kept without one, replaced by an overwrite).
//!
//! It is the embedded default, the store unit tests run on, and a fast
//! first tier in front of Redis. One [`MemoryStore`] serves both the async
//! [`Store`] and the [`BlockingStore`] interface over the same entries.
//!
//! ```
//! use memocache::{Args, Memoizer, MemoryStore};
//!
//! let memo = Memoizer::builder(MemoryStore::new()).namespace("math").build();
//! let square = |n: u64| memo.call_blocking(&Args::new().arg(&n), || n * n);
//! assert_eq!(square(12), 144);
//! assert_eq!(square(12), 144); // served from memory
//! ```
//!
//! Depend on `memocache` (feature `memory`) rather than on this crate:
//! it re-exports `memocache::MemoryStore`, the path the examples use.
#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use memocache_core::{
    Backend, BlockingStore, Bytes, Capabilities, Decoded, Entry, Invalidations, KeyMatch, KeyTtl,
    LockAction, LockRequest, ReadOptions, RemoveOptions, Result, Store, TrackedTiers, WriteOptions,
    async_trait,
};
use moka::Expiry;
use moka::notification::RemovalCause;
use moka::sync::Cache;

/// The default bound: 256 MiB of entries.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// What an entry costs in memory beyond its key and value (the cache's
/// bookkeeping, the key's and the value's allocations, the expiry): a
/// byte bound counts it, so that it bounds resident memory and not only
/// the payload. Measured with a flood of distinct small entries.
const ENTRY_OVERHEAD: usize = 480;

/// An in-memory store; cheap to clone (clones share the entries).
///
/// It keeps each entry's decoded value beside its bytes
/// ([`Capabilities::keeps_decoded`]): a memoizer decodes the bytes it
/// writes once, at the write, and its hits then serve that value with no
/// decode. So a hit serves exactly what a read of the stored bytes
/// would: a value that does not survive the codec (a field the codec
/// skips, a value that does not decode back) is caught in a unit test
/// over this store as it would be over Redis. The byte bound counts the
/// decoded value too.
///
/// It reports every change to its keys to the local tiers over it
/// ([`Backend::track_changes`]). It holds the entries' locks for
/// `distributed_lock` too, which the memoizers over its clones in this
/// process share.
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<String, Stored>,
    tiers: TrackedTiers,
    /// The entries' locks: by entry key, the holder's token and when its
    /// lease ends.
    locks: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

/// A value as the store keeps it, with when and for how long it was written.
#[derive(Clone)]
struct Stored {
    value: Bytes,
    /// What the bytes decode to, when a memoizer wrote them.
    decoded: Option<Decoded>,
    expire: Option<Duration>,
    written: Instant,
}

impl Stored {
    /// What a read finds: the value (and what it decodes to), and its
    /// remaining life if asked.
    fn read(self, options: &ReadOptions) -> Entry {
        let ttl = options.with_ttl.then(|| self.ttl());
        let entry = Entry::new(self.value).decoded(self.decoded);
        match ttl {
            Some(ttl) => entry.ttl(ttl),
            None => entry,
        }
    }

    fn ttl(&self) -> KeyTtl {
        self.remaining().map_or(KeyTtl::Persistent, KeyTtl::Expires)
    }

    fn remaining(&self) -> Option<Duration> {
        self.expire
            .map(|expire| expire.saturating_sub(self.written.elapsed()))
    }

    fn is_live(&self) -> bool {
        self.remaining().is_none_or(|left| !left.is_zero())
    }
}

/// Gives each entry the expiry it was written with; an overwrite replaces
/// it, as Redis' `SET` does.
struct PerEntryExpiry;

impl Expiry<String, Stored> for PerEntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Stored,
        _now: Instant,
    ) -> Option<Duration> {
        entry.expire
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Stored,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        entry.expire
    }
}

/// How a [`MemoryStore`] is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capacity {
    /// At most this many entries.
    Entries(u64),
    /// At most this many bytes of memory: each entry weighs its key, its
    /// value, its decoded value (estimated by its serialized size before
    /// compression) and a fixed overhead.
    Bytes(u64),
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .finish()
    }
}

impl MemoryStore {
    /// A store bounded at [`DEFAULT_MAX_BYTES`].
    pub fn new() -> Self {
        Self::with_capacity(Capacity::Bytes(DEFAULT_MAX_BYTES))
    }

    /// A store with the given bound; past it, the least useful entries are
    /// evicted (moka's TinyLFU).
    pub fn with_capacity(capacity: Capacity) -> Self {
        let tiers = TrackedTiers::new();
        let evicted = tiers.clone();
        // Writes and removals tell the tiers themselves, at once; evictions
        // and expiries come through here. Every value that leaves (replaced
        // and removed ones too, which moka reports before the change
        // returns) retires its decoded value.
        let builder = Cache::builder()
            .expire_after(PerEntryExpiry)
            .eviction_listener(move |key: Arc<String>, gone: Stored, cause| {
                if let Some(decoded) = &gone.decoded {
                    decoded.retire();
                }
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    evicted.changed(&key);
                }
            });
        let cache = match capacity {
            Capacity::Entries(n) => builder.max_capacity(n).build(),
            Capacity::Bytes(n) => builder
                .max_capacity(n)
                .weigher(|key: &String, entry: &Stored| {
                    let decoded = entry.decoded.as_ref().map_or(0, Decoded::size);
                    u32::try_from(ENTRY_OVERHEAD + key.len() + entry.value.len() + decoded)
                        .unwrap_or(u32::MAX)
                })
                .build(),
        };
        MemoryStore {
            cache,
            tiers,
            locks: Arc::default(),
        }
    }

    /// The number of entries, after pending evictions are applied.
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn live(&self, key: &str) -> Option<Stored> {
        self.cache.get(key).filter(Stored::is_live)
    }

    fn put(&self, key: &str, value: Bytes, decoded: Option<Decoded>, options: &WriteOptions) {
        self.cache.insert(
            key.to_owned(),
            Stored {
                value,
                decoded,
                expire: options.expire,
                written: Instant::now(),
            },
        );
        self.tiers.changed(key);
    }
}

impl Backend for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .tracks_changes(true)
            .locks(true)
            .keeps_decoded(true)
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.tiers.add(tier);
        Ok(())
    }
}

impl BlockingStore for MemoryStore {
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        Ok(self.live(key).map(|entry| entry.read(options)))
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        self.put(key, value, None, options);
        Ok(())
    }

    fn write_decoded(
        &self,
        key: &str,
        value: Bytes,
        decoded: Decoded,
        options: &WriteOptions,
    ) -> Result<()> {
        self.put(key, value, Some(decoded), options);
        Ok(())
    }

    fn remove(&self, key: &str, _: &RemoveOptions) -> Result<bool> {
        let removed = self.cache.remove(key).is_some_and(|entry| entry.is_live());
        self.tiers.changed(key);
        Ok(removed)
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        // The entries' locks go with them, as on Redis.
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| !keys.matches(key));
        let doomed: Vec<_> = self
            .cache
            .iter()
            .filter(|(key, entry)| keys.matches(key) && entry.is_live())
            .map(|(key, _)| key)
            .collect();
        let mut removed = 0;
        for key in doomed {
            if self.cache.remove(key.as_str()).is_some() {
                removed += 1;
            }
            self.tiers.changed(&key);
        }
        Ok(removed)
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(self.live(key).map_or(KeyTtl::Missing, |entry| entry.ttl()))
    }

    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, (_, until)| *until > now);
        let holder = locks.get(key).map(|(token, _)| token.as_str());
        let ours = holder == Some(request.token);
        Ok(match request.action {
            LockAction::Acquire(lease) if ours || holder.is_none() => {
                locks.insert(key.to_owned(), (request.token.to_owned(), now + lease));
                true
            }
            LockAction::Extend(lease) if ours => {
                locks.insert(key.to_owned(), (request.token.to_owned(), now + lease));
                true
            }
            LockAction::Release if ours => {
                locks.remove(key);
                true
            }
            _ => false,
        })
    }
}

// The async interface answers at once: every operation is a map access.
#[async_trait]
impl Store for MemoryStore {
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        BlockingStore::read(self, key, options)
    }

    async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        BlockingStore::write(self, key, value, options)
    }

    async fn write_decoded(
        &self,
        key: &str,
        value: Bytes,
        decoded: Decoded,
        options: &WriteOptions,
    ) -> Result<()> {
        BlockingStore::write_decoded(self, key, value, decoded, options)
    }

    async fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        BlockingStore::remove(self, key, options)
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        BlockingStore::delete_matching(self, keys)
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        BlockingStore::ttl(self, key)
    }

    async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        BlockingStore::lock(self, key, request)
    }
}
