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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, ClusterInterface, EventInterface, PubsubInterface};
use fred::types::config::{
    Config, ConnectionConfig, Options, PerformanceConfig, ReconnectPolicy, Server, ServerConfig,
};
use fred::types::{ClusterHash, CustomCommand, Message, RespVersion, Value};
use memocache_core::{Error, FlushCause, Invalidations, Result, TrackedTiers};
use memocache_redis_plumbing::refusal::{self, Tracked};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::connect::{ConnectError, backend_error};

/// The channel invalidations are published on, in RESP2.
const INVALIDATE: &str = "__redis__:invalidate";

/// How many events (invalidation messages above all) the listener's
/// channels hold before its task falls behind and flushes; fred's default
/// is 32.
const CHANNEL_CAPACITY: usize = 4096;

/// How long the listener stays unsubscribed on a connection fred says is
/// up (subscribing failed: a timeout, say; a refusal stops it instead)
/// before it forces a new connection and tries again.
const RETRY: Duration = Duration::from_secs(1);

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

/// One listener connection to one server, and its generations.
struct Listener {
    tracked: Arc<Tracked>,
    state: watch::Sender<Listening>,
    /// `host:port` (never credentials), for errors.
    server: Arc<str>,
    /// Whether the server is a cluster node: the listener then asks which
    /// node it is on (`CLUSTER MYID`).
    clustered: bool,
}

/// A listener's state.
#[derive(Clone, Debug)]
enum Listening {
    /// Not subscribed: connecting, or its connection was lost.
    Down,
    /// Subscribed: this generation.
    Live(Generation),
    /// Subscribing failed on a connection that stayed up; tried again
    /// every [`RETRY`].
    Failed(Arc<SetupError>),
    /// Tracking was refused (by this server or another of the store's):
    /// the listener stopped for good.
    Refused,
}

/// A subscribed listener connection: what reads redirect to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Generation {
    /// The connection's client id.
    id: i64,
    /// The id of the cluster node it is on (`CLUSTER MYID`); `None` on a
    /// single node.
    node: Option<Arc<str>>,
    /// The address it is connected to.
    server: Server,
}

/// Why a listener could not subscribe.
#[derive(Debug)]
struct SetupError {
    /// The command that failed.
    step: &'static str,
    source: FredError,
    /// Whether it was a `SUBSCRIBE` that did not take on a connection
    /// that answers: the server refused it, unless the connection was
    /// replaced in between.
    unsubscribed: bool,
}

impl SetupError {
    /// `step` failed with `source`.
    fn new(step: &'static str, source: FredError) -> Self {
        SetupError {
            step,
            source,
            unsubscribed: false,
        }
    }
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.step, self.source)
    }
}

/// The listeners of a tracked store on a cluster: one per primary of
/// fred's cluster state, by the primary's address.
struct Nodes {
    tracked: Arc<Tracked>,
    template: Template,
    listeners: Mutex<HashMap<Server, Node>>,
}

/// A primary's listener and the tasks that run it (its connection and its
/// events), stopped when it is dropped.
struct Node {
    listener: Arc<Listener>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a listener client is built from: the settings of the pool's first
/// client (credentials, TLS, timeouts, reconnection policy), in RESP2.
struct Template {
    config: Config,
    performance: PerformanceConfig,
    connection: ConnectionConfig,
    policy: Option<ReconnectPolicy>,
    /// The listener's own commands: bounded by the socket timeout, and
    /// queued until its connection is up.
    options: Options,
}

impl Template {
    /// The settings of `first`, a client of the store's pool.
    fn new(first: &Client, timeout: Duration) -> Self {
        let mut config = first.client_config();
        config.version = RespVersion::RESP2;
        let mut performance = first.perf_config();
        performance.broadcast_channel_capacity = CHANNEL_CAPACITY;
        Template {
            config,
            performance,
            connection: first.connection_config().clone(),
            policy: first.client_reconnect_policy(),
            options: Options {
                timeout: Some(timeout),
                ..Options::default()
            },
        }
    }

    /// A listener client, not connected: to the pool's server, or to the
    /// cluster node `node`, retrying its first connection in the
    /// background.
    fn client(&self, node: Option<&Server>) -> Client {
        let mut config = self.config.clone();
        if let Some(node) = node {
            config.server = ServerConfig::Centralized {
                server: node.clone(),
            };
            config.fail_fast = false;
        }
        Client::new(
            config,
            Some(self.performance.clone()),
            Some(self.connection.clone()),
            self.policy.clone(),
        )
    }

    /// How a node is named in errors: `host:port`, plus ` over TLS`.
    fn name(&self, node: &Server) -> Arc<str> {
        if self.config.uses_tls() {
            format!("{node} over TLS").into()
        } else {
            node.to_string().into()
        }
    }
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

/// Where a tracked read on a cluster goes: the primary serving the key's
/// slot in fred's cached cluster state, and that primary's live listener
/// generation.
pub(crate) struct Route {
    server: Server,
    slot: u16,
    generation: Generation,
    /// The id of the node the listener is on.
    node: Arc<str>,
    listener: Arc<Listener>,
}

impl Route {
    /// `base` pinned to the pool's connection to this route's primary
    /// (`cluster_node`), without following redirections (the pool of a
    /// store on a cluster follows none: see [`crate::connect::settings`]).
    ///
    /// Why this is enough for the `GET` of a tracked read to be served
    /// on the connection its `CLIENT TRACKING` was sent on (fred 10.1's
    /// router): the commands of one pipeline are written one after the
    /// other by the router task, each routed by itself
    /// (`process_pipeline`, `write_command`); a command with
    /// `cluster_node` goes to that server's connection or fails ("Failed
    /// to route command"), never to another node's (`Router::route`),
    /// and the connection map changes only in the router task: a failed
    /// write drops the connection (the next commands then fail), and a
    /// reconnection is queued behind the pipeline (`defer_reconnection`).
    /// A `MOVED` or `ASK` reply goes back to the router, which would
    /// re-send that one command elsewhere while it has redirections (and
    /// write attempts) left (`process_moved`, `process_ask`:
    /// `decr_check_redirections`); with none it fails the command. (A
    /// command's `max_redirections: Some(0)` does not do it: fred takes 0
    /// for "unset" and gives the command the connection's default,
    /// `Command::inherit_options`; hence the pool's default of 0.) One
    /// pipeline's replies come on one connection, in order, so the
    /// `CLUSTER MYID` sent first names the node that served the rest.
    pub(crate) fn options(&self, base: &Options) -> Options {
        Options {
            cluster_node: Some(self.server.clone()),
            max_redirections: None,
            ..base.clone()
        }
    }

    /// `CLUSTER MYID`, which names the node the pipeline is served by.
    pub(crate) fn myid(&self) -> (CustomCommand, Vec<Value>) {
        let command = CustomCommand::new_static("CLUSTER", ClusterHash::Custom(self.slot), false);
        (command, vec![Value::from("MYID")])
    }

    /// `CLIENT TRACKING ON REDIRECT <listener> NOLOOP` for this route's
    /// listener generation.
    pub(crate) fn redirect(&self) -> (CustomCommand, Vec<Value>) {
        let (_, args) = redirect_to(self.generation.id);
        let command = CustomCommand::new_static("CLIENT", ClusterHash::Custom(self.slot), false);
        (command, args)
    }

    /// Checks the replies to the first [`myid`](Self::myid) and
    /// [`redirect`](Self::redirect) sent, at connect, on a pool
    /// connection to this route's primary: a refusal of either is
    /// [refused](Tracked::refuse).
    ///
    /// # Errors
    ///
    /// A backend error naming the primary when it cannot be reached, or
    /// when the connection is on another node than the listener's.
    pub(crate) fn first_redirected(
        &self,
        replies: Vec<std::result::Result<Value, FredError>>,
    ) -> Result<()> {
        let server = &self.listener.server;
        let mut replies = replies.into_iter();
        match (replies.next(), replies.next()) {
            (Some(Ok(myid)), Some(tracked)) => {
                if let ServedBy::Other(other) = served_by(&self.node, Some(&Ok(myid)), true) {
                    return Err(backend_error(format!(
                        "the pool's connection to {server} is on cluster node {other}, the \
                         invalidation listener's on node {}",
                        self.node
                    )));
                }
                tracked
                    .map(drop)
                    .or_else(|error| self.listener.refuse_or_fail(error))
            }
            (Some(Err(error)), Some(_)) if is_refusal(&error) => {
                self.listener.refuse_or_fail(error)
            }
            // The pipeline failed as a whole.
            (Some(Err(error)), _) if is_connection_error(&error) => {
                Err(backend_error(ConnectError {
                    server: server.to_string(),
                    source: error,
                }))
            }
            (Some(Err(error)), _) => Err(backend_error(error)),
            _ => Err(backend_error(format!(
                "the first CLIENT TRACKING on {server} lost its replies"
            ))),
        }
    }
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

/// What a tracked read's `CLUSTER MYID` reply says about the node that
/// served the pipeline.
#[derive(Debug, PartialEq, Eq)]
enum ServedBy {
    /// The listener's node.
    Listener,
    /// Another node, by its id.
    Other(String),
    /// Not known: the pipeline failed before that reply was read.
    Unknown,
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
            let nodes = Arc::new(Nodes {
                tracked: Arc::clone(&tracked),
                template,
                listeners: Mutex::default(),
            });
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

impl Route {
    /// The route to `server` (serving `slot`) through `listener`'s live
    /// generation.
    fn new(server: Server, slot: u16, listener: Arc<Listener>) -> Result<Route> {
        let generation = listener.generation()?;
        let node = generation.node.clone().ok_or_else(|| {
            backend_error(format!(
                "the invalidation listener on {} does not know its cluster node",
                listener.server
            ))
        })?;
        Ok(Route {
            server,
            slot,
            generation,
            node,
            listener,
        })
    }

    /// The primary refused a tracked read's `CLIENT TRACKING` with `error`
    /// (see [`is_refusal`]).
    pub(crate) fn refuse(&self, error: &FredError) {
        self.listener.refuse(error);
    }
}

impl Nodes {
    fn lock(&self) -> MutexGuard<'_, HashMap<Server, Node>> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The listener of the primary `server`, started (in the background)
    /// if it has none.
    fn listener(&self, server: &Server) -> Arc<Listener> {
        let mut listeners = self.lock();
        if let Some(node) = listeners.get(server) {
            return Arc::clone(&node.listener);
        }
        let node = self.start(server);
        let listener = Arc::clone(&node.listener);
        listeners.insert(server.clone(), node);
        listener
    }

    /// Gives every server of `primaries` a listener, and stops those of
    /// other servers (no longer primaries: a failed or demoted node), whose
    /// generations end. An empty list (no cluster state) changes nothing.
    /// Once tracking was refused, drops every listener (each stopped
    /// already) and starts none.
    fn reconcile(&self, primaries: &[Server]) {
        if self.tracked.is_refused() {
            self.lock().clear();
            return;
        }
        if primaries.is_empty() {
            return;
        }
        let mut listeners = self.lock();
        listeners.retain(|server, node| {
            let keep = primaries.contains(server);
            if !keep {
                node.listener.end();
            }
            keep
        });
        for server in primaries {
            if !listeners.contains_key(server) {
                let node = self.start(server);
                listeners.insert(server.clone(), node);
            }
        }
    }

    /// Starts a listener on the cluster node `server`: its task, then its
    /// connection, retried in the background until it is up.
    fn start(&self, server: &Server) -> Node {
        let listener = Arc::new(Listener::new(
            Arc::clone(&self.tracked),
            self.template.name(server),
            true,
        ));
        let client = self.template.client(Some(server));
        let task = listener.spawn(&client, &self.template.options);
        let connection = client.connect();
        Node {
            listener,
            tasks: vec![task.abort_handle(), connection.abort_handle()],
        }
    }
}

impl Listener {
    /// A listener of `server`, down until its task subscribes it.
    fn new(tracked: Arc<Tracked>, server: Arc<str>, clustered: bool) -> Self {
        Listener {
            tracked,
            state: watch::Sender::new(Listening::Down),
            server,
            clustered,
        }
    }

    /// Starts the task that runs this listener on `client` (not connected
    /// yet: its events are subscribed to first).
    fn spawn(self: &Arc<Self>, client: &Client, options: &Options) -> JoinHandle<()> {
        let events = Events {
            errors: client.error_rx(),
            reconnects: client.reconnect_rx(),
            messages: client.message_rx(),
        };
        tokio::spawn(Arc::clone(self).listen(client.clone(), events, options.clone()))
    }

    /// The live generation.
    ///
    /// # Errors
    ///
    /// A backend error while the listener is not subscribed.
    fn generation(&self) -> Result<Generation> {
        match &*self.state.borrow() {
            Listening::Live(generation) => Ok(generation.clone()),
            Listening::Down => Err(backend_error(format!(
                "the invalidation listener is not subscribed on {} (reconnecting in the \
                 background)",
                self.server
            ))),
            Listening::Failed(failed) => Err(backend_error(format!(
                "the invalidation listener is not subscribed on {} (trying again in the \
                 background; last error: {failed})",
                self.server
            ))),
            Listening::Refused => Err(backend_error(format!(
                "the invalidation listener on {} stopped: client tracking was refused",
                self.server
            ))),
        }
    }

    /// With Sentinel, where the pool and the listener find the primary each
    /// by itself: checks that every client of `pool` is connected to the
    /// node `generation` is on.
    ///
    /// # Errors
    ///
    /// A backend error when one is not known to be (connected elsewhere,
    /// or not connected).
    fn same_node(&self, generation: &Generation, pool: &Pool) -> Result<()> {
        let on_node = |client: &Client| client.active_connections().contains(&generation.server);
        if pool.clients().iter().all(on_node) {
            return Ok(());
        }
        Err(backend_error(format!(
            "the pool's connection is not on {}, the node the invalidation listener of {} is on \
             (following a failover)",
            generation.server, self.server
        )))
    }

    /// Waits, for at most `limit`, until the listener is subscribed, or
    /// stopped because tracking was refused.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when it cannot be reached, the
    /// listener cannot subscribe, or the wait is over.
    async fn wait_listening(&self, limit: Duration) -> Result<()> {
        let mut state = self.state.subscribe();
        let settled = tokio::time::timeout(
            limit,
            state.wait_for(|state| !matches!(state, Listening::Down)),
        )
        .await;
        let settled = match settled {
            Ok(Ok(settled)) => settled.clone(),
            Ok(Err(_)) | Err(_) => {
                return Err(backend_error(format!(
                    "the invalidation listener could not subscribe on {} within {limit:?}",
                    self.server
                )));
            }
        };
        match settled {
            Listening::Live(_) | Listening::Refused => Ok(()),
            Listening::Failed(failed) if is_connection_error(&failed.source) => {
                Err(backend_error(ConnectError {
                    server: self.server.to_string(),
                    source: failed.source.clone(),
                }))
            }
            Listening::Failed(failed) => Err(backend_error(format!(
                "the invalidation listener could not subscribe on {}: {failed}",
                self.server
            ))),
            Listening::Down => Err(backend_error("the invalidation listener is down")),
        }
    }

    /// This listener's server refused tracking with `error` (see
    /// [`is_refusal`]): logged once, the tiers off, every listener of the
    /// store stopped.
    fn refuse(&self, error: &dyn std::fmt::Display) {
        self.tracked.refuse(&self.server, error);
    }

    /// A pool connection's first `CLIENT TRACKING` (or `CLUSTER MYID`) to
    /// this listener's server failed with `error`: a refusal is
    /// [refused](Self::refuse).
    ///
    /// # Errors
    ///
    /// Any other error: naming the server when it cannot be reached.
    fn refuse_or_fail(&self, error: FredError) -> Result<()> {
        if is_refusal(&error) {
            self.refuse(&error);
            return Ok(());
        }
        if is_connection_error(&error) {
            return Err(backend_error(ConnectError {
                server: self.server.to_string(),
                source: error,
            }));
        }
        Err(backend_error(error))
    }

    /// The listener's task: reports invalidations; on each new connection
    /// subscribes and starts a generation, and ends it (flushing the
    /// tiers) when the connection is lost. Connection events come first,
    /// so that a generation ends before later messages are read. Whenever
    /// no generation is live for [`RETRY`] after the last connection event
    /// while fred says the connection is up (subscribing failed, or an
    /// error outlived its connection), a new connection is forced. Once
    /// tracking was refused (here or by another server of the store's), it
    /// closes its connection and stops.
    async fn listen(self: Arc<Self>, listener: Client, mut events: Events, options: Options) {
        let retry = tokio::time::sleep(RETRY);
        tokio::pin!(retry);
        let refused = self.tracked.refused();
        tokio::pin!(refused);
        loop {
            let live = matches!(*self.state.borrow(), Listening::Live(_));
            tokio::select! {
                biased;
                () = &mut refused => {
                    self.state.send_replace(Listening::Refused);
                    let limit = options.timeout.unwrap_or(RETRY);
                    let _ = tokio::time::timeout(limit, listener.quit()).await;
                    return;
                }
                lost = events.errors.recv() => {
                    if matches!(lost, Err(RecvError::Closed)) {
                        break;
                    }
                    self.end();
                }
                connected = events.reconnects.recv() => {
                    let server = match connected {
                        Ok(server) => Some(server),
                        Err(RecvError::Closed) => break,
                        // Connection events were missed: the connection
                        // now, if any (else the next event says).
                        Err(RecvError::Lagged(_)) => listener.active_connections().into_iter().next(),
                    };
                    self.end();
                    if let Some(server) = server {
                        self.subscribe(&listener, &options, &events, server).await;
                    }
                }
                message = events.messages.recv() => {
                    match message {
                        Ok(message) => self.receive(&message),
                        Err(RecvError::Lagged(_)) => {
                            self.tracked.tiers().flushed(FlushCause::ReportsLost);
                        }
                        Err(RecvError::Closed) => break,
                    }
                    continue;
                }
                () = &mut retry, if !live => {
                    if listener.is_connected() {
                        let limit = options.timeout.unwrap_or(RETRY) + RETRY;
                        let _ = tokio::time::timeout(limit, listener.force_reconnection()).await;
                    }
                }
            }
            retry.as_mut().reset(tokio::time::Instant::now() + RETRY);
        }
        // The client was closed (`quit`): nothing is reported any more.
        self.end();
    }

    /// On a new listener connection (to `server`): its id, on a cluster its node's id,
    /// then `SUBSCRIBE` (after which a RESP2 connection takes no other
    /// command); the generation starts unless the connection changed
    /// meanwhile (then the next event says so, and this runs again).
    async fn subscribe(
        &self,
        listener: &Client,
        options: &Options,
        events: &Events,
        server: Server,
    ) {
        let client = listener.with_options(options);
        let generation = async {
            let id: i64 = client
                .custom(client_command(), vec!["ID"])
                .await
                .map_err(|source| SetupError::new("CLIENT ID", source))?;
            let node = if self.clustered {
                let command = CustomCommand::new_static("CLUSTER", ClusterHash::FirstKey, false);
                let node: String = client
                    .custom(command, vec!["MYID"])
                    .await
                    .map_err(|source| SetupError::new("CLUSTER MYID", source))?;
                Some(Arc::from(node))
            } else {
                None
            };
            let failed = |source| SetupError::new("SUBSCRIBE", source);
            client.subscribe(INVALIDATE).await.map_err(failed)?;
            // fred answers SUBSCRIBE once it is written, and drops its
            // reply; a PING says whether it took: a subscribed RESP2
            // connection answers ["pong", ""]. A refused SUBSCRIBE's error
            // comes before, and fred takes it as the PING's reply, or drops
            // it as the SUBSCRIBE's: then the PING's plain "PONG" says the
            // connection answers but is not subscribed, which only a
            // refusal leaves it.
            let pong: Value = client.ping(None).await.map_err(failed)?;
            if !is_subscribed_pong(&pong) {
                return Err(SetupError {
                    step: "SUBSCRIBE",
                    source: FredError::new(
                        ErrorKind::Unknown,
                        format!(
                            "SUBSCRIBE {INVALIDATE} did not take: PING answered {pong:?}, \
                             not subscribed"
                        ),
                    ),
                    unsubscribed: true,
                });
            }
            Ok::<_, SetupError>(Generation { id, node, server })
        }
        .await;
        // The server's refusal, whatever happened to the connection since.
        if let Err(failed) = &generation
            && (is_refusal(&failed.source) || failed.unsubscribed && events.reconnects.is_empty())
        {
            self.refuse(failed);
            self.state.send_replace(Listening::Refused);
            return;
        }
        if !(events.errors.is_empty() && events.reconnects.is_empty()) {
            return;
        }
        match generation {
            Ok(generation) => {
                self.state.send_replace(Listening::Live(generation));
            }
            // Tried again on a new connection (the failed one may be half
            // subscribed), in a while.
            Err(failed) => {
                self.state.send_replace(Listening::Failed(Arc::new(failed)));
            }
        }
    }

    /// Ends the live generation, if any: the tiers are flushed, since
    /// invalidations redirected to it are lost from now on.
    fn end(&self) {
        let ended = self.state.send_if_modified(|state| {
            let live = matches!(state, Listening::Live(_));
            if live {
                *state = Listening::Down;
            }
            live
        });
        if ended {
            self.tracked.tiers().flushed(FlushCause::ConnectionLost);
        }
    }

    /// Reports an invalidation message.
    fn receive(&self, message: &Message) {
        if &*message.channel == INVALIDATE {
            report(self.tracked.tiers(), &message.value);
        }
    }
}

/// The listener client's events, subscribed to before it connects.
struct Events {
    errors: Receiver<(FredError, Option<Server>)>,
    reconnects: Receiver<Server>,
    messages: Receiver<Message>,
}

/// Flushes `tiers` whenever `client`'s connection is lost or replaced:
/// the keys read on a connection are tracked for that connection only, so
/// their changes go unreported once it is gone. (The failed attempts of a
/// reconnection, with no connection to lose, flush nothing.)
fn watch_connection(client: &Client, tiers: TrackedTiers) -> JoinHandle<()> {
    let (mut errors, mut reconnects) = (client.error_rx(), client.reconnect_rx());
    tokio::spawn(async move {
        // Whether a connection may have been up since the last flush.
        let mut up = true;
        loop {
            let (event, connected) = tokio::select! {
                lost = errors.recv() => (lost.map(drop), false),
                connected = reconnects.recv() => (connected.map(drop), true),
            };
            match event {
                Err(RecvError::Closed) => return,
                Ok(()) if !connected && !up => {}
                _ => tiers.flushed(FlushCause::ConnectionLost),
            }
            up = connected;
        }
    })
}

/// On a cluster: flushes `tiers` whenever one of `client`'s node
/// connections is lost or replaced, or its cluster state changes (fred
/// closes the connections to nodes that are no longer primaries without
/// an error event; a slot moved or a failover changes which node reports
/// a key); then starts listeners for new primaries and stops those of
/// former ones. Every event flushes: an error does not say whether
/// another node's connection was up meanwhile.
fn watch_cluster(
    client: &Client,
    pool: Pool,
    tiers: TrackedTiers,
    nodes: Weak<Nodes>,
) -> JoinHandle<()> {
    let mut errors = client.error_rx();
    let mut reconnects = client.reconnect_rx();
    let mut changes = client.cluster_change_rx();
    tokio::spawn(async move {
        loop {
            let (closed, cause) = tokio::select! {
                lost = errors.recv() => (
                    matches!(lost, Err(RecvError::Closed)),
                    FlushCause::ConnectionLost,
                ),
                connected = reconnects.recv() => (
                    matches!(connected, Err(RecvError::Closed)),
                    FlushCause::ConnectionLost,
                ),
                changed = changes.recv() => (
                    matches!(changed, Err(RecvError::Closed)),
                    FlushCause::TopologyChanged,
                ),
            };
            if closed {
                return;
            }
            tiers.flushed(cause);
            let Some(nodes) = nodes.upgrade() else {
                return;
            };
            nodes.reconcile(&primaries(&pool));
        }
    })
}

/// The primaries of the cluster states of `pool`'s clients.
fn primaries(pool: &Pool) -> Vec<Server> {
    let mut primaries = HashSet::new();
    for client in pool.clients() {
        if let Some(state) = client.cached_cluster_state() {
            primaries.extend(state.unique_primary_nodes());
        }
    }
    primaries.into_iter().collect()
}

/// What an ACL user needs for tracking on a single node, as the fix of a
/// refusal names it.
const NEEDS: &str = "the client|tracking and client|id commands and the &__redis__:invalidate \
                     channel";

/// What an ACL user needs for tracking on a cluster.
const NEEDS_ON_A_CLUSTER: &str = "the client|tracking, client|id and cluster|myid commands and \
                                  the &__redis__:invalidate channel";

/// Whether `error` is the server's refusal of a command tracking needs
/// ([`refusal::is_refusal`]), rather than a failure to reach it or one
/// that passes.
pub(crate) fn is_refusal(error: &FredError) -> bool {
    let reply = error.details();
    let (code, detail) = reply.split_once(' ').unwrap_or((reply, ""));
    refusal::is_refusal(code, detail)
}

/// `CLIENT`, for `CLIENT ID` and `CLIENT TRACKING`.
fn client_command() -> CustomCommand {
    CustomCommand::new_static("CLIENT", ClusterHash::FirstKey, false)
}

/// `CLIENT TRACKING ON REDIRECT <id> NOLOOP`, as a command and its
/// arguments: the connection's reads are tracked, their invalidations go
/// to the listener `id`, and its own writes are not reported (the store
/// reports them to its tiers itself).
pub(crate) fn redirect_to(id: i64) -> (CustomCommand, Vec<Value>) {
    let args = vec![
        Value::from("TRACKING"),
        Value::from("ON"),
        Value::from("REDIRECT"),
        Value::Integer(id),
        Value::from("NOLOOP"),
    ];
    (client_command(), args)
}

/// What the `CLUSTER MYID` reply `myid` of a tracked read says, for a
/// listener on `node`: only a reply naming `node`, with every other reply
/// of the pipeline read, says the listener's node served it.
fn served_by(
    node: &str,
    myid: Option<&std::result::Result<Value, FredError>>,
    complete: bool,
) -> ServedBy {
    match myid.map(|reply| reply.as_ref().map(Value::as_str)) {
        Some(Ok(Some(id))) if id == node && complete => ServedBy::Listener,
        Some(Ok(Some(id))) if id != node => ServedBy::Other(id.into_owned()),
        _ => ServedBy::Unknown,
    }
}

/// Whether `pong` is the reply to `PING` of a subscribed RESP2 connection.
pub(crate) fn is_subscribed_pong(pong: &Value) -> bool {
    match pong {
        Value::Array(parts) => parts
            .first()
            .and_then(Value::as_str)
            .is_some_and(|first| first.eq_ignore_ascii_case("pong")),
        _ => false,
    }
}

/// Whether `error` says the server was not reached or did not answer,
/// rather than refused.
fn is_connection_error(error: &FredError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::IO | ErrorKind::Canceled | ErrorKind::Timeout
    )
}

/// Reports an invalidation message's payload to `tiers`: the keys changed;
/// null means `FLUSHDB` or `FLUSHALL`; anything else is a report that
/// cannot be read, so all may have changed.
fn report(tiers: &TrackedTiers, payload: &Value) {
    match payload {
        Value::Array(keys) if keys.iter().all(|key| key_bytes(key).is_some()) => {
            for key in keys.iter().filter_map(key_bytes) {
                tiers.changed(&String::from_utf8_lossy(key));
            }
        }
        Value::Null => tiers.flushed(FlushCause::StoreFlushed),
        _ => tiers.flushed(FlushCause::ReportsLost),
    }
}

/// A key of an invalidation message, as bytes.
fn key_bytes(key: &Value) -> Option<&[u8]> {
    match key {
        Value::String(key) => Some(key.as_bytes()),
        Value::Bytes(key) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use memocache_core::testing::RecordedReports;

    use super::*;

    #[test]
    fn payloads_map_to_changes_and_flushes() {
        let recorder = Arc::new(RecordedReports::default());
        let tiers = TrackedTiers::new();
        let weak: std::sync::Weak<dyn Invalidations> = Arc::downgrade(&recorder) as _;
        tiers.add(weak);
        report(
            &tiers,
            &Value::Array(vec![
                Value::from("a"),
                Value::Bytes(memocache_core::Bytes::from_static(b"b")),
            ]),
        );
        report(&tiers, &Value::Null);
        report(&tiers, &Value::Integer(1));
        report(&tiers, &Value::Array(vec![Value::Integer(1)]));
        assert_eq!(
            recorder.reports(),
            [
                "a",
                "b",
                "flushed: store flushed",
                "flushed: change reports lost",
                "flushed: change reports lost"
            ]
        );
    }

    #[test]
    fn only_the_listener_s_node_named_by_a_complete_pipeline_serves_a_read() {
        let node = "07c37dfeb235213a872192d90877d0cd55635b91";
        let reply = |id: &str| Ok(Value::from(id));
        assert_eq!(
            served_by(node, Some(&reply(node)), true),
            ServedBy::Listener
        );
        assert_eq!(
            served_by(
                node,
                Some(&Ok(Value::Bytes(node.as_bytes().to_vec().into()))),
                true
            ),
            ServedBy::Listener
        );
        assert_eq!(
            served_by(
                node,
                Some(&reply("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")),
                true
            ),
            ServedBy::Other("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca".into())
        );
        // The pipeline failed: its one reply is fred's error.
        let failed = Err(FredError::new(ErrorKind::Routing, "Too many redirections."));
        assert_eq!(served_by(node, Some(&failed), false), ServedBy::Unknown);
        assert_eq!(
            served_by(node, Some(&reply(node)), false),
            ServedBy::Unknown
        );
        assert_eq!(served_by(node, None, false), ServedBy::Unknown);
        assert_eq!(
            served_by(node, Some(&Ok(Value::Null)), true),
            ServedBy::Unknown
        );
    }
}
