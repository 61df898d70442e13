//! The async store: one multiplexed connection that reconnects by itself,
//! to a single node or to a cluster.

use std::sync::Arc;
use std::time::Duration;

use memocache_core::{Bytes, KeyMatch, KeyTtl, RedisConfig, Result, Store, async_trait};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, Cmd, FromRedisValue, RedisResult};
use tokio::task::JoinHandle;

use crate::command;
use crate::connect::{
    self, BACKEND, backend_error, cluster_connect_error, command_error, connect_error,
};

/// An async [`Store`] on Redis: over redis-rs' `ConnectionManager` for a
/// single node (one multiplexed connection shared by every task,
/// re-established by itself after a failure), or its cluster connection
/// for a Redis Cluster (keys routed by slot, `MOVED`/`ASK` and failovers
/// followed), as the [`RedisConfig`] says. Cheap to clone (clones share the
/// connection).
///
/// ```no_run
/// # async fn demo() -> memocache_core::Result<()> {
/// use memocache_core::{Args, Memoizer, RedisConfig};
/// use memocache_redis::RedisStore;
///
/// let store = RedisStore::connect(&RedisConfig::new().url("redis://127.0.0.1:6379/0")).await?;
/// let memo = Memoizer::builder(store).namespace("users").build();
/// let name: String = memo.call(&Args::new().arg(&7), || async { "Jo".to_owned() }).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    timeout: Duration,
    retry_on_timeout: bool,
    health_check: Option<Arc<HealthCheck>>,
}

impl RedisStore {
    /// Connects with `config`'s URL, credentials, TLS settings, timeouts
    /// and health checks; must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error naming the server when it cannot be reached or
    /// refuses the credentials or the TLS handshake.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
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
        Ok(Self::with_settings(connection, &config))
    }

    /// A store over a connection manager of your own, used as it is (no
    /// command retries, no health checks).
    pub fn from_connection_manager(connection: ConnectionManager) -> Self {
        RedisStore {
            link: Link::Node(connection),
            timeout: RedisConfig::default().get_socket_timeout(),
            retry_on_timeout: false,
            health_check: None,
        }
    }

    fn with_settings(connection: ConnectionManager, config: &RedisConfig) -> Self {
        Self::with_link(Link::Node(connection), config)
    }

    fn with_link(link: Link, config: &RedisConfig) -> Self {
        RedisStore {
            health_check: config
                .get_health_check_interval()
                .map(|interval| Arc::new(HealthCheck::start(link.clone(), interval))),
            link,
            timeout: config.get_socket_timeout(),
            retry_on_timeout: config.get_retry_on_timeout(),
        }
    }

    /// Sends `cmd`, once more if it timed out and retries are on.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        match self.link.query(cmd).await {
            Err(e) if command::is_retryable(&e, self.retry_on_timeout) => {
                self.link.query(cmd).await
            }
            result => result,
        }
        .map_err(|e| command_error(e, self.timeout))
    }

    /// Removes the keys of `matching` that one node holds: `SCAN` steps
    /// sent to that node (`None`: the single node), `UNLINK` in batches.
    async fn unlink_matching(
        &self,
        matching: &KeyMatch,
        node: Option<&(String, u16)>,
    ) -> Result<u64> {
        let pattern = matching.scan_pattern();
        let (mut cursor, mut removed) = (0, 0);
        loop {
            let scan = command::scan(cursor, &pattern);
            let (next, keys): (u64, Vec<Vec<u8>>) = match (node, &self.link) {
                (Some((host, port)), Link::Cluster(connection)) => {
                    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                        host: host.clone(),
                        port: *port,
                    });
                    let reply = connection.clone().route_command(scan, routing).await;
                    reply
                        .and_then(|value| Ok(FromRedisValue::from_redis_value(value)?))
                        .map_err(|e| command_error(e, self.timeout))?
                }
                _ => self.query(&scan).await?,
            };
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| matching.matches_bytes(k))
                .collect();
            if !keys.is_empty() {
                // In a cluster, redis-rs splits a multi-key UNLINK by slot.
                removed += self.query::<u64>(&command::unlink(&keys)).await?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

/// The connection to a single node or to a cluster.
#[derive(Clone)]
enum Link {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Link::Node(connection) => cmd.query_async(&mut connection.clone()).await,
            Link::Cluster(connection) => cmd.query_async(&mut connection.clone()).await,
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
                &match self.link {
                    Link::Node(_) => "single node",
                    Link::Cluster(_) => "cluster",
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
                let _: RedisResult<()> = link.query(&redis::cmd("PING")).await;
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
        self.query(&command::get(key)).await
    }

    async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        self.query(&command::set(key, &value, expire)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.query::<u64>(&command::delete(key)).await? > 0)
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::from_pttl(self.query(&command::pttl(key)).await?))
    }

    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        match &self.link {
            Link::Node(_) => self.unlink_matching(keys, None).await,
            Link::Cluster(_) => {
                let nodes: String = self.query(&command::cluster_nodes()).await?;
                let mut removed = 0;
                for primary in command::primaries(&nodes) {
                    removed += self.unlink_matching(keys, Some(&primary)).await?;
                }
                Ok(removed)
            }
        }
    }
}
