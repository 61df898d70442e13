//! The connection a single-node store opens and replaces itself: with
//! change tracking on, and for a primary found through Sentinel (where the
//! node to reconnect to may not be the one that was lost).
//!
//! It is opened on first use, and again on the first request after it was
//! found lost: an I/O error or a disconnection push, a `READONLY` reply (a
//! primary demoted by a failover), or a `+switch-master` event the
//! sentinels publish. Opening asks the [`Target`] for the node: a fixed
//! one, or the primary the sentinels name, checked to be a primary. With
//! tracking, each new connection has `CLIENT TRACKING` on and the tiers
//! flushed before it serves, since changes made while no connection
//! tracked went unreported. A server that refuses tracking is
//! [refused](Tracked::refuse) (logged once, the tiers off) and its
//! connections, that one and the next, serve untracked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use memocache_core::{FlushCause, Invalidations};
use memocache_redis_plumbing::refusal::Tracked;
use memocache_redis_plumbing::sentinel::Switch;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ErrorKind, FromRedisValue, RedisError,
    RedisResult, ServerErrorKind,
};
use tokio::task::AbortHandle;

use crate::command::Request;
use crate::sentinel::Sentinels;
use crate::store::Failure;
use crate::tracking::{NEEDS, Reports, flush_if_lost, is_refusal, tracking_on};

/// Which node a new connection goes to.
pub(crate) enum Target {
    /// Always this client's server.
    Node(Box<Client>),
    /// The primary the sentinels name at the time.
    Sentinel(Arc<Sentinels>),
}

/// The connection of one store, shared by its clones.
pub(crate) struct OwnConnection {
    target: Target,
    config: AsyncConnectionConfig,
    /// Whether connections have `CLIENT TRACKING` on (until the server
    /// refuses it) and report changes to [`tracked`](Self::tracked).
    tracking: bool,
    tracked: Tracked,
    current: Mutex<Option<Current>>,
    /// Held while a connection is being opened, so that one opens at a time.
    opening: tokio::sync::Mutex<()>,
    /// The tasks that listen for the sentinels' `+switch-master`.
    watchers: Vec<AbortHandle>,
}

/// The connection in use, and whether it was found dead.
#[derive(Clone)]
struct Current {
    connection: MultiplexedConnection,
    dead: Arc<AtomicBool>,
    /// The node it is to, as a sentinel named it (Sentinel targets only).
    node: Option<(String, u16)>,
}

impl OwnConnection {
    /// A link to `target` opening its connections (which speak RESP3 when
    /// `tracking`) on first use; for a Sentinel target it listens for
    /// failovers from now on (inside a tokio runtime).
    pub(crate) fn new(target: Target, config: AsyncConnectionConfig, tracking: bool) -> Arc<Self> {
        Arc::new_cyclic(|own: &std::sync::Weak<OwnConnection>| {
            let watchers = match &target {
                Target::Node(_) => Vec::new(),
                Target::Sentinel(sentinels) => {
                    let own = own.clone();
                    sentinels.watch(move |switch| {
                        if let Some(own) = own.upgrade() {
                            own.switched(switch);
                        }
                    })
                }
            };
            OwnConnection {
                target,
                config,
                tracking,
                tracked: Tracked::new(NEEDS),
                current: Mutex::new(None),
                opening: tokio::sync::Mutex::new(()),
                watchers,
            }
        })
    }

    /// The tiers this link reports to, and whether the server refused
    /// tracking, if its connections were built to track changes.
    pub(crate) fn tracked(&self) -> Option<&Tracked> {
        self.tracking.then_some(&self.tracked)
    }

    /// Which node connections go to.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Opens the connection now, if none is live: the first connection of
    /// an eager store, whose errors its `connect` reports.
    pub(crate) async fn open_now(&self) -> memocache_core::Result<()> {
        self.connection().await.map(drop)
    }

    /// Sends `request`; a connection that failed is replaced on the next
    /// request.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
    ) -> Result<T, Failure> {
        let mut current = self.connection().await.map_err(Failure::Connect)?;
        let result: RedisResult<T> = request.send_async(&mut current.connection).await;
        flush_if_lost(self.tracked.tiers(), &result, Some(&current.dead));
        if let Err(e) = &result
            && e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
        {
            // A demoted primary: its successor is asked for next time.
            current.dead.store(true, Ordering::SeqCst);
            self.tracked.tiers().flushed(FlushCause::TopologyChanged);
        }
        Ok(result?)
    }

    /// The sentinels announced a new primary: unless the connection
    /// already goes there (every sentinel announces it), it is dropped; so
    /// it is when announcements may have been missed.
    fn switched(&self, switch: Switch<'_>) {
        let there = match switch {
            Switch::To { host, port } => self.live().is_some_and(|current| {
                current
                    .node
                    .is_some_and(|(at, at_port)| at == host && at_port == port)
            }),
            Switch::Unknown => false,
        };
        if !there {
            self.lost(FlushCause::TopologyChanged);
        }
    }

    /// Drops the connection (the next request opens one) and flushes the
    /// tiers for `cause`.
    fn lost(&self, cause: FlushCause) {
        if let Some(current) = self.lock().take() {
            current.dead.store(true, Ordering::SeqCst);
        }
        self.tracked.tiers().flushed(cause);
    }

    /// The live connection, or a new one.
    async fn connection(&self) -> memocache_core::Result<Current> {
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let _opening = self.opening.lock().await;
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let fresh = self.open().await?;
        // Whatever changed while no connection tracked went unreported.
        self.tracked.tiers().flushed(FlushCause::ConnectionLost);
        *self.lock() = Some(fresh.clone());
        Ok(fresh)
    }

    /// Opens a connection to the target and, when tracking, switches
    /// tracking on before it is used: a refusal is
    /// [refused](Tracked::refuse), and the connection serves untracked.
    async fn open(&self) -> memocache_core::Result<Current> {
        let dead = Arc::new(AtomicBool::new(false));
        let reports = Reports {
            tiers: self.tracked.tiers().clone(),
            dead: Some(Arc::clone(&dead)),
        };
        // Pushes need RESP3, which only tracking asks for; without them a
        // lost connection shows as the error of the request on it.
        let config = if self.tracking {
            self.config.clone().set_push_sender(reports)
        } else {
            self.config.clone()
        };
        let (mut connection, node) = match &self.target {
            Target::Node(client) => {
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| crate::connect::connect_error(client, e))?;
                (connection, None)
            }
            Target::Sentinel(sentinels) => {
                let (client, connection) = sentinels.primary(&config).await?;
                (connection, node_of(&client))
            }
        };
        if self.tracking && !self.tracked.is_refused() {
            // NOLOOP: this connection's own writes are not reported back to
            // it; the store tells its tiers of them itself, at once.
            let tracked: redis::RedisResult<()> = tracking_on().query_async(&mut connection).await;
            match tracked {
                Ok(()) => {}
                Err(e) if is_refusal(&e) => self.tracked.refuse(&self.name(), &e),
                Err(e) => return Err(self.unreachable(e)),
            }
        }
        Ok(Current {
            connection,
            dead,
            node,
        })
    }

    /// The error of a connection to the target that could not be made.
    fn unreachable(&self, error: RedisError) -> memocache_core::Error {
        crate::connect::unreachable_server(self.name(), error)
    }

    /// How errors and logs name the target (never credentials).
    fn name(&self) -> String {
        match &self.target {
            Target::Node(client) => crate::connect::server_name(client),
            Target::Sentinel(sentinels) => sentinels.name(),
        }
    }

    fn live(&self) -> Option<Current> {
        self.lock()
            .clone()
            .filter(|current| !current.dead.load(Ordering::SeqCst))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The host and port `client` connects to.
fn node_of(client: &Client) -> Option<(String, u16)> {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

impl Drop for OwnConnection {
    fn drop(&mut self) {
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use memocache_testkit::RedisServer;

    use super::*;

    /// How many connections `server` has accepted so far.
    async fn connections_received(server: &RedisServer) -> u64 {
        let client = Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut connection)
            .await
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("INFO stats gives total_connections_received")
    }

    #[tokio::test]
    async fn a_readonly_reply_drops_the_connection_for_a_new_one() {
        let server = RedisServer::start();
        // A replica (of a primary that is not there) refuses writes with
        // READONLY, as a demoted primary does.
        let client = Client::open(server.url()).unwrap();
        let mut admin = client.get_multiplexed_async_connection().await.unwrap();
        let () = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(1)
            .query_async(&mut admin)
            .await
            .unwrap();
        let own = OwnConnection::new(
            Target::Node(Box::new(client)),
            AsyncConnectionConfig::new(),
            false,
        );
        let set = redis::cmd("SET").arg("k").arg("v").to_owned();
        let get = redis::cmd("GET").arg("k").to_owned();

        let _: Option<String> = own.query(Request::Cmd(&get)).await.ok().flatten();
        let before = connections_received(&server).await;
        let refused = own.query::<()>(Request::Cmd(&set)).await;
        assert!(
            matches!(&refused, Err(Failure::Command(e)) if e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)),
            "not refused as READONLY"
        );
        // The next request goes on a new connection (counted: +1, and +1
        // for this test's own look).
        let _: Option<String> = own.query(Request::Cmd(&get)).await.ok().flatten();
        assert_eq!(connections_received(&server).await, before + 2);
        // And stays on it while it serves.
        let _: Option<String> = own.query(Request::Cmd(&get)).await.ok().flatten();
        assert_eq!(connections_received(&server).await, before + 3);
    }
}
