//! Change tracking for [`FredStore`](crate::FredStore) on a single node:
//! the pool's connections redirect
//! their invalidations (`CLIENT TRACKING ON REDIRECT <id> NOLOOP`, sent
//! with every read that may fill a tier) to a listener connection of the
//! store's own, in RESP2, subscribed to `__redis__:invalidate`.
//!
//! Not RESP3 pushes: fred drops the null invalidation push of a
//! `FLUSHDB`/`FLUSHALL`, and without its `i-tracking` feature would take a
//! push for a reply. On the RESP2 pub/sub channel fred hands every
//! invalidation over as a plain message, a flush included.
//!
//! Each subscribed listener connection is a *generation*, named by its
//! client id. A read redirects to the live generation's id, and fails when
//! none is live. When the listener's connection is lost the generation
//! ends and the tiers are flushed (the reads under way have their tickets
//! withdrawn); when a pool connection is lost, the keys it tracked are no
//! longer reported, so the tiers are flushed too.

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand, Message, RespVersion, Value};
use memocache_core::{Error, FlushCause, Invalidations, Result, TrackedTiers};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::connect::{ConnectError, backend_error};

/// The channel invalidations are published on, in RESP2.
const INVALIDATE: &str = "__redis__:invalidate";

/// How many events (invalidation messages above all) the listener's
/// channels hold before its task falls behind and flushes; fred's default
/// is 32.
const CHANNEL_CAPACITY: usize = 4096;

/// How long the listener stays unsubscribed on a connection fred says is
/// up (subscribing failed: a refusal, a timeout) before it forces a new
/// connection and tries again.
const RETRY: Duration = Duration::from_secs(1);

/// What a store with [`RedisConfig::client_tracking`] shares between its
/// clones, its reads and the listener's task.
///
/// [`RedisConfig::client_tracking`]: memocache_core::RedisConfig::client_tracking
pub(crate) struct Tracking {
    tiers: TrackedTiers,
    state: watch::Sender<Listening>,
    /// `host:port` (never credentials), for errors.
    server: Arc<str>,
}

/// The listener's state.
#[derive(Clone, Debug)]
enum Listening {
    /// Not subscribed: connecting, or its connection was lost.
    Down,
    /// Subscribed: the generation of the listener connection with this
    /// client id.
    Live(i64),
    /// Subscribing failed on a connection that stayed up; tried again
    /// every [`RETRY`].
    Failed(Arc<SetupError>),
}

/// Why the listener could not subscribe.
#[derive(Debug)]
struct SetupError {
    /// The command that failed.
    step: &'static str,
    source: FredError,
}

/// A listener not connected yet, and the tasks that already run for it.
pub(crate) struct Started {
    /// The shared state, for the store.
    pub(crate) tracking: Arc<Tracking>,
    /// The listener's client: connect it (`init` or `connect`); its events
    /// are already listened to.
    pub(crate) listener: Client,
    /// The tasks started: the listener's, and one per pool client watching
    /// its connection.
    pub(crate) tasks: Vec<AbortHandle>,
}

impl Tracking {
    /// Builds the listener (a RESP2 client with the settings of `pool`'s
    /// first client) and starts the tasks that report its invalidations,
    /// and the losses of its and the pool's connections, to the tiers.
    /// Connects nothing; call it before the pool connects, so that no
    /// connection event is missed. Must run inside a tokio runtime.
    pub(crate) fn start(pool: &Pool, server: Arc<str>, timeout: Duration) -> Result<Started> {
        let first = pool
            .clients()
            .first()
            .ok_or_else(|| Error::config("fred built a pool without clients"))?;
        let mut config = first.client_config();
        config.version = RespVersion::RESP2;
        let mut performance = first.perf_config();
        performance.broadcast_channel_capacity = CHANNEL_CAPACITY;
        let listener = Client::new(
            config,
            Some(performance),
            Some(first.connection_config().clone()),
            first.client_reconnect_policy(),
        );
        let tracking = Arc::new(Tracking {
            tiers: TrackedTiers::new(),
            state: watch::Sender::new(Listening::Down),
            server,
        });
        let mut tasks: Vec<AbortHandle> = pool
            .clients()
            .iter()
            .map(|client| watch_connection(client, tracking.tiers.clone()).abort_handle())
            .collect();
        let events = Events {
            errors: listener.error_rx(),
            reconnects: listener.reconnect_rx(),
            messages: listener.message_rx(),
        };
        // Queued until the connection is up, and bounded by the timeout.
        let options = Options {
            timeout: Some(timeout),
            ..Options::default()
        };
        let task = tokio::spawn(Arc::clone(&tracking).listen(listener.clone(), events, options));
        tasks.push(task.abort_handle());
        Ok(Started {
            tracking,
            listener,
            tasks,
        })
    }

    /// The tiers this store reports to.
    pub(crate) fn tiers(&self) -> &TrackedTiers {
        &self.tiers
    }

    /// The client id reads redirect their invalidations to: the live
    /// generation's.
    ///
    /// # Errors
    ///
    /// A backend error while no listener is subscribed: the read must not
    /// be kept by a tier untracked.
    pub(crate) fn redirect(&self) -> Result<i64> {
        match &*self.state.borrow() {
            Listening::Live(id) => Ok(*id),
            Listening::Down => Err(backend_error(format!(
                "the invalidation listener is not subscribed on {} (reconnecting in the \
                 background)",
                self.server
            ))),
            Listening::Failed(failed) => Err(backend_error(format!(
                "the invalidation listener is not subscribed on {} (trying again in the \
                 background; last error: {} failed: {})",
                self.server, failed.step, failed.source
            ))),
        }
    }

    /// Waits, for at most `limit`, until the listener is subscribed, and
    /// answers the id to redirect to.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the server refuses what the listener needs;
    /// a backend error naming the server when it cannot be reached or the
    /// wait is over.
    pub(crate) async fn wait_listening(&self, limit: Duration) -> Result<i64> {
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
            Listening::Live(id) => Ok(id),
            Listening::Failed(failed) if is_connection_error(&failed.source) => {
                Err(backend_error(ConnectError {
                    server: self.server.to_string(),
                    source: failed.source.clone(),
                }))
            }
            Listening::Failed(failed) => Err(Error::config_with_source(
                format!(
                    "{} refused client tracking: the invalidation listener's {} failed; an ACL \
                     user needs the client|id command and the {INVALIDATE} channel \
                     (&{INVALIDATE}); or turn RedisConfig::client_tracking off",
                    self.server, failed.step
                ),
                failed.source.clone(),
            )),
            Listening::Down => Err(backend_error("the invalidation listener is down")),
        }
    }

    /// The error of a first `CLIENT TRACKING` that failed: the server
    /// cannot be reached, or it refuses tracking.
    pub(crate) fn refused(&self, error: FredError) -> Error {
        if is_connection_error(&error) {
            return backend_error(ConnectError {
                server: self.server.to_string(),
                source: error,
            });
        }
        Error::config_with_source(
            format!(
                "{} refused client tracking (CLIENT TRACKING ON REDIRECT): it needs Redis 6 or \
                 later and, for an ACL user, the client|tracking command; or turn \
                 RedisConfig::client_tracking off",
                self.server
            ),
            error,
        )
    }

    /// The listener's task: reports invalidations; on each new connection
    /// subscribes and starts a generation, and ends it (flushing the
    /// tiers) when the connection is lost. Connection events come first,
    /// so that a generation ends before later messages are read. Whenever
    /// no generation is live for [`RETRY`] after the last connection event
    /// while fred says the connection is up (subscribing failed, or an
    /// error outlived its connection), a new connection is forced.
    async fn listen(self: Arc<Self>, listener: Client, mut events: Events, options: Options) {
        let retry = tokio::time::sleep(RETRY);
        tokio::pin!(retry);
        loop {
            let live = matches!(*self.state.borrow(), Listening::Live(_));
            tokio::select! {
                biased;
                lost = events.errors.recv() => {
                    if matches!(lost, Err(RecvError::Closed)) {
                        break;
                    }
                    self.end();
                }
                connected = events.reconnects.recv() => {
                    if matches!(connected, Err(RecvError::Closed)) {
                        break;
                    }
                    self.end();
                    self.subscribe(&listener, &options, &events).await;
                }
                message = events.messages.recv() => {
                    match message {
                        Ok(message) => self.receive(&message),
                        Err(RecvError::Lagged(_)) => self.tiers.flushed(FlushCause::ReportsLost),
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

    /// On a new listener connection: its id, then `SUBSCRIBE` (after which
    /// a RESP2 connection takes no other command); the generation starts
    /// unless the connection changed meanwhile (then the next event says
    /// so, and this runs again).
    async fn subscribe(&self, listener: &Client, options: &Options, events: &Events) {
        let client = listener.with_options(options);
        let id = async {
            let id: i64 = client
                .custom(client_command(), vec!["ID"])
                .await
                .map_err(|source| SetupError {
                    step: "CLIENT ID",
                    source,
                })?;
            let refused = |source| SetupError {
                step: "SUBSCRIBE",
                source,
            };
            client.subscribe(INVALIDATE).await.map_err(refused)?;
            // fred answers SUBSCRIBE once it is written, and drops its
            // reply; a PING says whether it took: a subscribed RESP2
            // connection answers ["pong", ""], and a refused SUBSCRIBE's
            // error comes before (taken by fred as the PING's reply).
            let pong: Value = client.ping(None).await.map_err(refused)?;
            if !is_subscribed_pong(&pong) {
                return Err(refused(FredError::new(
                    ErrorKind::Unknown,
                    format!("SUBSCRIBE {INVALIDATE} did not take: PING answered {pong:?}"),
                )));
            }
            Ok::<_, SetupError>(id)
        }
        .await;
        if !(events.errors.is_empty() && events.reconnects.is_empty()) {
            return;
        }
        match id {
            Ok(id) => {
                self.state.send_replace(Listening::Live(id));
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
            self.tiers.flushed(FlushCause::ConnectionLost);
        }
    }

    /// Reports an invalidation message.
    fn receive(&self, message: &Message) {
        if &*message.channel == INVALIDATE {
            report(&self.tiers, &message.value);
        }
    }
}

/// The listener client's events, subscribed to before it connects.
struct Events {
    errors: Receiver<(FredError, Option<fred::types::config::Server>)>,
    reconnects: Receiver<fred::types::config::Server>,
    messages: Receiver<Message>,
}

/// Flushes `tiers` whenever `client`'s connection is lost or replaced:
/// the keys read on a connection are tracked for that connection only, so
/// their changes go unreported once it is gone. (The failed attempts of a
/// reconnection, with no connection to lose, flush nothing.)
fn watch_connection(client: &Client, tiers: TrackedTiers) -> tokio::task::JoinHandle<()> {
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

/// Whether `pong` is the reply to `PING` of a subscribed RESP2 connection.
fn is_subscribed_pong(pong: &Value) -> bool {
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
    use std::sync::Mutex;

    use super::*;

    /// Records what it is told.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Invalidations for Recorder {
        fn changed(&self, key: &str) {
            self.0.lock().unwrap().push(key.to_owned());
        }

        fn flushed(&self, cause: FlushCause) {
            self.0.lock().unwrap().push(format!("flushed: {cause}"));
        }
    }

    #[test]
    fn payloads_map_to_changes_and_flushes() {
        let recorder = Arc::new(Recorder::default());
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
            *recorder.0.lock().unwrap(),
            [
                "a",
                "b",
                "flushed: store flushed",
                "flushed: change reports lost",
                "flushed: change reports lost"
            ]
        );
    }
}
