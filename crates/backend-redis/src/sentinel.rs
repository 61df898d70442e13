//! Finding the primary through Redis Sentinel, and hearing when it fails
//! over.
//!
//! [`Sentinels::primary`] asks each sentinel in turn for the master's
//! address (`SENTINEL get-master-addr-by-name`) and opens the connection
//! there, which serves only once `ROLE` says it is a primary: a sentinel
//! that has not seen the failover yet names the old one. The store's
//! [`OwnConnection`](crate::own::OwnConnection) calls it for each new
//! connection. [`Sentinels::watch`] keeps a subscription to
//! `+switch-master` on every sentinel (the plumbing's watch, with its
//! backoff, over a [`Feed`]), so that a failover is acted on when it is
//! announced rather than when the old primary's connection fails.

use memocache_core::Result;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::sentinel::{
    self, Answer, Heard, Missing, SWITCH_MASTER, Subscribed, Switch, SwitchFeed, find_primary,
};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::connect;

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

    /// Watches every sentinel for failovers of this master
    /// ([`sentinel::watch`]), calling `switched` on each (every sentinel
    /// announces it); the tasks run until aborted.
    pub(crate) fn watch(
        &self,
        switched: impl Fn(Switch<'_>) + Clone + Send + Sync + 'static,
    ) -> Vec<AbortHandle> {
        self.sentinels
            .iter()
            .map(|(_, sentinel)| {
                let feed = Feed {
                    sentinel: sentinel.clone(),
                    timeouts: self.timeouts.clone(),
                    subscription: None,
                };
                let (master, switched) = (self.master.clone(), switched.clone());
                tokio::spawn(async move { sentinel::watch(feed, &master, switched).await })
                    .abort_handle()
            })
            .collect()
    }
}

/// One sentinel's `+switch-master` channel, on a RESP3 connection whose
/// pushes come through a channel.
struct Feed {
    sentinel: Client,
    timeouts: AsyncConnectionConfig,
    /// The subscribed connection (kept open) and its pushes.
    subscription: Option<(MultiplexedConnection, mpsc::UnboundedReceiver<PushInfo>)>,
}

impl SwitchFeed for Feed {
    async fn subscribe(&mut self) -> Subscribed {
        self.subscription = None;
        let (pushes, received) = mpsc::unbounded_channel();
        let config = self.timeouts.clone().set_push_sender(pushes);
        let Ok(mut connection) = self
            .sentinel
            .get_multiplexed_async_connection_with_config(&config)
            .await
        else {
            return Subscribed::No;
        };
        if connection.subscribe(SWITCH_MASTER).await.is_err() {
            return Subscribed::No;
        }
        self.subscription = Some((connection, received));
        Subscribed::Yes
    }

    async fn next(&mut self) -> Heard {
        let Some((_, received)) = &mut self.subscription else {
            return Heard::Lost;
        };
        loop {
            let Some(push) = received.recv().await else {
                return Heard::Lost;
            };
            match push.kind {
                PushKind::Message => {
                    if let Some(payload) = announcement(&push.data) {
                        return Heard::Announcement(payload);
                    }
                }
                PushKind::Disconnection => return Heard::Lost,
                _ => {}
            }
        }
    }
}

/// The payload of a message push (`[channel, payload]`) on
/// `+switch-master`.
fn announcement(data: &[Value]) -> Option<String> {
    match data {
        [channel, Value::BulkString(payload)] if is_text(channel, SWITCH_MASTER) => {
            String::from_utf8(payload.clone()).ok()
        }
        _ => None,
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

    fn message(channel: &str, payload: &str) -> Vec<Value> {
        vec![
            Value::BulkString(channel.into()),
            Value::BulkString(payload.into()),
        ]
    }

    #[test]
    fn only_switch_master_messages_are_announcements() {
        let payload = "cache 10.0.0.1 6379 10.0.0.2 6380";
        assert_eq!(
            announcement(&message(SWITCH_MASTER, payload)).as_deref(),
            Some(payload)
        );
        assert_eq!(announcement(&message("+sdown", payload)), None);
        assert_eq!(announcement(&[Value::Nil]), None);
    }
}
