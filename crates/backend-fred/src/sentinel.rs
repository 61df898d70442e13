//! A primary found through Redis Sentinel: what fred does by itself, and
//! what the store adds.
//!
//! fred's `ServerConfig::Sentinel` connects each client (the pool's, and a
//! tracked store's listener) by asking a sentinel `SENTINEL
//! get-master-addr-by-name`, connecting to the node it names with the data
//! nodes' credentials, TLS and database, and checking that its `ROLE` is
//! `master`; it asks again whenever it reconnects, so a lost connection
//! follows a failover by itself. It asks, per attempt, only the first
//! sentinel of its list that accepts a connection (the configured ones at
//! first, then the others that the last sentinel asked knows of),
//! authenticates to every sentinel with the same credentials, and reaches
//! sentinels and data nodes with the same TLS settings: [`Sentinels::new`]
//! refuses settings it could not honour.
//!
//! The store adds:
//! - at connect, [`Sentinels::located`] asks the sentinels in turn, as the
//!   redis-rs store does, for a clear error (every sentinel that answered
//!   knows no master of that name: [`Error::Config`]; else what each one
//!   answered) and puts the sentinel that named a reachable primary first in
//!   fred's list;
//! - [`Sentinels::watch`]: a subscription to `+switch-master` on every
//!   sentinel (the plumbing's watch, with its backoff, over a [`Feed`]),
//!   which forces a reconnection of the clients that are not on the
//!   announced primary;
//! - [`Followers::reconnect`], called by the store on a `READONLY` reply (a
//!   primary demoted without losing its connections).
//!
//! A forced reconnection is a reconnection like any other: with change
//! tracking it flushes the tiers, and the listener subscribes again on the
//! new primary (see [`crate::tracking`]).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::{Config, Options, Server, ServerConfig};
use fred::types::{ClusterHash, CustomCommand, Message, Value};
use memocache_core::{Error, Result};
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::sentinel::{
    self, Answer, Heard, Missing, SWITCH_MASTER, Subscribed, Switch, SwitchFeed, find_primary,
};
use memocache_redis_plumbing::tls::require_tls_support;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::AbortHandle;

use crate::connect::{self, backend_error};
use crate::tracking::is_subscribed_pong;

/// The sentinels of one master, and how to reach its data nodes.
pub(crate) struct Sentinels {
    master: String,
    /// In the order fred asks them.
    sentinels: Vec<Sentinel>,
    /// How errors name the primary: its name and the sentinels, in the
    /// configured order (never credentials).
    name: String,
    /// The sentinels' credentials (the same for every sentinel).
    username: Option<String>,
    password: Option<String>,
    /// The data nodes' credentials, TLS and database, and everyone's
    /// timeouts, keepalive and CA.
    config: RedisConfig,
}

/// One sentinel.
struct Sentinel {
    server: Server,
    /// Its URL, with its credentials: never shown.
    url: String,
}

impl Sentinels {
    /// The sentinels `config` names. Opens no connection.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings, and for settings fred cannot
    /// honour: sentinels with different credentials, or a TLS setting
    /// other than the data nodes'.
    pub(crate) fn new(config: &RedisConfig) -> Result<Self> {
        config.validate()?;
        let master = config.sentinel_master().unwrap_or_default().to_owned();
        let data_tls = config.node_url("127.0.0.1", 6379)?.starts_with("rediss://");
        let mut sentinels: Vec<Sentinel> = Vec::new();
        let mut credentials = None;
        for (i, url) in config.sentinel_urls()?.into_iter().enumerate() {
            let shown = format!("of sentinel {}", i + 1);
            require_tls_support(&url, cfg!(feature = "tls"))?;
            if url.starts_with("rediss://") != data_tls {
                let (scheme, data) = if data_tls {
                    ("redis", "on")
                } else {
                    ("rediss", "off")
                };
                return Err(Error::config(format!(
                    "fred reaches the sentinels and the data nodes with the same TLS settings, \
                     but the url {shown} is {scheme}:// while TLS is {data} for the data nodes: \
                     give every sentinel rediss:// with ssl(true), or redis:// with ssl(false) \
                     (RedisStore takes each side's own)"
                )));
            }
            let (parsed, _) = connect::url_config(config, &url, &shown)?;
            let ServerConfig::Centralized { server } = parsed.server else {
                return Err(Error::config(format!(
                    "fred cannot use the url {shown}: write it as redis://host:26379"
                )));
            };
            let theirs = (parsed.username, parsed.password);
            match &credentials {
                None => credentials = Some(theirs),
                Some(first) if *first != theirs => {
                    return Err(Error::config(format!(
                        "fred authenticates to every sentinel with the same credentials, but \
                         the sentinel {server} is given other ones than {}: give every sentinel \
                         url the same user and password (RedisStore takes each sentinel's own)",
                        sentinels[0].server
                    )));
                }
                Some(_) => {}
            }
            sentinels.push(Sentinel { server, url });
        }
        let (username, password) = credentials.unwrap_or_default();
        let listed: Vec<String> = sentinels.iter().map(|s| s.server.to_string()).collect();
        let name = connect::over_tls(
            format!(
                "the primary `{master}` of the sentinels {}",
                listed.join(", ")
            ),
            data_tls,
        );
        Ok(Sentinels {
            master,
            sentinels,
            name,
            username,
            password,
            config: config.clone(),
        })
    }

    /// fred's settings for the pool: the data nodes' credentials, TLS and
    /// database, found through these sentinels; and how errors name the
    /// primary.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for data nodes' settings fred refuses (a database
    /// over 255).
    pub(crate) fn fred_config(&self) -> Result<(Config, String)> {
        let url = self.config.node_url("127.0.0.1", 6379)?;
        let (mut fred_config, _) =
            connect::url_config(&self.config, &url, "the data nodes' settings (db(...))")?;
        fred_config.server = ServerConfig::Sentinel {
            hosts: self.sentinels.iter().map(|s| s.server.clone()).collect(),
            service_name: self.master.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
        };
        Ok((fred_config, self.name.clone()))
    }

    /// These sentinels, the first that names a reachable primary (asked
    /// in turn) put first, so that fred asks it first.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when every sentinel that answered knows no master
    /// of this name; else, when none names a reachable primary, a backend
    /// error naming the primary and saying what each sentinel answered.
    pub(crate) async fn located(mut self) -> Result<Self> {
        let first = self.locate().await?;
        self.sentinels.rotate_left(first);
        Ok(self)
    }

    /// The index of the first sentinel that names a reachable primary.
    async fn locate(&self) -> Result<usize> {
        let names: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| s.server.to_string())
            .collect();
        let found = find_primary(
            &self.master,
            &names,
            |i| self.answer(&self.sentinels[i].url),
            |host, port| async move { self.check_primary(&host, port).await },
        )
        .await;
        match found {
            Ok((first, ())) => Ok(first),
            Err(Missing::UnknownMaster(error)) => Err(error),
            Err(Missing::NoPrimary(answers)) => Err(backend_error(NoPrimary {
                server: self.name.clone(),
                answers,
            })),
        }
    }

    /// What the sentinel at `url` says of the master's address.
    async fn answer(&self, url: &str) -> Answer {
        let args = vec![
            Value::from("get-master-addr-by-name"),
            Value::from(self.master.as_str()),
        ];
        match self.ask(url, "SENTINEL", args).await {
            Err(why) => Answer::Failed(why),
            Ok(reply) => match address(&reply) {
                Some(Some((host, port))) => Answer::At { host, port },
                Some(None) => Answer::Unknown,
                None => Answer::Failed(format!("answered {reply:?}, not an address")),
            },
        }
    }

    /// Whether the data node at `host:port` answers as a primary; why not.
    async fn check_primary(&self, host: &str, port: u16) -> std::result::Result<(), String> {
        let url = self
            .config
            .node_url(host, port)
            .map_err(|e| e.report().to_string())?;
        let role = self
            .ask(&url, "ROLE", Vec::new())
            .await
            .map_err(|e| format!("which cannot be reached: {e}"))?;
        let first = match &role {
            Value::Array(fields) => fields.first().and_then(Value::as_str),
            _ => None,
        };
        if first.as_deref() == Some("master") {
            Ok(())
        } else {
            Err("which is not a primary (a failover in progress?)".to_owned())
        }
    }

    /// Sends `command args` to the server at `url`, on a connection opened
    /// for it and closed after; fred's error as text. Bounded by fred's
    /// timeouts: the connect timeout, and the socket timeout for each
    /// command (`AUTH`, `SELECT`... while connecting).
    async fn ask(
        &self,
        url: &str,
        command: &'static str,
        args: Vec<Value>,
    ) -> std::result::Result<Value, String> {
        let client = connect::own_client(&self.config, url, false, "of a sentinel's primary")
            .map_err(|e| e.report().to_string())?;
        // A first connection that fails ends the client's task.
        let connection = client.init().await.map_err(|e| connect::describe(&e))?;
        let command = CustomCommand::new_static(command, ClusterHash::FirstKey, false);
        let reply = client
            .custom(command, args)
            .await
            .map_err(|e| connect::describe(&e));
        let _ = tokio::time::timeout(self.config.settings().socket_timeout(), client.quit()).await;
        connection.abort();
        reply
    }

    /// `clients` (the pool's, and a tracked store's listener) as the
    /// followers of this primary.
    pub(crate) fn followers(&self, clients: Vec<Client>) -> Arc<Followers> {
        Followers::new(clients, &self.config)
    }

    /// Watches every sentinel for failovers of this master (inside a tokio
    /// runtime; the plumbing's [`sentinel::watch`] over a [`Feed`]): when
    /// one announces this master's new primary, `followers` not on it are
    /// reconnected; when announcements may have been missed, all are.
    /// Answers the tasks to stop.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a sentinel url fred refuses.
    pub(crate) fn watch(&self, followers: &Arc<Followers>) -> Result<Vec<AbortHandle>> {
        let options = Options {
            timeout: Some(self.config.settings().socket_timeout()),
            ..Options::default()
        };
        let mut tasks = Vec::with_capacity(2 * self.sentinels.len());
        for sentinel in &self.sentinels {
            let client = connect::own_client(&self.config, &sentinel.url, true, "of a sentinel")?;
            let feed = Feed {
                errors: client.error_rx(),
                reconnects: client.reconnect_rx(),
                messages: client.message_rx(),
                client: client.clone(),
                options: options.clone(),
            };
            let (master, followers) = (self.master.clone(), Arc::clone(followers));
            let watching = async move {
                sentinel::watch(feed, &master, |switch| match switch {
                    Switch::To { host, port } => {
                        followers.reconnect(Some(&Server::new(host, port)));
                    }
                    Switch::Unknown => followers.reconnect(None),
                })
                .await;
            };
            tasks.push(tokio::spawn(watching).abort_handle());
            tasks.push(client.connect().abort_handle());
        }
        Ok(tasks)
    }
}

/// The address in a `SENTINEL get-master-addr-by-name` reply: `Some(None)`
/// for a master the sentinel does not know, `None` for a reply that is
/// not an address.
fn address(reply: &Value) -> Option<Option<(String, u16)>> {
    match reply {
        Value::Null => Some(None),
        Value::Array(fields) => match fields.as_slice() {
            [host, port] => {
                let host = host.as_str()?.into_owned();
                let port = port.as_str()?.parse().ok()?;
                Some(Some((host, port)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The clients that must be on the primary: the pool's, and a tracked
/// store's listener.
pub(crate) struct Followers {
    followers: Vec<Follower>,
    /// How long a forced reconnection is waited for.
    limit: Duration,
}

/// A client, and whether a reconnection forced on it is under way.
struct Follower {
    client: Client,
    forcing: Arc<Mutex<Forcing>>,
}

/// Whether a reconnection forced on a client is under way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Forcing {
    Idle,
    Running,
    /// Under way, and asked for again meanwhile: the sentinel it asked may
    /// not have known the new primary yet.
    Again,
}

impl Followers {
    /// `clients`, whose reconnections are waited for as long as `config`
    /// lets two connections be opened.
    fn new(clients: Vec<Client>, config: &RedisConfig) -> Arc<Self> {
        Arc::new(Followers {
            followers: clients
                .into_iter()
                .map(|client| Follower {
                    client,
                    forcing: Arc::new(Mutex::new(Forcing::Idle)),
                })
                .collect(),
            limit: 2 * (config.settings().connect_timeout() + config.settings().socket_timeout()),
        })
    }

    /// Forces a reconnection, in the background (inside a tokio runtime),
    /// of each client connected elsewhere than to `primary` (anywhere,
    /// when `None`): fred then asks the sentinels for the primary again.
    /// A client already being reconnected so is reconnected once more
    /// afterwards; one that is not connected is left alone: it is asking
    /// the sentinels already.
    pub(crate) fn reconnect(&self, primary: Option<&Server>) {
        for follower in &self.followers {
            let client = &follower.client;
            if !client.is_connected()
                || primary.is_some_and(|primary| client.active_connections().contains(primary))
            {
                continue;
            }
            {
                let mut forcing = lock(&follower.forcing);
                match *forcing {
                    Forcing::Idle => *forcing = Forcing::Running,
                    Forcing::Running | Forcing::Again => {
                        *forcing = Forcing::Again;
                        continue;
                    }
                }
            }
            let (client, forcing, limit) =
                (client.clone(), Arc::clone(&follower.forcing), self.limit);
            tokio::spawn(async move {
                loop {
                    // On failure fred keeps reconnecting by itself.
                    let _ = tokio::time::timeout(limit, client.force_reconnection()).await;
                    let mut forcing = lock(&forcing);
                    if *forcing == Forcing::Again {
                        *forcing = Forcing::Running;
                    } else {
                        *forcing = Forcing::Idle;
                        break;
                    }
                }
            });
        }
    }
}

fn lock(forcing: &Mutex<Forcing>) -> MutexGuard<'_, Forcing> {
    forcing.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One sentinel's `+switch-master` channel, on a client of its own that
/// fred reconnects by itself; its events are subscribed to before it
/// connects.
struct Feed {
    client: Client,
    /// The subscription's commands: bounded by the socket timeout.
    options: Options,
    errors: Receiver<(fred::error::Error, Option<Server>)>,
    reconnects: Receiver<Server>,
    messages: Receiver<Message>,
}

impl SwitchFeed for Feed {
    /// `SUBSCRIBE +switch-master` once the client is connected (fred
    /// reconnects by itself: this waits for it); whether it took (fred
    /// drops its reply: a subscribed RESP2 connection answers `PING` with
    /// `["pong", ""]`).
    async fn subscribe(&mut self) -> Subscribed {
        // Events from before this subscription are over.
        while !matches!(
            self.errors.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
        while !matches!(
            self.reconnects.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
        if !self.client.is_connected()
            && matches!(self.reconnects.recv().await, Err(RecvError::Closed))
        {
            return Subscribed::Closed;
        }
        let client = self.client.with_options(&self.options);
        let took = client.subscribe(SWITCH_MASTER).await.is_ok()
            && client
                .ping::<Value>(None)
                .await
                .is_ok_and(|pong| is_subscribed_pong(&pong));
        if took {
            Subscribed::Yes
        } else {
            Subscribed::No
        }
    }

    /// An announcement; a lost or new connection (not subscribed);
    /// dropped messages.
    async fn next(&mut self) -> Heard {
        loop {
            tokio::select! {
                biased;
                lost = self.errors.recv() => {
                    return match lost {
                        Err(RecvError::Closed) => Heard::Closed,
                        _ => Heard::Lost,
                    };
                }
                connected = self.reconnects.recv() => {
                    return match connected {
                        Err(RecvError::Closed) => Heard::Closed,
                        _ => Heard::Lost,
                    };
                }
                message = self.messages.recv() => match message {
                    Ok(message) => {
                        if &*message.channel == SWITCH_MASTER
                            && let Some(payload) = message.value.as_str()
                        {
                            return Heard::Announcement(payload.into_owned());
                        }
                    }
                    Err(RecvError::Lagged(_)) => return Heard::Missed,
                    Err(RecvError::Closed) => return Heard::Closed,
                },
            }
        }
    }
}

/// No sentinel named a reachable primary: names the primary; what each
/// sentinel answered is the source.
#[derive(Debug)]
struct NoPrimary {
    server: String,
    answers: memocache_redis_plumbing::sentinel::NoPrimary,
}

impl fmt::Display for NoPrimary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.server)
    }
}

impl std::error::Error for NoPrimary {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_address_reply_is_read() {
        let reply = Value::Array(vec![Value::from("10.0.0.5"), Value::from("6380")]);
        assert_eq!(address(&reply), Some(Some(("10.0.0.5".to_owned(), 6380))));
        assert_eq!(address(&Value::Null), Some(None));
        assert_eq!(address(&Value::from("OK")), None);
        let bad_port = Value::Array(vec![Value::from("h"), Value::from("x")]);
        assert_eq!(address(&bad_port), None);
    }

    #[test]
    fn settings_fred_cannot_honour_are_refused_without_a_password() {
        let mixed = RedisConfig::new().sentinel(
            "cache",
            [
                "redis://:s3cret@10.0.0.1:26379",
                "redis://:0th3r@10.0.0.2:26379",
            ],
        );
        let Err(error) = Sentinels::new(&mixed) else {
            panic!("took sentinels with different passwords")
        };
        let message = error.report().to_string();
        assert!(matches!(error, Error::Config(_)), "{message}");
        assert!(message.contains("same credentials"), "{message}");
        assert!(
            !message.contains("s3cret") && !message.contains("0th3r"),
            "{message}"
        );

        let tls_sentinel = RedisConfig::new().sentinel("cache", ["rediss://10.0.0.1:26379"]);
        let Err(error) = Sentinels::new(&tls_sentinel) else {
            panic!("took a TLS sentinel for data nodes without TLS")
        };
        let message = error.report().to_string();
        assert!(matches!(error, Error::Config(_)), "{message}");
        assert!(message.contains("same TLS"), "{message}");
    }

    #[test]
    fn the_sentinels_own_credentials_go_to_fred_the_data_nodes_to_the_nodes() {
        let config = RedisConfig::new()
            .sentinel(
                "cache",
                [
                    "redis://watch:s%40nt@10.0.0.1:26379",
                    "redis://watch:s%40nt@10.0.0.2:26380",
                ],
            )
            .username("app")
            .password("d@ta")
            .db(3);
        let sentinels = Sentinels::new(&config).unwrap();
        let (fred_config, name) = sentinels.fred_config().unwrap();
        assert_eq!(
            name,
            "the primary `cache` of the sentinels 10.0.0.1:26379, 10.0.0.2:26380"
        );
        assert_eq!(fred_config.username.as_deref(), Some("app"));
        assert_eq!(fred_config.password.as_deref(), Some("d@ta"));
        assert_eq!(fred_config.database, Some(3));
        let ServerConfig::Sentinel {
            hosts,
            service_name,
            username,
            password,
        } = fred_config.server
        else {
            panic!("not a Sentinel configuration")
        };
        assert_eq!(
            hosts,
            [
                Server::new("10.0.0.1", 26379),
                Server::new("10.0.0.2", 26380)
            ]
        );
        assert_eq!(service_name, "cache");
        assert_eq!(username.as_deref(), Some("watch"));
        assert_eq!(password.as_deref(), Some("s@nt"));
    }
}
