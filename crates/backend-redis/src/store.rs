//! The async store: [`RedisStore`], one multiplexed connection that
//! reconnects by itself, to a single node, to a cluster, or to the primary
//! Sentinel names; its constructors and accessors, the [`Link`] its
//! commands go through, and the [`Store`] and [`Backend`] it is. The
//! commands are built in [`crate::command`]; the keyspace sweep is in
//! [`crate::keyspace`], the health check in [`crate::health`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use memocache_core::{
    Backend, Bytes, Capabilities, Entry, Health, Invalidations, KeyMatch, KeyTtl, LockRequest,
    ReadOptions, RemoveOptions, Result, Store, WriteOptions, async_trait,
};
use memocache_redis_plumbing::announce;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::driven::{Driven, StoreRuntime};
use memocache_redis_plumbing::failure::send_retrying;
use memocache_redis_plumbing::refusal::{self, Tracked};
use memocache_redis_plumbing::{keyspace, lock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, ProtocolVersion, RedisError};

use crate::blocking::RedisBlockingStore;
use crate::command::{self, Request};
use crate::connect::{
    self, BACKEND, backend_error, cluster_connect_error, command_error, connect_error,
};
use crate::health::HealthCheck;
use crate::own::{OwnConnection, Target};
use crate::sentinel::Sentinels;
use crate::tracking::TrackedCluster;

/// An async [`Store`] on Redis: over redis-rs' `ConnectionManager` for a
/// single node (one multiplexed connection shared by every task,
/// re-established by itself after a failure), or its cluster connection
/// for a Redis Cluster (keys routed by slot, `MOVED`/`ASK` and failovers
/// followed), or for a primary found through Sentinel a connection of its
/// own, opened again at the new primary after a failover
/// ([`RedisConfig::sentinel`]), as the [`RedisConfig`] says. Cheap to clone (clones share the
/// connection and one [`Health`]: every memoizer over the store and its
/// clones learns of an outage once).
///
/// ```no_run
/// # async fn demo() -> memocache::Result<()> {
/// use memocache::{Args, Memoizer, RedisConfig, RedisStore};
///
/// let store = RedisStore::connect(&RedisConfig::new().url("redis://127.0.0.1:6379/0")).await?;
/// let memo = Memoizer::builder(store).namespace("users").build();
/// let name: String = memo.call(&Args::new().arg(&7), || async { "Jo".to_owned() }).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    /// The server or cluster, as errors name it (never credentials).
    server: Option<Arc<str>>,
    timeout: Duration,
    retry_on_timeout: bool,
    health_check: Option<Arc<HealthCheck>>,
    health: Health,
    /// The runtime of this store's own, shared by its clones: started
    /// when the store is made outside any runtime (its connection runs
    /// there) or for its first blocking view ([`blocking`](Self::blocking)).
    runtime: StoreRuntime,
}

/// The name of the threads of a store's own runtime.
pub(crate) const DRIVER_THREAD: &str = "memocache-redis";

impl RedisStore {
    /// Connects with `config`'s URL, credentials, TLS settings, timeouts
    /// and health checks; must run inside a tokio runtime. Logs once, at
    /// `info`, the server it uses (never the password).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error naming the server when it cannot be reached or
    /// refuses the credentials or the TLS handshake. With
    /// [`RedisConfig::sentinel`]: `Error::Config` when every sentinel that
    /// answered knows no master of that name, and a backend error naming
    /// the primary and saying what each sentinel answered when none names
    /// a reachable primary. A server that refuses
    /// [`RedisConfig::client_tracking`] is no error: the store caches
    /// without it, its local tiers stay off, and the refusal is logged
    /// once.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
        let store = Self::connect_quietly(config).await?;
        announce::built("RedisStore", BACKEND, config);
        Ok(store)
    }

    /// [`connect`](Self::connect) without the log line naming the server:
    /// for the blocking store over it, which logs its own.
    pub(crate) async fn connect_quietly(config: &RedisConfig) -> Result<Self> {
        if config.settings().client_tracking() && config.is_cluster() {
            let tracked = Self::tracked_cluster(config).await?;
            return Ok(Self::with_link(
                Link::TrackedCluster(Arc::new(tracked)),
                config,
            ));
        }
        if config.settings().client_tracking() || config.is_sentinel() {
            let own = Self::own(config)?;
            // The first connection now: an unreachable server or a wrong
            // master name is an error here (a server that refuses tracking
            // is logged, and served untracked).
            own.open_now().await?;
            return Ok(Self::with_link(Link::Own(own), config));
        }
        if config.is_cluster() {
            let client = connect::cluster_client(config)?;
            let connection = client
                .get_async_connection()
                .await
                .map_err(|e| cluster_connect_error(config, e))?;
            return Ok(Self::with_link(Link::Cluster(connection), config));
        }
        let client = connect::client(config)?;
        let connection = ConnectionManager::new_with_config(client.clone(), manager_config(config))
            .await
            .map_err(|e| connect_error(&client, e))?;
        Ok(Self::with_settings(connection, config))
    }

    /// Like [`connect`](Self::connect) but connects on first use, so a
    /// service can start while Redis is down; until Redis answers, every
    /// operation fails (and a [`Memoizer`](memocache_core::Memoizer) just
    /// computes). Inside a tokio runtime its connection runs on that
    /// runtime; outside one (a `static` built by a sync caller), on a
    /// runtime thread of the store's own, so it serves async callers of
    /// any runtime and, through [`blocking`](Self::blocking), sync ones.
    /// A server that refuses [`RedisConfig::client_tracking`] is learned
    /// on first use:
    /// the local tiers registered by then go off (flushed), and the store
    /// caches without tracking.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        let runtime = StoreRuntime::default();
        let store = runtime.make_inside(BACKEND, DRIVER_THREAD, || {
            Self::connect_lazy_quietly(config)
        })?;
        let store = RedisStore { runtime, ..store };
        announce::built("RedisStore", BACKEND, config);
        Ok(store)
    }

    /// [`connect_lazy`](Self::connect_lazy) without the log line naming
    /// the server: for the blocking store over it, which logs its own.
    pub(crate) fn connect_lazy_quietly(config: &RedisConfig) -> Result<Self> {
        if config.is_cluster() {
            return Err(memocache_core::Error::Config(
                "connect_lazy needs the cluster's topology up front: use connect(...) for a cluster"
                    .into(),
            ));
        }
        if config.settings().client_tracking() || config.is_sentinel() {
            return Ok(Self::with_link(Link::Own(Self::own(config)?), config));
        }
        let client = connect::client(config)?;
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config(config))
            .map_err(backend_error)?;
        Ok(Self::with_settings(connection, config))
    }

    /// Connects with a client of your own, and [`RedisConfig`]'s default
    /// timeouts, retries and health checks; must run inside a tokio
    /// runtime. Logs once, at `info`, the client's server.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when it cannot be reached.
    pub async fn from_client(client: Client) -> Result<Self> {
        let config = RedisConfig::default();
        let connection =
            ConnectionManager::new_with_config(client.clone(), manager_config(&config))
                .await
                .map_err(|e| connect_error(&client, e))?;
        let store = Self::with_settings(connection, &config);
        let server = connect::server_name(&client);
        announce::built_on("RedisStore", BACKEND, &server);
        Ok(RedisStore {
            server: Some(server.into()),
            ..store
        })
    }

    /// A store over a connection manager of your own, used as it is (no
    /// command retries, no health checks). It logs no server: a
    /// connection manager does not say which one it reaches.
    pub fn from_connection_manager(connection: ConnectionManager) -> Self {
        let config = RedisConfig::default();
        RedisStore {
            link: Link::Node(connection),
            server: None,
            timeout: config.settings().socket_timeout(),
            retry_on_timeout: false,
            health_check: None,
            health: config.health(),
            runtime: StoreRuntime::default(),
        }
    }

    /// The link of a single-node store with
    /// [`RedisConfig::client_tracking`], or of one on a Sentinel primary:
    /// a connection of its own; opens none yet.
    fn own(config: &RedisConfig) -> Result<Arc<OwnConnection>> {
        let tracking = config.settings().client_tracking();
        let target = if config.is_sentinel() {
            let protocol = tracking.then_some(ProtocolVersion::RESP3);
            Target::Sentinel(Arc::new(Sentinels::new(config, protocol)?))
        } else {
            Target::Node(Box::new(connect::resp3_client(config)?))
        };
        let connection = AsyncConnectionConfig::new()
            .set_response_timeout(Some(config.settings().socket_timeout()))
            .set_connection_timeout(Some(config.settings().connect_timeout()));
        Ok(OwnConnection::new(target, connection, tracking))
    }

    /// The tracked connections of a cluster store with
    /// [`RedisConfig::client_tracking`], tracking switched on at every
    /// primary (or, on a cluster that refuses it, refused: logged once,
    /// and read untracked).
    async fn tracked_cluster(config: &RedisConfig) -> Result<TrackedCluster> {
        let (tracking, reports) = TrackedCluster::reports();
        let client = connect::resp3_cluster_client(config, reports)?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|e| cluster_connect_error(config, e))?;
        let tracked =
            TrackedCluster::with_connection(connection, tracking, connect::cluster_name(config));
        tracked
            .track_everywhere()
            .await
            .map_err(|e| cluster_connect_error(config, e))?;
        Ok(tracked)
    }

    fn with_settings(connection: ConnectionManager, config: &RedisConfig) -> Self {
        Self::with_link(Link::Node(connection), config)
    }

    fn with_link(link: Link, config: &RedisConfig) -> Self {
        let server = if let Link::Own(own) = &link
            && let Target::Sentinel(sentinels) = own.target()
        {
            Some(sentinels.name())
        } else if config.is_cluster() {
            Some(connect::cluster_name(config))
        } else {
            connect::client(config)
                .ok()
                .map(|client| connect::server_name(&client))
        };
        RedisStore {
            server: server.map(Arc::from),
            health_check: config
                .settings()
                .health_check_interval()
                .map(|interval| Arc::new(HealthCheck::start(link.clone(), interval))),
            link,
            timeout: config.settings().socket_timeout(),
            retry_on_timeout: config.settings().retry_on_timeout(),
            health: config.health(),
            runtime: StoreRuntime::default(),
        }
    }

    /// A blocking store over this one, for sync code: the same connection,
    /// circuit breaker and change tracking, so the sync and async
    /// functions of a service share one store. Its operations run on a
    /// runtime thread this store keeps for the purpose (one, however many
    /// views are made), and wait there for the connection, which runs
    /// where the store was made: call it from a thread that is not driving
    /// that runtime (`spawn_blocking`, or any plain thread), as any
    /// blocking code.
    ///
    /// # Errors
    ///
    /// A backend error if the runtime thread cannot be started.
    pub fn blocking(&self) -> Result<RedisBlockingStore> {
        let driven = Driven::on(self.clone(), &self.runtime, DRIVER_THREAD)?;
        Ok(RedisBlockingStore::over(driven))
    }

    /// The cluster connection, on a cluster.
    pub(crate) fn cluster(&self) -> Option<&ClusterConnection> {
        self.link.cluster()
    }

    /// Tells the local tiers over a tracked store that this store changed
    /// `key` (whether or not the command went through): the server does
    /// not report a connection's own writes to it (`NOLOOP`).
    pub(crate) fn changed(&self, key: &str) {
        if let Some(tracked) = self.link.tracked() {
            tracked.tiers().changed(key);
        }
    }

    /// Sends `request` (a command or a pipeline), once more if it timed out
    /// and retries are on.
    pub(crate) async fn query<'r, T: FromRedisValue>(
        &self,
        request: impl Into<Request<'r>>,
    ) -> Result<T> {
        self.send(None, request.into()).await
    }

    /// Sends `request`, reads of `key` that may fill a local tier, as
    /// [`query`](Self::query) does: tracked, wherever it is served.
    async fn read_query<'r, T: FromRedisValue>(
        &self,
        key: &str,
        request: impl Into<Request<'r>>,
    ) -> Result<T> {
        self.send(Some(key), request.into()).await
    }

    async fn send<T: FromRedisValue>(
        &self,
        read_of: Option<&str>,
        request: Request<'_>,
    ) -> Result<T> {
        send_retrying(self.retry_on_timeout, || async {
            self.link
                .query(read_of, request)
                .await
                .map_err(|failure| match failure {
                    Failure::Command(e) => self.error(e),
                    Failure::Connect(e) => e,
                })
        })
        .await
    }

    /// A failed command's error: a timeout, or for a connection that
    /// could not be made or was lost, one naming the server.
    pub(crate) fn error(&self, error: redis::RedisError) -> memocache_core::Error {
        let unreachable = !error.is_timeout()
            && (error.is_io_error()
                || error.is_connection_refusal()
                || error.is_connection_dropped());
        match &self.server {
            Some(server) if unreachable => connect::unreachable_server(&**server, error),
            _ => command_error(error, self.timeout),
        }
    }
}

/// Why a request through a link failed.
pub(crate) enum Failure {
    /// The command failed, or the connection it went on.
    Command(RedisError),
    /// No connection could be opened for it (the error names the server).
    Connect(memocache_core::Error),
}

impl From<RedisError> for Failure {
    fn from(error: RedisError) -> Self {
        Failure::Command(error)
    }
}

/// The connection to a single node, a Sentinel primary or a cluster.
#[derive(Clone)]
pub(crate) enum Link {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
    /// A connection of the store's own: a single node with its changes
    /// reported to the local tiers, or a Sentinel primary (tracked or not).
    Own(Arc<OwnConnection>),
    /// A cluster, with its changes reported to the local tiers.
    TrackedCluster(Arc<TrackedCluster>),
}

impl Link {
    /// Sends `request`; tracked, if the link tracks, when it reads
    /// `read_of`.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        read_of: Option<&str>,
        request: Request<'_>,
    ) -> std::result::Result<T, Failure> {
        Ok(match (self, read_of) {
            (Link::Node(connection), _) => request.send_async(&mut connection.clone()).await?,
            (Link::Cluster(connection), _) => request.send_async(&mut connection.clone()).await?,
            (Link::Own(own), _) => return own.query(request).await,
            (Link::TrackedCluster(tracked), Some(key)) => tracked.read(key, request).await?,
            (Link::TrackedCluster(tracked), None) => tracked.query(request).await?,
        })
    }

    /// The cluster connection, on a cluster.
    fn cluster(&self) -> Option<&ClusterConnection> {
        match self {
            Link::Cluster(connection) => Some(connection),
            Link::TrackedCluster(tracked) => Some(tracked.connection()),
            Link::Node(_) | Link::Own(_) => None,
        }
    }

    /// The tiers the link reports changes to, if it was built to track
    /// them (and whether the server refused).
    fn tracked(&self) -> Option<&Tracked> {
        match self {
            Link::Own(own) => own.tracked(),
            Link::TrackedCluster(tracked) => Some(tracked.tracked()),
            Link::Node(_) | Link::Cluster(_) => None,
        }
    }
}

/// The connection manager's settings from `config`.
fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(config.settings().socket_timeout()))
        .set_connection_timeout(Some(config.settings().connect_timeout()))
        // A cache had better fail fast than keep callers waiting on
        // reconnection attempts: one more try, after at most 100 ms.
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(100))
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &match &self.link {
                    Link::Node(_) => "single node",
                    Link::Cluster(_) => "cluster",
                    Link::Own(own) => match (own.target(), own.tracked()) {
                        (Target::Node(_), _) => "single node, tracked",
                        (Target::Sentinel(_), None) => "sentinel",
                        (Target::Sentinel(_), Some(_)) => "sentinel, tracked",
                    },
                    Link::TrackedCluster(_) => "cluster, tracked",
                },
            )
            .field("retry_on_timeout", &self.retry_on_timeout)
            .field("health_check", &self.health_check.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        if !options.with_ttl {
            let value: Option<Bytes> = self.read_query(key, &command::get(key)).await?;
            return Ok(value.map(Entry::new));
        }
        let (value, pttl): (Option<Bytes>, i64) =
            self.read_query(key, &command::get_with_pttl(key)).await?;
        Ok(value.map(|value| Entry::new(value).ttl(KeyTtl::from_pttl(pttl))))
    }

    async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        let written = self.query(&command::set(key, &value, options.expire)).await;
        self.changed(key);
        written
    }

    async fn remove(&self, key: &str, _: &RemoveOptions) -> Result<bool> {
        let removed = self.query::<u64>(&command::delete(key)).await;
        self.changed(key);
        Ok(removed? > 0)
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        keyspace::delete_matching(self, keys).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::from_pttl(self.query(&command::pttl(key)).await?))
    }

    async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        let script = lock::script(key, request);
        Ok(lock::held(self.query(&command::lock(&script)).await?))
    }
}

impl Backend for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .shared_health(true)
            .tracks_changes(self.link.tracked().is_some_and(|t| !t.is_refused()))
            .locks(true)
    }

    fn health(&self) -> Option<Health> {
        Some(self.health.clone())
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        match self.link.tracked() {
            Some(tracked) => tracked.track(tier),
            None => Err(refusal::not_tracking("RedisStore")),
        }
    }
}
