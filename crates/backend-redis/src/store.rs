//! The async store: one multiplexed connection that reconnects by itself,
//! to a single node, to a cluster, or to the primary Sentinel names.

use std::sync::{Arc, Weak};
use std::time::Duration;

use memocache_core::{
    Bytes, Capabilities, Entry, Health, Invalidations, KeyMatch, KeyTtl, ReadOptions, RedisConfig,
    Result, Store, TrackedTiers, async_trait,
};
use memocache_redis_plumbing::failure::send_retrying;
use memocache_redis_plumbing::keyspace::{self, Keyspace};
use memocache_redis_plumbing::topology::Node;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, ProtocolVersion, RedisError};
use tokio::task::JoinHandle;

use crate::command::{self, Request};
use crate::connect::{
    self, BACKEND, backend_error, cluster_connect_error, command_error, connect_error,
};
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
}

impl RedisStore {
    /// Connects with `config`'s URL, credentials, TLS settings, timeouts
    /// and health checks; must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error naming the server when it cannot be reached or
    /// refuses the credentials or the TLS handshake. With
    /// [`RedisConfig::sentinel`]: `Error::Config` when every sentinel that
    /// answered knows no master of that name, and a backend error naming
    /// the primary and saying what each sentinel answered when none names
    /// a reachable primary.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
        if config.get_client_tracking() && config.is_cluster() {
            let tracked = Self::tracked_cluster(config).await?;
            return Ok(Self::with_link(
                Link::TrackedCluster(Arc::new(tracked)),
                config,
            ));
        }
        if config.get_client_tracking() || config.is_sentinel() {
            let own = Self::own(config)?;
            // The first connection now: an unreachable server, a wrong
            // master name or a server that refuses tracking is an error
            // here, not a store (or a tier) that silently stays off.
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
    /// computes). Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        if config.is_cluster() {
            return Err(memocache_core::Error::Config(
                "connect_lazy needs the cluster's topology up front: use connect(...) for a cluster"
                    .into(),
            ));
        }
        if config.get_client_tracking() || config.is_sentinel() {
            return Ok(Self::with_link(Link::Own(Self::own(config)?), config));
        }
        let client = connect::client(config)?;
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config(config))
            .map_err(backend_error)?;
        Ok(Self::with_settings(connection, config))
    }

    /// Connects with a client of your own, and [`RedisConfig`]'s default
    /// timeouts, retries and health checks; must run inside a tokio
    /// runtime.
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
        Ok(RedisStore {
            server: Some(connect::server_name(&client).into()),
            ..store
        })
    }

    /// A store over a connection manager of your own, used as it is (no
    /// command retries, no health checks).
    pub fn from_connection_manager(connection: ConnectionManager) -> Self {
        let config = RedisConfig::default();
        RedisStore {
            link: Link::Node(connection),
            server: None,
            timeout: config.get_socket_timeout(),
            retry_on_timeout: false,
            health_check: None,
            health: config.health(),
        }
    }

    /// The link of a single-node store with
    /// [`RedisConfig::client_tracking`], or of one on a Sentinel primary:
    /// a connection of its own; opens none yet.
    fn own(config: &RedisConfig) -> Result<Arc<OwnConnection>> {
        let tracking = config.get_client_tracking();
        let target = if config.is_sentinel() {
            let protocol = tracking.then_some(ProtocolVersion::RESP3);
            Target::Sentinel(Arc::new(Sentinels::new(config, protocol)?))
        } else {
            Target::Node(Box::new(connect::resp3_client(config)?))
        };
        let connection = AsyncConnectionConfig::new()
            .set_response_timeout(Some(config.get_socket_timeout()))
            .set_connection_timeout(Some(config.get_connect_timeout()));
        Ok(OwnConnection::new(target, connection, tracking))
    }

    /// The tracked connections of a cluster store with
    /// [`RedisConfig::client_tracking`], tracking switched on at every
    /// primary.
    async fn tracked_cluster(config: &RedisConfig) -> Result<TrackedCluster> {
        let (tiers, reports) = TrackedCluster::reports();
        let client = connect::resp3_cluster_client(config, reports)?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|e| cluster_connect_error(config, e))?;
        let tracked = TrackedCluster::with_connection(connection, tiers);
        tracked.track_everywhere().await.map_err(|e| {
            if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() {
                cluster_connect_error(config, e)
            } else {
                connect::tracking_refused(e)
            }
        })?;
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
                .get_health_check_interval()
                .map(|interval| Arc::new(HealthCheck::start(link.clone(), interval))),
            link,
            timeout: config.get_socket_timeout(),
            retry_on_timeout: config.get_retry_on_timeout(),
            health: config.health(),
        }
    }

    /// Tells the local tiers over a tracked store that this store changed
    /// `key` (whether or not the command went through): the server does
    /// not report a connection's own writes to it (`NOLOOP`).
    fn changed(&self, key: &str) {
        if let Some(tiers) = self.link.tiers() {
            tiers.changed(key);
        }
    }

    /// Sends `request` (a command or a pipeline), once more if it timed out
    /// and retries are on.
    async fn query<'r, T: FromRedisValue>(&self, request: impl Into<Request<'r>>) -> Result<T> {
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
    fn error(&self, error: redis::RedisError) -> memocache_core::Error {
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

impl Keyspace for RedisStore {
    fn is_cluster(&self) -> bool {
        self.link.cluster().is_some()
    }

    async fn cluster_nodes(&self) -> Result<String> {
        self.query(&command::cluster_nodes()).await
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let scan = command::scan(cursor, pattern);
        let (Some((host, port)), Some(connection)) = (node, self.link.cluster()) else {
            return self.query(&scan).await;
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: host.clone(),
            port: *port,
        });
        let reply = connection.clone().route_command(scan, routing).await;
        reply
            .and_then(|value| Ok(FromRedisValue::from_redis_value(value)?))
            .map_err(|e| self.error(e))
    }

    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        let removed = self.query(&command::unlink(&keys)).await;
        for key in &keys {
            self.changed(&String::from_utf8_lossy(key));
        }
        removed
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
enum Link {
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
    async fn query<T: FromRedisValue>(
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

    /// The tiers the link reports changes to, if it tracks them.
    fn tiers(&self) -> Option<&TrackedTiers> {
        match self {
            Link::Own(own) => own.tiers(),
            Link::TrackedCluster(tracked) => Some(tracked.tiers()),
            Link::Node(_) | Link::Cluster(_) => None,
        }
    }
}

/// The connection manager's settings from `config`.
fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(config.get_socket_timeout()))
        .set_connection_timeout(Some(config.get_connect_timeout()))
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
                    Link::Own(own) => match (own.target(), own.tiers()) {
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

/// PINGs the connection every interval while a store holds it, so idle
/// connections dropped by proxies are noticed (and replaced) early.
struct HealthCheck(JoinHandle<()>);

impl HealthCheck {
    fn start(link: Link, interval: Duration) -> Self {
        HealthCheck(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // A failure makes the manager reconnect; nothing else to do.
                let _: std::result::Result<(), Failure> =
                    link.query(None, Request::Cmd(&redis::cmd("PING"))).await;
            }
        }))
    }
}

impl Drop for HealthCheck {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl Store for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.read_query(key, &command::get(key)).await
    }

    async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        let written = self.query(&command::set(key, &value, expire)).await;
        self.changed(key);
        written
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed = self.query::<u64>(&command::delete(key)).await;
        self.changed(key);
        Ok(removed? > 0)
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::from_pttl(self.query(&command::pttl(key)).await?))
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        keyspace::delete_matching(self, keys).await
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        if !options.with_ttl {
            return Ok(self.get(key).await?.map(Entry::new));
        }
        let (value, pttl): (Option<Bytes>, i64) =
            self.read_query(key, &command::get_with_pttl(key)).await?;
        Ok(value.map(|value| Entry::new(value).ttl(KeyTtl::from_pttl(pttl))))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .shared_health(true)
            .tracks_changes(self.link.tiers().is_some())
    }

    fn health(&self) -> Option<Health> {
        Some(self.health.clone())
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        match self.link.tiers() {
            Some(tiers) => {
                tiers.add(tier);
                Ok(())
            }
            None => Err(memocache_core::Error::config(
                "this RedisStore does not track changes, so a local tier over it could serve \
                 values other processes changed: build it with \
                 RedisConfig::client_tracking(true), or use LocalTier::best_effort(true)",
            )),
        }
    }
}
