//! The blocking store's connection pool: at most `max_connections`
//! connections, idle ones reused (most recent first) after a health check,
//! failed ones dropped, and a failed connect reported at once.
//!
//! (r2d2 would keep a caller waiting for its whole checkout timeout while
//! Redis is down, retrying in the background; a cache must fail fast.)

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use memocache_core::Result;
use memocache_redis_plumbing::config::RedisConfig;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, Cmd, Connection, ConnectionLike, FromRedisValue, RedisResult};

use crate::command::{self, Request};
use crate::connect::{backend_error, cluster_client, cluster_client_with_nodes, connect_error};

/// Where connections go: one node, or a cluster.
// One per pool, never moved around: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Source {
    /// A single node.
    Node(Client),
    /// A Redis Cluster; each pooled connection reaches every node.
    Cluster(ClusterSource),
}

/// A Redis Cluster's client, which learns the cluster's nodes.
///
/// A pooled connection that fails is dropped and a new one opened later,
/// from the seeds: after a failover the configured seeds may all be gone
/// (a single seed, killed). So each new connection reads `CLUSTER NODES`,
/// and the nodes it lists join the seeds of the client the next
/// connection is opened with.
pub(crate) struct ClusterSource {
    config: RedisConfig,
    /// The seeds, without credentials, for errors.
    seeds: String,
    learned: Mutex<Learned>,
}

struct Learned {
    client: ClusterClient,
    /// The nodes `client` knows beyond the configured seeds, sorted.
    nodes: Vec<(String, u16)>,
}

impl ClusterSource {
    /// A source for `config`'s cluster; opens no connection.
    pub(crate) fn new(config: &RedisConfig) -> Result<Self> {
        Ok(ClusterSource {
            config: config.clone(),
            seeds: config.redacted_url(),
            learned: Mutex::new(Learned {
                client: cluster_client(config)?,
                nodes: Vec::new(),
            }),
        })
    }

    fn connect(&self) -> Result<ClusterConnection> {
        let client = lock(&self.learned).client.clone();
        let mut connection = client.get_connection().map_err(|e| {
            backend_error(format!(
                "cannot connect to the cluster at {}: {e}",
                self.seeds
            ))
        })?;
        self.learn(&mut connection);
        Ok(connection)
    }

    /// Takes the nodes `connection` sees as seeds for the next connection.
    /// Failing to read them (an ACL user without `CLUSTER`, say) only
    /// leaves the seeds as they are.
    fn learn(&self, connection: &mut ClusterConnection) {
        let Ok(reply) = command::cluster_nodes().query::<String>(connection) else {
            return;
        };
        let mut nodes = memocache_redis_plumbing::topology::nodes(&reply);
        nodes.sort();
        let mut learned = lock(&self.learned);
        if nodes.is_empty() || nodes == learned.nodes {
            return;
        }
        if let Ok(client) = cluster_client_with_nodes(&self.config, &nodes) {
            *learned = Learned { client, nodes };
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens connections, with the settings each one gets.
pub(crate) struct Connector {
    /// The server(s) and credentials.
    pub(crate) source: Source,
    /// How long opening a connection may take.
    pub(crate) connect_timeout: Duration,
    /// How long a command may wait for its reply.
    pub(crate) socket_timeout: Duration,
    /// PING a connection idle this long before reusing it.
    pub(crate) health_check_interval: Option<Duration>,
}

impl Connector {
    /// Opens a connection, within `limit` if given, whose commands wait
    /// for their replies at most the socket timeout (or `limit`).
    fn connect(&self, limit: Option<Duration>) -> Result<Pooled> {
        let connection = match &self.source {
            Source::Node(client) => {
                let connect_timeout = within(self.connect_timeout, limit);
                // A server that accepts but does not answer (paused, say)
                // is a timeout, as a command's would be.
                let connection = client
                    .get_connection_with_timeout(connect_timeout)
                    .map_err(|e| {
                        if e.is_timeout() {
                            memocache_core::Error::Timeout(connect_timeout)
                        } else {
                            connect_error(client, e)
                        }
                    })?;
                Link::Node(connection)
            }
            Source::Cluster(cluster) => Link::Cluster(Box::new(cluster.connect()?)),
        };
        let mut pooled = Pooled {
            connection,
            last_used: Instant::now(),
            broken: false,
            timeout: None,
        };
        pooled
            .bound(within(self.socket_timeout, limit))
            .map_err(backend_error)?;
        Ok(pooled)
    }

    /// Whether an idle connection may be reused: open, and answering PING
    /// if it sat idle past the health-check interval.
    fn is_healthy(&self, pooled: &mut Pooled) -> bool {
        if !pooled.connection.is_open() {
            return false;
        }
        match self.health_check_interval {
            Some(interval) if pooled.last_used.elapsed() >= interval => pooled
                .query::<()>(Request::Cmd(&redis::cmd("PING")))
                .is_ok(),
            _ => true,
        }
    }
}

/// A connection to a single node, or to a whole cluster.
enum Link {
    Node(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Link {
    /// Sets how long a command waits for its socket to read or write.
    fn set_timeouts(&self, timeout: Duration) -> RedisResult<()> {
        match self {
            Link::Node(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
            Link::Cluster(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Link::Node(connection) => connection.is_open(),
            Link::Cluster(connection) => connection.is_open(),
        }
    }
}

/// A connection with what the pool needs to know about it.
struct Pooled {
    connection: Link,
    last_used: Instant,
    broken: bool,
    /// The socket timeouts set now.
    timeout: Option<Duration>,
}

/// `timeout`, or `limit` if that is shorter.
fn within(timeout: Duration, limit: Option<Duration>) -> Duration {
    limit.map_or(timeout, |limit| timeout.min(limit))
}

impl Pooled {
    /// Makes the socket wait at most `timeout` (a system call only when it
    /// changes).
    fn bound(&mut self, timeout: Duration) -> RedisResult<()> {
        if self.timeout != Some(timeout) {
            self.connection.set_timeouts(timeout)?;
            self.timeout = Some(timeout);
        }
        Ok(())
    }

    /// Sends `cmd`; a connection that failed below the protocol (I/O error,
    /// timeout) may still receive a late reply, so it is marked broken and
    /// never reused.
    fn query<T: FromRedisValue>(&mut self, request: Request<'_>) -> RedisResult<T> {
        let reply = match &mut self.connection {
            Link::Node(connection) => request.send(connection),
            Link::Cluster(connection) => request.send_to_cluster(connection),
        };
        let result = reply.and_then(|value| Ok(T::from_redis_value(value)?));
        self.settle(result)
    }

    /// Sends `cmd` to the cluster node at `host:port`.
    fn query_node<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        host: &str,
        port: u16,
    ) -> RedisResult<T> {
        let result = match &mut self.connection {
            Link::Cluster(connection) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port,
                });
                connection
                    .route_command(cmd, routing)
                    .and_then(|value| Ok(T::from_redis_value(value)?))
            }
            Link::Node(connection) => cmd.query(connection),
        };
        self.settle(result)
    }

    fn settle<T>(&mut self, result: RedisResult<T>) -> RedisResult<T> {
        self.last_used = Instant::now();
        if let Err(e) = &result {
            self.broken |= e.is_io_error() || e.is_timeout() || e.is_connection_dropped();
        }
        result
    }
}

/// A bounded pool of connections.
pub(crate) struct Pool {
    connector: Connector,
    max_connections: usize,
    /// How long a caller waits for a connection when all are in use.
    wait: Duration,
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Pooled>,
    /// Connections in use, idle, or being opened.
    open: usize,
}

impl Pool {
    /// An empty pool; connections are opened on demand.
    pub(crate) fn new(connector: Connector, max_connections: usize, wait: Duration) -> Self {
        Pool {
            connector,
            max_connections,
            wait,
            state: Mutex::default(),
            released: Condvar::new(),
        }
    }

    /// A connection: an idle one, a new one when fewer than the maximum are
    /// open, else the first one released within the wait.
    ///
    /// # Errors
    ///
    /// The connect error, at once, when a new connection fails; a backend
    /// error when every connection stayed in use for the whole wait.
    pub(crate) fn get(&self, limit: Option<Duration>) -> Result<Lease<'_>> {
        let wait = within(self.wait, limit);
        let deadline = Instant::now() + wait;
        let socket_timeout = within(self.connector.socket_timeout, limit);
        let mut state = self.lock();
        loop {
            if let Some(mut pooled) = state.idle.pop() {
                drop(state);
                if pooled.bound(socket_timeout).is_ok() && self.connector.is_healthy(&mut pooled) {
                    return Ok(self.lease(pooled));
                }
                drop(pooled);
                state = self.lock();
                state.open -= 1;
                continue;
            }
            if state.open < self.max_connections {
                state.open += 1;
                drop(state);
                return match self.connector.connect(limit) {
                    Ok(pooled) => Ok(self.lease(pooled)),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.released.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(backend_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "all {} pooled connections stayed in use for {:?}; raise max_connections",
                        self.max_connections, wait
                    ),
                )));
            }
            state = self
                .released
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether the connections reach a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.connector.source, Source::Cluster(_))
    }

    /// The pool's size, and how many connections are open and idle.
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (self.max_connections, state.open, state.idle.len())
    }

    fn lease(&self, pooled: Pooled) -> Lease<'_> {
        Lease {
            pool: self,
            pooled: Some(pooled),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A connection lent by the [`Pool`]; it goes back (or, if broken, away)
/// when dropped.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    pooled: Option<Pooled>,
}

impl Lease<'_> {
    /// Sends `request` on the lent connection.
    pub(crate) fn query<T: FromRedisValue>(&mut self, request: Request<'_>) -> RedisResult<T> {
        self.pooled
            .as_mut()
            .expect("a lease holds its connection until dropped")
            .query(request)
    }

    /// Sends `cmd` to one node of the cluster (on a single node, to it).
    pub(crate) fn query_node<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        (host, port): &(String, u16),
    ) -> RedisResult<T> {
        self.pooled
            .as_mut()
            .expect("a lease holds its connection until dropped")
            .query_node(cmd, host, *port)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(pooled) = self.pooled.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if pooled.broken || !pooled.connection.is_open() {
            state.open -= 1;
        } else {
            state.idle.push(pooled);
        }
        drop(state);
        self.pool.released.notify_one();
    }
}
