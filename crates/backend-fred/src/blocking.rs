//! The blocking adapter: the async store, driven by a small runtime of its
//! own. fred is async-only, so this is not a second client: every call
//! runs [`FredStore`]'s own code.

use std::fmt;
use std::sync::Weak;

use fred::clients::Client;
use memocache_core::{
    Backend, BlockingStore, Bytes, Capabilities, Entry, Health, Invalidations, KeyMatch, KeyTtl,
    LockRequest, ReadOptions, RemoveOptions, Result, WriteOptions,
};
use memocache_redis_plumbing::announce;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::driven::Driven;

use crate::connect::BACKEND;
use crate::store::{DRIVER_THREAD, FredStore};

/// A [`BlockingStore`] over a [`FredStore`] that runs on a runtime owned
/// by the adapter (one worker thread, which also keeps the connections and
/// their reconnection going between calls). Cheap to clone (clones share
/// the store, its [`Health`] and the runtime). An operation given a
/// timeout ([`ReadOptions::timeout`], as a memoizer's operation timeout is)
/// is given up after it.
///
/// Each call hands its operation to that runtime and waits for the
/// answer, so it works from any thread, `spawn_blocking` included, and
/// never panics for being called inside a runtime. Called from async code
/// it blocks the calling worker thread until the answer, as any blocking
/// client does: there, use [`FredStore`] itself.
///
/// With [`RedisConfig::client_tracking`] it tracks changes for the local
/// tiers over it, as [`FredStore`] does (on a single node or a cluster),
/// and with [`RedisConfig::sentinel`] it follows the primary through its
/// failovers as [`FredStore`] does.
///
/// ```no_run
/// # fn demo() -> memocache::Result<()> {
/// use memocache::{Args, Memoizer, RedisConfig, FredBlockingStore};
///
/// let store = FredBlockingStore::connect(&RedisConfig::new().url("redis://127.0.0.1:6379/0"))?;
/// let memo = Memoizer::builder(store).namespace("math").build();
/// let square = memo.call_blocking(&Args::new().arg(&12), || 12 * 12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FredBlockingStore(Driven<FredStore>);

impl FredBlockingStore {
    /// Starts the adapter's runtime and connects as
    /// [`FredStore::connect`] does; needs no runtime of the caller's. Logs
    /// once, at `info`, the server it uses (never the password).
    ///
    /// # Errors
    ///
    /// As [`FredStore::connect`]; a backend error if the runtime cannot be
    /// started.
    pub fn connect(config: &RedisConfig) -> Result<Self> {
        let owned = config.clone();
        let store = Driven::start(BACKEND, DRIVER_THREAD, move || async move {
            FredStore::connect_quietly(&owned).await
        })?;
        announce::built("FredBlockingStore", BACKEND, config);
        Ok(FredBlockingStore(store))
    }

    /// Starts the adapter's runtime and makes the store over a fred client
    /// of your own there, as [`FredStore::from_client`] does (connecting
    /// the client unless it is connected already); needs no runtime of the
    /// caller's. Logs once, at `info`, the client's server.
    ///
    /// # Errors
    ///
    /// As [`FredStore::from_client`]; a backend error if the runtime cannot
    /// be started.
    pub fn from_client(client: Client) -> Result<Self> {
        let store = Driven::start(BACKEND, DRIVER_THREAD, move || async move {
            FredStore::from_client_quietly(client).await
        })?;
        announce::built_on("FredBlockingStore", BACKEND, &store.store().server);
        Ok(FredBlockingStore(store))
    }

    /// Starts the adapter's runtime and connects in the background, as
    /// [`FredStore::connect_lazy`] does: a service can start while Redis is
    /// down.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error if the runtime cannot be started.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        let owned = config.clone();
        let store = Driven::start(BACKEND, DRIVER_THREAD, move || async move {
            FredStore::connect_lazy_quietly(&owned)
        })?;
        announce::built("FredBlockingStore", BACKEND, config);
        Ok(FredBlockingStore(store))
    }

    /// The blocking view of an async store ([`FredStore::blocking`]).
    pub(crate) fn over(driven: Driven<FredStore>) -> Self {
        FredBlockingStore(driven)
    }
}

impl fmt::Debug for FredBlockingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FredBlockingStore")
            .field("store", self.0.store())
            .finish_non_exhaustive()
    }
}

impl Backend for FredBlockingStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn system(&self) -> &'static str {
        self.0.system()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn health(&self) -> Option<Health> {
        self.0.health()
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.0.track_changes(tier)
    }
}

impl BlockingStore for FredBlockingStore {
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        self.0.read(key, options)
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        self.0.write(key, value, options)
    }

    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        self.0.remove(key, options)
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.0.delete_matching(keys)
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.0.ttl(key)
    }

    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        self.0.lock(key, request)
    }
}
