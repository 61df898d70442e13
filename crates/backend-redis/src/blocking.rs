//! The blocking store: a pool of plain connections, one per caller at a
//! time.

use std::sync::{Arc, Weak};
use std::time::Duration;

use memocache_core::{
    Backend, BlockingStore, Bytes, Capabilities, Entry, Health, Invalidations, KeyMatch, KeyTtl,
    LockRequest, ReadOptions, RemoveOptions, Result, WriteOptions, block_on,
};
use memocache_redis_plumbing::announce;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::driven::Driven;
use memocache_redis_plumbing::failure::send_retrying;
use memocache_redis_plumbing::refusal;
use memocache_redis_plumbing::{keyspace, lock};
use redis::{Client, FromRedisValue};

use crate::command::{self, Request};
use crate::connect::{self, BACKEND, command_error};
use crate::pool::{ClusterSource, Connector, Pool, Source};
use crate::store::RedisStore;

/// A [`BlockingStore`] on Redis over a pool of redis-rs connections, at
/// most [`RedisConfig::max_connections`] of them; needs no async runtime.
/// Cheap to clone (clones share the pool and one [`Health`]).
///
/// An operation given a timeout ([`ReadOptions::timeout`], as a memoizer's
/// operation timeout is) waits at most that long for a pooled connection,
/// to connect, and for its reply, whatever the socket timeout.
///
/// A connection idle for longer than the health-check interval is PINGed
/// before reuse; one that failed is closed, never reused. When Redis is
/// down, an operation fails as soon as its connection attempt does.
///
/// With [`RedisConfig::client_tracking`], the store is instead the async
/// [`RedisStore`] driven by a runtime of the store's own (one worker
/// thread): a blocking connection reads invalidation pushes only while it
/// waits for a reply, and an idle pooled connection that the server closes
/// would go unnoticed with the changes reported to it, while the async
/// store's connections hear both at once. Local hits never reach it. So
/// it is with [`RedisConfig::sentinel`], whose failovers the async store
/// follows.
///
/// ```no_run
/// # fn demo() -> memocache::Result<()> {
/// use memocache::{Args, Memoizer, RedisConfig, RedisBlockingStore};
///
/// let store = RedisBlockingStore::connect(&RedisConfig::new().max_connections(20))?;
/// let memo = Memoizer::builder(store).namespace("math").build();
/// let square = memo.call_blocking(&Args::new().arg(&12), || 12 * 12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBlockingStore(Inner);

/// How the store reaches Redis.
#[derive(Clone)]
enum Inner {
    Pooled(Pooled),
    /// Tracking changes, or on a Sentinel primary: the async store on a
    /// runtime of its own.
    Driven(Driven<RedisStore>),
}

/// The pooled store.
#[derive(Clone)]
pub(crate) struct Pooled {
    pub(crate) pool: Arc<Pool>,
    pub(crate) timeout: Duration,
    retry_on_timeout: bool,
    health: Health,
}

impl RedisBlockingStore {
    /// Connects with `config`'s URL, credentials, TLS settings, pool size,
    /// timeouts and health checks, checking that one connection succeeds.
    /// Logs once, at `info`, the server it uses (never the password).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error naming the server when it cannot be reached or
    /// refuses the credentials or the TLS handshake.
    pub fn connect(config: &RedisConfig) -> Result<Self> {
        let store = Self::connect_quietly(config)?;
        announce::built("RedisBlockingStore", BACKEND, config);
        Ok(store)
    }

    /// [`connect`](Self::connect) without the log line.
    fn connect_quietly(config: &RedisConfig) -> Result<Self> {
        if let Some(driven) = Self::driven(config, false)? {
            return Ok(driven);
        }
        let store = Pooled::new(Pooled::source(config)?, config)?;
        // One connection up front: a wrong address, password or CA is
        // reported now, and the connection stays in the pool.
        drop(store.pool.get(None)?);
        Ok(RedisBlockingStore(Inner::Pooled(store)))
    }

    /// Connects with a client of your own, and [`RedisConfig`]'s default
    /// pool size, timeouts, retries and health checks. Logs once, at
    /// `info`, the client's server.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when it cannot be reached.
    pub fn from_client(client: Client) -> Result<Self> {
        let server = connect::server_name(&client);
        let store = Pooled::new(Source::Node(client), &RedisConfig::default())?;
        drop(store.pool.get(None)?);
        announce::built_on("RedisBlockingStore", BACKEND, &server);
        Ok(RedisBlockingStore(Inner::Pooled(store)))
    }

    /// Like [`connect`](Self::connect) but without the connection up front,
    /// so a service can start while Redis is down: until Redis answers,
    /// every operation fails (and a [`Memoizer`](memocache_core::Memoizer)
    /// just computes).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        let store = Self::connect_lazy_quietly(config)?;
        announce::built("RedisBlockingStore", BACKEND, config);
        Ok(store)
    }

    /// [`connect_lazy`](Self::connect_lazy) without the log line.
    fn connect_lazy_quietly(config: &RedisConfig) -> Result<Self> {
        if let Some(driven) = Self::driven(config, true)? {
            return Ok(driven);
        }
        let store = Pooled::new(Pooled::source(config)?, config)?;
        Ok(RedisBlockingStore(Inner::Pooled(store)))
    }

    /// The store that tracks changes or follows a Sentinel primary (the
    /// async store, made on a runtime of its own as
    /// [`RedisStore::connect`] or, if `lazy`, [`RedisStore::connect_lazy`]
    /// makes it), or `None` for a pooled one.
    fn driven(config: &RedisConfig, lazy: bool) -> Result<Option<Self>> {
        if !config.settings().client_tracking() && !config.is_sentinel() {
            return Ok(None);
        }
        let config = config.clone();
        let driven = Driven::start(BACKEND, crate::store::DRIVER_THREAD, move || async move {
            if lazy {
                RedisStore::connect_lazy_quietly(&config)
            } else {
                RedisStore::connect_quietly(&config).await
            }
        })?;
        Ok(Some(RedisBlockingStore(Inner::Driven(driven))))
    }

    /// The blocking view of an async store ([`RedisStore::blocking`]).
    pub(crate) fn over(driven: Driven<RedisStore>) -> Self {
        RedisBlockingStore(Inner::Driven(driven))
    }

    /// The store that serves the calls.
    fn inner(&self) -> &dyn BlockingStore {
        match &self.0 {
            Inner::Pooled(pooled) => pooled,
            Inner::Driven(driven) => driven,
        }
    }
}

impl Pooled {
    fn source(config: &RedisConfig) -> Result<Source> {
        Ok(if config.is_cluster() {
            Source::Cluster(ClusterSource::new(config)?)
        } else {
            Source::Node(connect::client(config)?)
        })
    }

    /// A pooled store; opens no connection.
    fn new(source: Source, config: &RedisConfig) -> Result<Self> {
        let connector = Connector {
            source,
            connect_timeout: config.settings().connect_timeout(),
            socket_timeout: config.settings().socket_timeout(),
            health_check_interval: config.settings().health_check_interval(),
        };
        let pool = Pool::new(
            connector,
            config.settings().max_connections(),
            config.settings().connect_timeout(),
        );
        Ok(Pooled {
            pool: Arc::new(pool),
            timeout: config.settings().socket_timeout(),
            retry_on_timeout: config.settings().retry_on_timeout(),
            health: config.health(),
        })
    }

    /// Sends `request` (a command or a pipeline), once more on another
    /// connection if it timed out and retries are on; within `limit` if
    /// given.
    pub(crate) async fn query<'r, T: FromRedisValue>(
        &self,
        request: impl Into<Request<'r>>,
        limit: Option<Duration>,
    ) -> Result<T> {
        let request = request.into();
        let timeout = limit.map_or(self.timeout, |limit| limit.min(self.timeout));
        send_retrying(self.retry_on_timeout, || async {
            self.pool
                .get(limit)?
                .query(request)
                .map_err(|e| command_error(e, timeout))
        })
        .await
    }
}

impl std::fmt::Debug for RedisBlockingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Pooled(pooled) => pooled.fmt(f),
            Inner::Driven(driven) => f
                .debug_tuple("RedisBlockingStore")
                .field(driven.store())
                .finish(),
        }
    }
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (max, open, idle) = self.pool.sizes();
        f.debug_struct("RedisBlockingStore")
            .field("max_connections", &max)
            .field("open_connections", &open)
            .field("idle_connections", &idle)
            .field("retry_on_timeout", &self.retry_on_timeout)
            .finish()
    }
}

impl Backend for RedisBlockingStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }

    fn health(&self) -> Option<Health> {
        self.inner().health()
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        self.inner().track_changes(tier)
    }
}

impl BlockingStore for RedisBlockingStore {
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        self.inner().read(key, options)
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        self.inner().write(key, value, options)
    }

    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        self.inner().remove(key, options)
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        self.inner().delete_matching(keys)
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.inner().ttl(key)
    }

    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        self.inner().lock(key, request)
    }
}

impl Backend for Pooled {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .bounded_operations(true)
            .shared_health(true)
            .locks(true)
    }

    fn health(&self) -> Option<Health> {
        Some(self.health.clone())
    }

    fn track_changes(&self, _: Weak<dyn Invalidations>) -> Result<()> {
        Err(refusal::not_tracking("RedisBlockingStore"))
    }
}

impl BlockingStore for Pooled {
    fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        if !options.with_ttl {
            let value: Option<Bytes> = block_on(self.query(&command::get(key), options.timeout))?;
            return Ok(value.map(Entry::new));
        }
        let pipeline = command::get_with_pttl(key);
        let (value, pttl): (Option<Bytes>, i64) = block_on(self.query(&pipeline, options.timeout))?;
        Ok(value.map(|value| Entry::new(value).ttl(KeyTtl::from_pttl(pttl))))
    }

    fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        let set = command::set(key, &value, options.expire);
        block_on(self.query(&set, options.timeout))
    }

    fn remove(&self, key: &str, options: &RemoveOptions) -> Result<bool> {
        let removed = block_on(self.query::<u64>(&command::delete(key), options.timeout));
        Ok(removed? > 0)
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        block_on(keyspace::delete_matching(self, keys))
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::from_pttl(block_on(
            self.query(&command::pttl(key), None),
        )?))
    }

    fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let script = lock::script(key, request);
        let reply = block_on(self.query(&command::lock(&script), request.timeout))?;
        Ok(lock::held(reply))
    }
}
