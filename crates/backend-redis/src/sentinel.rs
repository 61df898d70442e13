//! Finding the primary through Redis Sentinel, and hearing when it fails
//! over.
//!
//! [`Sentinels::primary`] asks each sentinel in turn for the master's
//! address (`SENTINEL get-master-addr-by-name`) and opens the connection
//! there, which serves only once `ROLE` says it is a primary: a sentinel
//! that has not seen the failover yet names the old one. The store's
//! [`OwnConnection`](crate::own::OwnConnection) calls it for each new
//! connection. [`Sentinels::watch`] keeps a subscription to
//! `+switch-master` on every sentinel, re-established when a sentinel
//! goes away, so that a failover is acted on when it is announced rather
//! than when the old primary's connection fails.

use std::time::Duration;

use memocache_core::Result;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::sentinel::{Answer, Missing, find_primary, switched_master};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, PushKind, RedisResult, Value};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::connect;

/// The channel on which sentinels announce a new primary.
const SWITCH_MASTER: &str = "+switch-master";

/// How long a watcher waits before subscribing again to a sentinel it
/// could not reach or lost.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// The sentinels of one master, and how to reach its data nodes.
pub(crate) struct Sentinels {
    master: String,
    /// Each sentinel's client, and its name for errors (no credentials).
    sentinels: Vec<(String, Client)>,
    /// The data nodes' credentials, TLS and database.
    config: RedisConfig,
    /// The protocol data connections speak (RESP3 for change tracking).
    protocol: Option<ProtocolVersion>,
    /// The timeouts of the connections to the sentinels.
    timeouts: AsyncConnectionConfig,
}

impl Sentinels {
    /// The sentinels `config` names; data connections will speak
    /// `protocol`. Opens no connection.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings.
    pub(crate) fn new(config: &RedisConfig, protocol: Option<ProtocolVersion>) -> Result<Self> {
        config.validate()?;
        let master = config.sentinel_master().unwrap_or_default().to_owned();
        let sentinels = config
            .sentinel_urls()?
            .iter()
            .map(|url| {
                let client = connect::sentinel_client(config, url)?;
                Ok((connect::server_name(&client), client))
            })
            .collect::<Result<Vec<_>>>()?;
        let timeouts = AsyncConnectionConfig::new()
            .set_response_timeout(Some(config.settings().socket_timeout()))
            .set_connection_timeout(Some(config.settings().connect_timeout()));
        Ok(Sentinels {
            master,
            sentinels,
            config: config.clone(),
            protocol,
            timeouts,
        })
    }

    /// How errors name the primary: `the primary "cache" of the sentinels
    /// host:port, host:port`.
    pub(crate) fn name(&self) -> String {
        let sentinels: Vec<&str> = self
            .sentinels
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        format!(
            "the primary `{}` of the sentinels {}",
            self.master,
            sentinels.join(", ")
        )
    }

    /// A connection (with `config`) to the primary, as the first sentinel
    /// that answers names it, checked to be a primary.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) when every sentinel that answered knows no master
    /// of this name; else a backend error naming the primary and saying
    /// what each sentinel answered.
    pub(crate) async fn primary(
        &self,
        config: &AsyncConnectionConfig,
    ) -> Result<(Client, MultiplexedConnection)> {
        let names: Vec<String> = self
            .sentinels
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let found = find_primary(
            &self.master,
            &names,
            |i| self.ask(&self.sentinels[i].1),
            |host, port| async move { self.open_primary(&host, port, config).await },
        )
        .await;
        match found {
            Ok((_, primary)) => Ok(primary),
            Err(Missing::UnknownMaster(error)) => Err(error),
            Err(Missing::NoPrimary(answers)) => {
                Err(connect::unreachable_server(self.name(), answers))
            }
        }
    }

    /// What `sentinel` says of the master's address.
    async fn ask(&self, sentinel: &Client) -> Answer {
        let asked: RedisResult<Option<(String, u16)>> = async {
            let mut connection = sentinel
                .get_multiplexed_async_connection_with_config(&self.timeouts)
                .await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&self.master)
                .query_async(&mut connection)
                .await
        }
        .await;
        match asked {
            Ok(Some((host, port))) => Answer::At { host, port },
            Ok(None) => Answer::Unknown,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }

    /// A client for `host:port` and a connection to it, if it is a
    /// primary; else why not.
    async fn open_primary(
        &self,
        host: &str,
        port: u16,
        config: &AsyncConnectionConfig,
    ) -> std::result::Result<(Client, MultiplexedConnection), String> {
        let client = connect::node_client(&self.config, host, port, self.protocol)
            .map_err(|e| e.report().to_string())?;
        let mut connection = client
            .get_multiplexed_async_connection_with_config(config)
            .await
            .map_err(|e| format!("which cannot be reached: {e}"))?;
        let role: Value = redis::cmd("ROLE")
            .query_async(&mut connection)
            .await
            .map_err(|e| format!("which does not say its role: {e}"))?;
        match role {
            Value::Array(fields) if fields.first().is_some_and(|f| is_text(f, "master")) => {
                Ok((client, connection))
            }
            _ => Err("which is not a primary (a failover in progress?)".to_owned()),
        }
    }

    /// The timeouts of connections to the sentinels, which suit a first
    /// connection to the primary too.
    pub(crate) fn timeouts(&self) -> &AsyncConnectionConfig {
        &self.timeouts
    }

    /// Listens for `+switch-master` of this master on every sentinel, and
    /// calls `switched` with the new primary's host and port on each (every
    /// sentinel announces it); the tasks run until aborted.
    pub(crate) fn watch(
        &self,
        switched: impl Fn(&str, u16) + Clone + Send + Sync + 'static,
    ) -> Vec<AbortHandle> {
        self.sentinels
            .iter()
            .map(|(_, sentinel)| {
                let watcher = Watcher {
                    sentinel: sentinel.clone(),
                    master: self.master.clone(),
                    timeouts: self.timeouts.clone(),
                };
                tokio::spawn(watcher.run(switched.clone())).abort_handle()
            })
            .collect()
    }
}

/// The subscription to one sentinel's `+switch-master`.
struct Watcher {
    sentinel: Client,
    master: String,
    timeouts: AsyncConnectionConfig,
}

impl Watcher {
    /// Subscribes, calls `switched` on each announcement of this master,
    /// and subscribes again whenever the sentinel is lost.
    async fn run(self, switched: impl Fn(&str, u16)) {
        loop {
            let (pushes, mut received) = mpsc::unbounded_channel();
            let config = self.timeouts.clone().set_push_sender(pushes);
            if let Ok(mut connection) = self
                .sentinel
                .get_multiplexed_async_connection_with_config(&config)
                .await
                && connection.subscribe(SWITCH_MASTER).await.is_ok()
            {
                while let Some(push) = received.recv().await {
                    match push.kind {
                        PushKind::Message => {
                            if let Some((host, port)) = self.new_primary(&push.data) {
                                switched(&host, port);
                            }
                        }
                        PushKind::Disconnection => break,
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    /// The new primary a `+switch-master` message (`[channel, "name old-ip
    /// old-port new-ip new-port"]`) announces, if it is about this master.
    fn new_primary(&self, data: &[Value]) -> Option<(String, u16)> {
        let Some(Value::BulkString(payload)) = data.get(1) else {
            return None;
        };
        let (name, host, port) = switched_master(std::str::from_utf8(payload).ok()?)?;
        (name == self.master).then(|| (host.to_owned(), port))
    }
}

/// Whether `value` is the text `expected`.
fn is_text(value: &Value, expected: &str) -> bool {
    match value {
        Value::BulkString(bytes) => bytes == expected.as_bytes(),
        Value::SimpleString(text) => text == expected,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watcher(master: &str) -> Watcher {
        Watcher {
            sentinel: Client::open("redis://127.0.0.1:1").unwrap(),
            master: master.to_owned(),
            timeouts: AsyncConnectionConfig::new(),
        }
    }

    fn message(payload: &str) -> Vec<Value> {
        vec![
            Value::BulkString(SWITCH_MASTER.into()),
            Value::BulkString(payload.into()),
        ]
    }

    #[test]
    fn only_this_masters_switch_is_acted_on() {
        let watcher = watcher("cache");
        assert_eq!(
            watcher.new_primary(&message("cache 10.0.0.1 6379 10.0.0.2 6380")),
            Some(("10.0.0.2".to_owned(), 6380))
        );
        // Another master of the same sentinels, and one whose name starts
        // like this one's.
        assert_eq!(
            watcher.new_primary(&message("other 10.0.0.1 6379 10.0.0.2 6379")),
            None
        );
        assert_eq!(
            watcher.new_primary(&message("cache2 10.0.0.1 6379 10.0.0.2 6379")),
            None
        );
        assert_eq!(watcher.new_primary(&[Value::Nil]), None);
    }
}
