//! Change tracking for [`FredStore`](crate::FredStore): the pool's
//! connections redirect their invalidations (`CLIENT TRACKING ON REDIRECT
//! <id> NOLOOP`, sent with every read that may fill a tier) to a listener
//! connection of the store's own, in RESP2, subscribed to
//! `__redis__:invalidate`: one for a single node, one per primary on a
//! Redis Cluster (a redirect names a client of the same node).
//!
//! Not RESP3 pushes: fred drops the null invalidation push of a
//! `FLUSHDB`/`FLUSHALL`, and without its `i-tracking` feature would take a
//! push for a reply. On the RESP2 pub/sub channel fred hands every
//! invalidation over as a plain message, a flush included.
//!
//! Each subscribed listener connection is a *generation*, named by its
//! client id (and, on a cluster, by the id of the node it is on). A read
//! redirects to the live generation's id, and fails when none is live.
//! When a listener's connection is lost the generation ends and the tiers
//! are flushed (the reads under way have their tickets withdrawn); when a
//! pool connection is lost, the keys it tracked are no longer reported, so
//! the tiers are flushed too.
//!
//! On a cluster a read is routed by fred's cached cluster state: the
//! key's slot, the primary serving it, that primary's listener. The read
//! is then pinned to the pool's connection to that primary (see
//! [`Route::options`]) and checks, with `CLUSTER MYID` in the same
//! pipeline, that the connection is on the listener's node. Every change
//! of fred's cluster state (a slot moved, a failover, a node added or
//! gone) flushes the tiers, starts listeners for new primaries and stops
//! those of nodes that are no longer primaries.
//!
//! A server that refuses what tracking needs ([`is_refusal`]: a listener's
//! `CLIENT ID`, `CLUSTER MYID` or `SUBSCRIBE`, or a read's `CLIENT
//! TRACKING`, answered `NOPERM` or `unknown command`) is
//! [refused](Tracked::refuse): logged once, the tiers off, every listener
//! stopped, and reads sent untracked from then on.
//!
//! Its parts: [`cluster`] (a read's [`Route`] on a cluster, the listeners
//! per primary), [`listener`] (a listener connection and its task),
//! [`watch`] (the tasks that flush the tiers when a pool connection is
//! lost or the cluster state changes) and [`wire`] (the commands tracking
//! sends, the replies and messages it reads).

mod cluster;
mod listener;
mod watch;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, ClusterInterface};
use fred::types::Value;
use fred::types::config::Server;
use memocache_core::{Error, FlushCause, Invalidations, Result};
use memocache_redis_plumbing::refusal::Tracked;
use tokio::task::AbortHandle;

use self::cluster::Nodes;
pub(crate) use self::cluster::Route;
use self::listener::{Listener, Template};
use self::watch::{watch_cluster, watch_connection};
use self::wire::{ServedBy, served_by};
pub(crate) use self::wire::{is_refusal, is_subscribed_pong, redirect_to};
use crate::connect::backend_error;

/// What a store with [`RedisConfig::client_tracking`] shares between its
/// clones, its reads and the tasks reporting to its tiers.
///
/// [`RedisConfig::client_tracking`]: crate::RedisConfig::client_tracking
pub(crate) struct Tracking {
    tracked: Arc<Tracked>,
    mode: Mode,
    /// Whether the primary is found through Sentinel: the pool and the
    /// listener then find it each by itself, and a read is redirected only
    /// while both are on the same node.
    sentinel: bool,
}

/// Where a tracked store's listeners are.
enum Mode {
    /// A single node: one listener.
    Single(Arc<Listener>),
    /// A cluster: one listener per primary.
    Cluster(Arc<Nodes>),
}

/// The listener of a single node, not connected yet, and the tasks that
/// already run for it.
pub(crate) struct Started {
    /// The shared state, for the store.
    pub(crate) tracking: Arc<Tracking>,
    /// On a single node, the listener's client: connect it (`init` or
    /// `connect`); its events are already listened to. `None` on a
    /// cluster, whose listeners connect by themselves once fred knows the
    /// primaries.
    pub(crate) listener: Option<Client>,
    /// The tasks started: the listener's, and one per pool client watching
    /// its connections.
    pub(crate) tasks: Vec<AbortHandle>,
}

/// Why a tracked read on a cluster cannot be kept, after
/// [`Tracking::served`].
pub(crate) enum Unserved {
    /// Served by a node other than the listener's, or not known to be
    /// served by it: the tiers were flushed. A failed command carries
    /// fred's error.
    Failed(FredError),
    /// Served by another node: the tiers were flushed.
    Elsewhere(Error),
}

impl Tracking {
    /// Builds what tracking needs on `pool`'s server (a single node: the
    /// listener, a RESP2 client with the settings of `pool`'s first
    /// client; a cluster: the listeners per primary, started once fred
    /// knows the primaries) and starts the tasks that report its
    /// invalidations, and the losses of its and the pool's connections,
    /// to the tiers. Connects nothing; call it before the pool connects,
    /// so that no connection event is missed. Must run inside a tokio
    /// runtime.
    pub(crate) fn start(pool: &Pool, server: Arc<str>, timeout: Duration) -> Result<Started> {
        let first = pool
            .clients()
            .first()
            .ok_or_else(|| Error::config("fred built a pool without clients"))?;
        let template = Template::new(first, timeout);
        if pool.is_clustered() {
            let tracked = Arc::new(Tracked::new(NEEDS_ON_A_CLUSTER));
            let nodes = Arc::new(Nodes::new(Arc::clone(&tracked), template));
            let tasks = pool
                .clients()
                .iter()
                .map(|client| {
                    let tiers = tracked.tiers().clone();
                    watch_cluster(client, pool.clone(), tiers, Arc::downgrade(&nodes))
                        .abort_handle()
                })
                .collect();
            return Ok(Started {
                tracking: Arc::new(Tracking {
                    tracked,
                    mode: Mode::Cluster(nodes),
                    sentinel: false,
                }),
                listener: None,
                tasks,
            });
        }
        let tracked = Arc::new(Tracked::new(NEEDS));
        let listener = Arc::new(Listener::new(Arc::clone(&tracked), server, false));
        let client = template.client(None);
        let mut tasks: Vec<AbortHandle> = pool
            .clients()
            .iter()
            .map(|client| watch_connection(client, tracked.tiers().clone()).abort_handle())
            .collect();
        tasks.push(listener.spawn(&client, &template.options).abort_handle());
        Ok(Started {
            tracking: Arc::new(Tracking {
                tracked,
                mode: Mode::Single(listener),
                sentinel: pool.client_config().server.is_sentinel(),
            }),
            listener: Some(client),
            tasks,
        })
    }

    /// The tiers this store reports to, and whether the server refused
    /// tracking.
    pub(crate) fn tracked(&self) -> &Tracked {
        &self.tracked
    }

    /// Whether the server refused tracking: reads then go untracked.
    pub(crate) fn is_refused(&self) -> bool {
        self.tracked.is_refused()
    }

    /// Whether the store is on a cluster (reads go through
    /// [`route`](Self::route)) rather than a single node
    /// ([`redirect`](Self::redirect)).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.mode, Mode::Cluster(_))
    }

    /// On a single node, the client id reads on `pool` redirect their
    /// invalidations to: the live generation's.
    ///
    /// # Errors
    ///
    /// A backend error while no listener is subscribed, and with Sentinel
    /// while a client of `pool` is not known to be connected to the node
    /// the listener is on (a redirect names a client of the same node):
    /// the read must not be kept by a tier untracked.
    pub(crate) fn redirect(&self, pool: &Pool) -> Result<i64> {
        match &self.mode {
            Mode::Single(listener) => {
                let generation = listener.generation()?;
                if self.sentinel {
                    listener.same_node(&generation, pool)?;
                }
                Ok(generation.id)
            }
            Mode::Cluster(_) => Err(backend_error(
                "a read on a cluster was sent as on a single node",
            )),
        }
    }

    /// On a cluster, where a tracked read of `key` goes: the primary
    /// serving its slot in `client`'s cached cluster state, and that
    /// primary's live listener. A primary without a listener yet (a new
    /// or promoted one) gets one, started in the background.
    ///
    /// # Errors
    ///
    /// A backend error while fred knows no primary for the slot or the
    /// primary's listener is not subscribed: the read must not be kept by
    /// a tier untracked.
    pub(crate) fn route(&self, client: &Client, key: &str) -> Result<Route> {
        let Mode::Cluster(nodes) = &self.mode else {
            return Err(backend_error(
                "a read on a single node was sent as on a cluster",
            ));
        };
        let slot = fred::util::redis_keyslot(key.as_bytes());
        let server = client
            .cached_cluster_state()
            .and_then(|state| state.get_server(slot).cloned())
            .ok_or_else(|| {
                backend_error(format!(
                    "fred knows no primary serving slot {slot} (connecting to the cluster in the \
                     background)"
                ))
            })?;
        let listener = nodes.listener(&server);
        Route::new(server, slot, listener)
    }

    /// Checks the `CLUSTER MYID` reply of a tracked read on `route` (the
    /// first of its pipeline; `complete` says whether every other
    /// command has its reply): the read may be kept only if the node that
    /// served it is the listener's. Otherwise its `CLIENT TRACKING` may
    /// have redirected another node's connection to an unrelated client
    /// (which moves the invalidations of every key read on that
    /// connection), so the tiers are flushed.
    pub(crate) fn served(
        &self,
        route: &Route,
        myid: Option<std::result::Result<Value, FredError>>,
        complete: bool,
    ) -> std::result::Result<(), Unserved> {
        match served_by(&route.node, myid.as_ref(), complete) {
            ServedBy::Listener => Ok(()),
            ServedBy::Other(other) => {
                self.tracked.tiers().flushed(FlushCause::TopologyChanged);
                Err(Unserved::Elsewhere(backend_error(format!(
                    "a tracked read for slot {} sent to {} was served by node {other}, not by \
                     node {} that its invalidation listener is on (fred's routing changed); the \
                     local tiers were flushed",
                    route.slot, route.listener.server, route.node
                ))))
            }
            ServedBy::Unknown => {
                self.tracked.tiers().flushed(FlushCause::ReportsLost);
                let error = match myid {
                    Some(Err(error)) => error,
                    _ => {
                        FredError::new(ErrorKind::Unknown, "a tracked read's pipeline lost replies")
                    }
                };
                Err(Unserved::Failed(error))
            }
        }
    }

    /// On a single node: waits, for at most `limit`, until the listener is
    /// subscribed, or tracking was refused.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when it cannot be reached, the
    /// listener cannot subscribe, or the wait is over.
    pub(crate) async fn wait_listening(&self, limit: Duration) -> Result<()> {
        match &self.mode {
            Mode::Single(listener) => listener.wait_listening(limit).await,
            Mode::Cluster(_) => Err(backend_error(
                "a cluster's listeners were waited for as a single node's",
            )),
        }
    }

    /// On a cluster: starts a listener for every primary of `pool`'s
    /// cluster state and waits, for at most `limit` in all, until each is
    /// subscribed; answers a route to each primary, or none once tracking
    /// was refused.
    ///
    /// # Errors
    ///
    /// As [`wait_listening`](Self::wait_listening), for the first listener
    /// that fails; a backend error when fred knows no primary.
    pub(crate) async fn wait_cluster(&self, pool: &Pool, limit: Duration) -> Result<Vec<Route>> {
        let Mode::Cluster(nodes) = &self.mode else {
            return Err(backend_error(
                "a single node's listener was waited for as a cluster's",
            ));
        };
        let deadline = tokio::time::Instant::now() + limit;
        // A slot of each primary, for the commands' hash.
        let mut primaries: Vec<(Server, u16)> = Vec::new();
        for client in pool.clients() {
            for range in client
                .cached_cluster_state()
                .map(|state| state.slots().to_vec())
                .unwrap_or_default()
            {
                if !primaries.iter().any(|(server, _)| *server == range.primary) {
                    primaries.push((range.primary, range.start));
                }
            }
        }
        if primaries.is_empty() {
            return Err(backend_error(
                "fred connected to the cluster but knows no primary serving slots",
            ));
        }
        let servers: Vec<Server> = primaries.iter().map(|(server, _)| server.clone()).collect();
        nodes.reconcile(&servers);
        let mut routes = Vec::with_capacity(primaries.len());
        for (server, slot) in primaries {
            let listener = nodes.listener(&server);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            listener.wait_listening(left).await?;
            if self.is_refused() {
                return Ok(Vec::new());
            }
            routes.push(Route::new(server, slot, listener)?);
        }
        Ok(routes)
    }

    /// On a single node: a pool connection's `CLIENT TRACKING` failed
    /// with `error`; a refusal is [refused](Tracked::refuse).
    ///
    /// # Errors
    ///
    /// Any other error: naming the server when it cannot be reached.
    pub(crate) fn refuse_or_fail(&self, error: FredError) -> Result<()> {
        match &self.mode {
            Mode::Single(listener) => listener.refuse_or_fail(error),
            Mode::Cluster(_) => Err(backend_error(error)),
        }
    }
}

/// What an ACL user needs for tracking on a single node, as the fix of a
/// refusal names it.
const NEEDS: &str = "the client|tracking and client|id commands and the &__redis__:invalidate \
                     channel";

/// What an ACL user needs for tracking on a cluster.
const NEEDS_ON_A_CLUSTER: &str = "the client|tracking, client|id and cluster|myid commands and \
                                  the &__redis__:invalidate channel";
