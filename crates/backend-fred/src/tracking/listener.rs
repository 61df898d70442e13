//! A listener connection and its task: a fred client of the store's own,
//! in RESP2 ([`Template`]: the settings of the pool's first client),
//! subscribed to `__redis__:invalidate`, which reports the invalidations
//! it receives to the tiers. Each subscribed connection is a
//! [`Generation`], named by its client id (and, on a cluster, by the id of
//! the node it is on); a lost connection ends it and flushes the tiers.
//! Why a listener could not subscribe is a [`SetupError`].

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::{
    Config, ConnectionConfig, Options, PerformanceConfig, ReconnectPolicy, Server, ServerConfig,
};
use fred::types::{ClusterHash, CustomCommand, Message, RespVersion, Value};
use memocache_core::{FlushCause, Invalidations, Result};
use memocache_redis_plumbing::refusal::Tracked;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::wire::{client_command, is_connection_error, is_refusal, is_subscribed_pong, report};
use crate::connect::{backend_error, unreachable};

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

/// One listener connection to one server, and its generations.
pub(super) struct Listener {
    tracked: Arc<Tracked>,
    state: watch::Sender<Listening>,
    /// `host:port` (never credentials), for errors.
    pub(super) server: Arc<str>,
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
pub(super) struct Generation {
    /// The connection's client id.
    pub(super) id: i64,
    /// The id of the cluster node it is on (`CLUSTER MYID`); `None` on a
    /// single node.
    pub(super) node: Option<Arc<str>>,
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

/// What a listener client is built from: the settings of the pool's first
/// client (credentials, TLS, timeouts, reconnection policy), in RESP2.
pub(super) struct Template {
    config: Config,
    performance: PerformanceConfig,
    connection: ConnectionConfig,
    policy: Option<ReconnectPolicy>,
    /// The listener's own commands: bounded by the socket timeout, and
    /// queued until its connection is up.
    pub(super) options: Options,
}

impl Template {
    /// The settings of `first`, a client of the store's pool.
    pub(super) fn new(first: &Client, timeout: Duration) -> Self {
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
    pub(super) fn client(&self, node: Option<&Server>) -> Client {
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
    pub(super) fn name(&self, node: &Server) -> Arc<str> {
        if self.config.uses_tls() {
            format!("{node} over TLS").into()
        } else {
            node.to_string().into()
        }
    }
}

impl Listener {
    /// A listener of `server`, down until its task subscribes it.
    pub(super) fn new(tracked: Arc<Tracked>, server: Arc<str>, clustered: bool) -> Self {
        Listener {
            tracked,
            state: watch::Sender::new(Listening::Down),
            server,
            clustered,
        }
    }

    /// Starts the task that runs this listener on `client` (not connected
    /// yet: its events are subscribed to first).
    pub(super) fn spawn(self: &Arc<Self>, client: &Client, options: &Options) -> JoinHandle<()> {
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
    pub(super) fn generation(&self) -> Result<Generation> {
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
    pub(super) fn same_node(&self, generation: &Generation, pool: &Pool) -> Result<()> {
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
    pub(super) async fn wait_listening(&self, limit: Duration) -> Result<()> {
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
                Err(unreachable(self.server.to_string(), failed.source.clone()))
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
    pub(super) fn refuse(&self, error: &dyn std::fmt::Display) {
        self.tracked.refuse(&self.server, error);
    }

    /// A pool connection's first `CLIENT TRACKING` (or `CLUSTER MYID`) to
    /// this listener's server failed with `error`: a refusal is
    /// [refused](Self::refuse).
    ///
    /// # Errors
    ///
    /// Any other error: naming the server when it cannot be reached.
    pub(super) fn refuse_or_fail(&self, error: FredError) -> Result<()> {
        if is_refusal(&error) {
            self.refuse(&error);
            return Ok(());
        }
        if is_connection_error(&error) {
            return Err(unreachable(self.server.to_string(), error));
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
    pub(super) fn end(&self) {
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
