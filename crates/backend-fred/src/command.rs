//! Sending the store's commands: [`FredStore::run`] (with the store's
//! options, once more after a cluster node's redirection, once more after
//! a timeout if retries are on), the `GET` and `PTTL` of a read that may
//! fill a tier ([`FredStore::get_with_pttl`]: tracked, on a cluster pinned
//! to the primary serving the key), a lock's script ([`FredStore::eval`]),
//! the report of the store's own changes
//! to its tiers ([`FredStore::changing`]), and what a failed command's
//! error is (a redirection, a `READONLY` reply, a timeout, no connection
//! up, with the last connection error [`record_errors`] kept). Plus the
//! pieces of a command that are plain data: the options every command is
//! sent with, the `SET` expiry.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::clients::{Client, Pipeline, Pool, WithOptions};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface, KeysInterface};
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand, Expiration, Value};
use memocache_core::{Bytes, Error, Invalidations, Result, TrackedTiers};
use memocache_redis_plumbing::failure::{command_error, send_retrying};
use memocache_redis_plumbing::lock::{self, Script};

use crate::connect::{self, BACKEND, NotConnected, backend_error};
use crate::store::FredStore;
use crate::tracking::{self, Tracking, Unserved};

impl FredStore {
    /// The tiers of a tracked store (none once tracking was refused).
    fn tiers(&self) -> Option<&TrackedTiers> {
        let tracking = self.tracking.as_deref().filter(|t| !t.is_refused());
        tracking.map(|t| t.tracked().tiers())
    }

    /// For a command that changes `keys`: reports them to a tracked
    /// store's tiers when dropped.
    pub(crate) fn changing<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Changed<'_> {
        let tiers = self.tiers();
        Changed {
            tiers,
            keys: match tiers {
                Some(_) => keys
                    .into_iter()
                    .map(|key| key.as_ref().to_owned())
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    /// Runs a command through the pool with the store's options, once more
    /// if it timed out and retries are on, and once more if a cluster node
    /// answered it with a redirection (see [`redirected`]).
    pub(crate) async fn run<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: Fn(WithOptions<Pool>) -> Fut,
        Fut: Future<Output = Result<T, FredError>>,
    {
        self.run_with(&self.options, command).await
    }

    /// [`run`](Self::run) with other command options.
    pub(crate) async fn run_with<T, F, Fut>(&self, options: &Options, command: F) -> Result<T>
    where
        F: Fn(WithOptions<Pool>) -> Fut,
        Fut: Future<Output = Result<T, FredError>>,
    {
        let client = self.pool.with_options(options);
        send_retrying(self.retry_on_timeout, || async {
            let sent = match command(client.clone()).await {
                Err(error) if redirected(&error) => command(client.clone()).await,
                sent => sent,
            };
            sent.map_err(|e| self.error(e))
        })
        .await
    }

    /// The integer reply of a lock's script, sent as `EVAL` to the node
    /// serving the lock's key (routed by the key's slot: fred 10.1 sends
    /// an `EVAL` routed by its key's offset to the wrong node).
    pub(crate) async fn eval(&self, script: &Script) -> Result<i64> {
        let slot = lock::slot_of(script.key.as_bytes());
        let eval = CustomCommand::new_static("EVAL", ClusterHash::Custom(slot), false);
        let args: Vec<Value> = [script.body, "1", &script.key]
            .into_iter()
            .chain(script.args.iter().map(String::as_str))
            .map(Value::from)
            .collect();
        self.run(|client| {
            let (eval, args) = (eval.clone(), args.clone());
            async move { client.custom(eval, args).await }
        })
        .await
    }

    /// `GET` and `PTTL` of `key` in one round trip, for a read that may
    /// fill a tier: the value and its `PTTL` reply. On a tracked store the
    /// read is tracked whichever connection serves it (on a cluster, see
    /// [`read_on_cluster`](Self::read_on_cluster)).
    pub(crate) async fn get_with_pttl(&self, key: &str) -> Result<(Option<Bytes>, i64)> {
        // Untracked once the server refused tracking.
        let tracking = self.tracking.as_deref().filter(|t| !t.is_refused());
        if let Some(tracking) = tracking.filter(|t| t.is_cluster()) {
            return self.read_on_cluster(tracking, key).await;
        }
        // A read that may fill a tier is tracked, whichever connection
        // serves it: redirected to the live listener, or not sent (unless
        // the listener stopped because tracking was refused meanwhile).
        let redirect = match tracking.map(|tracking| tracking.redirect(&self.pool)) {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) if tracking.is_some_and(Tracking::is_refused) => None,
            Some(Err(error)) => return Err(error),
            None => None,
        };
        // GET and PTTL pipelined: one round trip, each command sent with
        // the store's options.
        let (refusal, value, pttl) = self
            .run(|client| async move {
                let pipeline = Pipeline::from(client);
                if let Some(id) = redirect {
                    let (command, args) = tracking::redirect_to(id);
                    let () = pipeline.custom(command, args).await?;
                    let () = pipeline.get(key).await?;
                    let () = pipeline.pttl(key).await?;
                    let mut replies = pipeline.try_all::<Value>().await.into_iter();
                    let refusal = tracked_reply(&mut replies)?;
                    let (value, pttl) = entry_replies(replies)?;
                    return Ok((refusal, value, pttl));
                }
                let () = pipeline.get(key).await?;
                let () = pipeline.pttl(key).await?;
                let (value, pttl) = pipeline.all().await?;
                Ok((None, value, pttl))
            })
            .await?;
        if let (Some(refusal), Some(tracking)) = (refusal, tracking) {
            // Before the read's value is handed back.
            tracking.refuse_or_fail(refusal)?;
        }
        Ok((value, pttl))
    }

    /// A read that may fill a tier, on a cluster: routed to the primary
    /// serving the key's slot and its listener ([`Tracking::route`]), sent
    /// there as one pipeline (`CLUSTER MYID`, `CLIENT TRACKING ON REDIRECT
    /// <listener> NOLOOP`, `GET`, `PTTL`) pinned to that primary's
    /// connection and following no redirection
    /// ([`Route::options`](tracking::Route::options)), and
    /// kept only if `CLUSTER MYID` names the listener's node
    /// ([`Tracking::served`]). Routed and sent once more if the primary
    /// answered with a redirection (a slot moved: fred has learned its new
    /// node), and if it timed out and retries are on. Any other error fails
    /// the read: nothing is kept.
    async fn read_on_cluster(
        &self,
        tracking: &Tracking,
        key: &str,
    ) -> Result<(Option<Bytes>, i64)> {
        send_retrying(self.retry_on_timeout, || async {
            let mut sent = self.read_on_cluster_once(tracking, key).await?;
            if matches!(&sent, Err(error) if redirected(error)) {
                sent = self.read_on_cluster_once(tracking, key).await?;
            }
            sent.map_err(|e| self.error(e))
        })
        .await
    }

    /// One [`read_on_cluster`](Self::read_on_cluster): the value and its
    /// `PTTL`, or fred's error; an error of the store's own (no route, a
    /// read served by another node) as the outer one.
    async fn read_on_cluster_once(
        &self,
        tracking: &Tracking,
        key: &str,
    ) -> Result<Result<(Option<Bytes>, i64), FredError>> {
        let client = self.pool.next();
        let route = tracking.route(client, key)?;
        let pipeline = Pipeline::from(client.with_options(&route.options(&self.options)));
        let queued = async {
            let (myid, args) = route.myid();
            let () = pipeline.custom(myid, args).await?;
            let (redirect, args) = route.redirect();
            let () = pipeline.custom(redirect, args).await?;
            let () = pipeline.get(key).await?;
            pipeline.pttl::<(), _>(key).await
        };
        if let Err(error) = queued.await {
            return Ok(Err(error));
        }
        let mut replies = pipeline.try_all::<Value>().await.into_iter();
        let myid = replies.next();
        match tracking.served(&route, myid, replies.len() == 3) {
            Ok(()) => {}
            Err(Unserved::Failed(error)) => return Ok(Err(error)),
            Err(Unserved::Elsewhere(error)) => return Err(error),
        }
        Ok(match tracked_reply(&mut replies) {
            Ok(None) => entry_replies(replies),
            Ok(Some(refusal)) => {
                // Before the read's value is handed back.
                route.refuse(&refusal);
                entry_replies(replies)
            }
            Err(error) => Err(error),
        })
    }

    /// A command's error; when no connection is up, says so (with the last
    /// connection error) instead of fred's bare "canceled".
    fn error(&self, source: FredError) -> Error {
        if let Some(followers) = &self.followers
            && is_readonly(&source)
        {
            // A primary demoted by a failover, its connections kept: fred
            // asks the sentinels again only when it reconnects.
            followers.reconnect(None);
        }
        if timed_out(&source) {
            let limit = self.options.timeout.unwrap_or_default();
            return command_error(BACKEND, source, true, limit);
        }
        let connected = self.pool.clients().iter().any(ClientLike::is_connected);
        if connected || !matches!(source.kind(), ErrorKind::Canceled | ErrorKind::IO) {
            return backend_error(source);
        }
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        backend_error(NotConnected {
            server: Arc::clone(&self.server),
            last_error,
            source,
        })
    }
}

/// Tells a tracked store's tiers that it changed some keys when dropped:
/// after the command's reply, or when the caller gave up on it (it may
/// still run). The server does not report a connection's own writes to it
/// (`NOLOOP`).
pub(crate) struct Changed<'a> {
    tiers: Option<&'a TrackedTiers>,
    keys: Vec<String>,
}

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        if let Some(tiers) = self.tiers {
            for key in &self.keys {
                tiers.changed(key);
            }
        }
    }
}

/// The `CLIENT TRACKING` reply of a tracked read, the first of
/// `replies`: `None` when tracking is on, the server's refusal (see
/// [`tracking::is_refusal`]), or the read's error.
fn tracked_reply(
    replies: &mut impl Iterator<Item = Result<Value, FredError>>,
) -> Result<Option<FredError>, FredError> {
    match replies.next() {
        Some(Ok(_)) => Ok(None),
        Some(Err(error)) if tracking::is_refusal(&error) => Ok(Some(error)),
        Some(Err(error)) => Err(error),
        None => Err(FredError::new(ErrorKind::Unknown, "a reply is missing")),
    }
}

/// The `GET` and `PTTL` replies of a tracked read: the value and its
/// `PTTL`, or the first error.
fn entry_replies(
    mut replies: impl Iterator<Item = Result<Value, FredError>>,
) -> Result<(Option<Bytes>, i64), FredError> {
    let mut reply = || {
        replies
            .next()
            .unwrap_or_else(|| Err(FredError::new(ErrorKind::Unknown, "a reply is missing")))
    };
    let value: Option<Bytes> = reply()?.convert()?;
    let pttl: i64 = reply()?.convert()?;
    Ok((value, pttl))
}

/// Whether `error` is fred's refusal to follow a cluster node's `MOVED` or
/// `ASK` reply (a store on a cluster follows none: see
/// [`connect::settings`]): the node did not run the command, so sending it
/// once more runs it at most once, and after a `MOVED` fred has learned
/// the slot's new node. (fred's only "Too many redirections." is that
/// refusal, `Command::decr_check_redirections`.)
fn redirected(error: &FredError) -> bool {
    matches!(error.kind(), ErrorKind::Routing) && error.details() == "Too many redirections."
}

/// Whether `error` is a `READONLY` reply: the node is a replica.
fn is_readonly(error: &FredError) -> bool {
    error.details().starts_with("READONLY")
}

/// Whether `error` says a reply did not come within the socket timeout:
/// fred's command timeout, or its closing of a connection that left a
/// command unanswered that long (which of the two fires first is a race).
fn timed_out(error: &FredError) -> bool {
    match error.kind() {
        ErrorKind::Timeout => true,
        ErrorKind::IO => error.details() == "Unresponsive connection.",
        _ => false,
    }
}

/// What every command is sent with: fail at once while the connection is
/// down (instead of waiting for a reconnection) and give up after
/// `timeout`.
pub(crate) fn command_options(timeout: Duration) -> Options {
    Options {
        fail_fast: true,
        timeout: Some(timeout),
        ..Options::default()
    }
}

/// Keeps the last error `client` reports while (re)connecting.
pub(crate) fn record_errors(
    client: &Client,
    last_error: Arc<Mutex<Option<String>>>,
) -> tokio::task::JoinHandle<fred::interfaces::FredResult<()>> {
    client.on_error(move |(error, _server)| {
        let message = connect::describe(&error);
        *last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(message);
        async { Ok(()) }
    })
}

/// The `PX` argument of `SET key value PX ms` for `expire`: rounded up to
/// whole milliseconds (at least 1), so a sub-millisecond expiry still
/// expires rather than being refused by Redis as zero.
pub(crate) fn expiration(expire: Duration) -> Expiration {
    Expiration::PX(i64::try_from(memocache_core::expire_millis(expire)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use fred::types::{ClusterHash, CustomCommand};
    use memocache_core::Store;

    use super::*;
    #[test]
    fn expiry_is_rounded_up_to_whole_milliseconds() {
        assert_eq!(expiration(Duration::from_micros(1500)), Expiration::PX(2));
        assert_eq!(expiration(Duration::from_nanos(1)), Expiration::PX(1));
        assert_eq!(expiration(Duration::from_secs(60)), Expiration::PX(60_000));
        assert_eq!(expiration(Duration::MAX), Expiration::PX(i64::MAX));
    }

    #[test]
    fn a_readonly_reply_is_told_from_other_errors() {
        // As fred reports a replica's refusal (`pretty_error`).
        let readonly = FredError::new(
            ErrorKind::Unknown,
            "READONLY You can't write against a read only replica.",
        );
        assert!(is_readonly(&readonly));
        assert!(!is_readonly(&FredError::new(
            ErrorKind::IO,
            "Connection closed."
        )));
        assert!(!is_readonly(&FredError::new(
            ErrorKind::Unknown,
            "ERR READONLY is not a command here"
        )));
    }

    /// The server's id of `client`'s connection (`CLIENT ID`).
    async fn connection_id(client: &Client) -> Option<i64> {
        client
            .custom(
                CustomCommand::new_static("CLIENT", ClusterHash::FirstKey, false),
                vec!["ID"],
            )
            .await
            .ok()
    }

    /// A connected fred client of its own for `url`.
    async fn plain_client(url: &str) -> Client {
        let config = fred::types::config::Config::from_url(url).unwrap();
        let client = Client::new(config, None, None, None);
        client.init().await.unwrap();
        client
    }

    /// The reply of a real replica refusing a write, handed to a store on
    /// a Sentinel primary as the reply to one of its commands: its pool
    /// reconnects (so fred asks the sentinels again), on a connection with
    /// a new id.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_readonly_reply_reconnects_a_sentinel_store() {
        let group = tokio::task::spawn_blocking(memocache_testkit::SentinelGroup::start)
            .await
            .unwrap();
        let store = FredStore::connect(&group.config()).await.unwrap();
        let primary = group.primary_port();
        let replica = group
            .nodes()
            .iter()
            .map(|n| n.port())
            .find(|&p| p != primary)
            .unwrap();
        let refused = plain_client(&group.node(replica).url())
            .await
            .set::<(), _, _>("k", "v", None, None, false)
            .await
            .unwrap_err();
        assert!(is_readonly(&refused), "{refused:?}");

        let client = store.pool.clients()[0].clone();
        let before = connection_id(&client).await.expect("connected");
        let _ = store.error(refused);
        let start = std::time::Instant::now();
        // A new connection has a new id.
        while connection_id(&client).await.is_none_or(|id| id == before) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the store did not reconnect after READONLY"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store
            .set("after", Bytes::from_static(b"1"), None)
            .await
            .unwrap();
    }
}
