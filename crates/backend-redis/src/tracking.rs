//! Change tracking for the async store: connections in RESP3 with `CLIENT
//! TRACKING` on, whose invalidation pushes are reported to the local tiers
//! over the store.
//!
//! On a single node, or a primary found through Sentinel
//! ([`OwnConnection`](crate::own::OwnConnection)), the store replaces its
//! connection itself (redis-rs' multiplexed connection does not reconnect
//! by itself), so it knows when one is new: each new connection has
//! tracking switched on and the tiers flushed before it serves anything,
//! since changes made while no connection was tracking went unreported. The connection's driver hands pushes over in
//! wire order, before the replies that follow them; the tier's tickets
//! take care of a push that overtakes a reply. The connection's own writes
//! are not reported back to it (`NOLOOP`): the store reports them to its
//! tiers itself, as soon as they are sent.
//!
//! On a cluster ([`TrackedCluster`]) redis-rs keeps one connection per node
//! and replaces them itself, so no connection can be relied on to have
//! tracking on: every read sends `CLIENT TRACKING ON NOLOOP` in the same
//! round trip, to the node that serves the key, and a lost node connection
//! (a disconnection push, or an I/O error) flushes the tiers. A key moved
//! to another node is removed from the old one, which reports it.
//!
//! A server that refuses tracking (`CLIENT` renamed away, an ACL user
//! without `client|tracking`) is told from one that cannot be reached by
//! its reply ([`is_refusal`]): the store then reads without tracking, and
//! its tiers go off ([`Tracked::refuse`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use memocache_core::{FlushCause, Invalidations, TrackedTiers};
use memocache_redis_plumbing::refusal::{self, Tracked};
use redis::aio::{AsyncPushSender, SendError};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
};
use redis::{Cmd, FromRedisValue, PushInfo, PushKind, RedisError, RedisResult, Value};

use crate::command::Request;

/// What an ACL user needs for tracking, as the fix of a refusal names it.
pub(crate) const NEEDS: &str = "the client|tracking command";

/// Whether `error`, the reply to `CLIENT TRACKING ON`, is the server's
/// refusal ([`refusal::is_refusal`]), rather than a failure to reach it or
/// one that passes.
pub(crate) fn is_refusal(error: &RedisError) -> bool {
    error
        .code()
        .is_some_and(|code| refusal::is_refusal(code, error.detail().unwrap_or_default()))
}

/// The tracked connections of one store on a cluster, shared by its clones.
pub(crate) struct TrackedCluster {
    connection: ClusterConnection,
    tracked: Tracked,
    /// How the refusal names the cluster (never credentials).
    name: String,
}

impl TrackedCluster {
    /// Reports for the pushes of a cluster connection to be made, which
    /// [`with_connection`](Self::with_connection) then takes.
    pub(crate) fn reports() -> (Tracked, impl AsyncPushSender) {
        let tracked = Tracked::new(NEEDS);
        let reports = Reports {
            tiers: tracked.tiers().clone(),
            dead: None,
        };
        (tracked, reports)
    }

    /// Tracking over `connection` (to the cluster errors call `name`),
    /// whose pushes go to `tracked`'s reports.
    pub(crate) fn with_connection(
        connection: ClusterConnection,
        tracked: Tracked,
        name: String,
    ) -> Self {
        TrackedCluster {
            connection,
            tracked,
            name,
        }
    }

    /// The tiers this link reports to, and whether tracking was refused.
    pub(crate) fn tracked(&self) -> &Tracked {
        &self.tracked
    }

    /// The cluster connection.
    pub(crate) fn connection(&self) -> &ClusterConnection {
        &self.connection
    }

    /// Switches tracking on at every primary, before any read counts on
    /// it: a cluster that cannot be reached is an error here; one that
    /// refuses tracking is [refused](Tracked::refuse) (logged once) and
    /// read without it.
    pub(crate) async fn track_everywhere(&self) -> RedisResult<()> {
        let routing = RoutingInfo::MultiNode((
            MultipleNodeRoutingInfo::AllMasters,
            Some(ResponsePolicy::AllSucceeded),
        ));
        let reply = self
            .connection
            .clone()
            .route_command(tracking_on(), routing)
            .await;
        flush_if_lost(self.tracked.tiers(), &reply, None);
        match reply.and_then(Value::extract_error) {
            Err(e) if is_refusal(&e) => {
                self.tracked.refuse(&self.name, &e);
                Ok(())
            }
            reply => reply.map(drop),
        }
    }

    /// Sends `request`, routed as redis-rs routes it.
    pub(crate) async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> RedisResult<T> {
        let result = request.send_async(&mut self.connection.clone()).await;
        flush_if_lost(self.tracked.tiers(), &result, None);
        result
    }

    /// Sends `request` (reads of `key` only) to the primary serving `key`,
    /// after `CLIENT TRACKING ON NOLOOP` in the same round trip, so that
    /// the node connection serving it tracks it whether or not it is new.
    /// Once tracking was refused, sends `request` alone; a refusal in this
    /// round trip is [refused](Tracked::refuse) before the read's reply is
    /// handed back.
    pub(crate) async fn read<T: FromRedisValue>(
        &self,
        key: &str,
        request: Request<'_>,
    ) -> RedisResult<T> {
        if self.tracked.is_refused() {
            return self.query(request).await;
        }
        let mut pipeline = redis::pipe();
        pipeline.add_command(tracking_on());
        let single = match request {
            Request::Cmd(cmd) => {
                pipeline.add_command(cmd.clone());
                true
            }
            Request::Pipeline(cmds) => {
                for cmd in cmds {
                    pipeline.add_command(cmd.clone());
                }
                false
            }
        };
        let count = pipeline.len();
        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master));
        let replies = self
            .connection
            .clone()
            .route_pipeline(pipeline, 0, count, route)
            .await;
        flush_if_lost(self.tracked.tiers(), &replies, None);
        // Read only if tracking was switched on or refused: another error
        // in its reply is the read's error (a skipped reply's error would
        // be dropped).
        let mut replies = replies?.into_iter().map(Value::extract_error);
        match replies.next().transpose() {
            Err(e) if is_refusal(&e) => self.tracked.refuse(&self.name, &e),
            tracked => {
                tracked?;
            }
        }
        let replies = replies.collect::<RedisResult<Vec<Value>>>()?;
        let value = match (single, replies.len()) {
            (true, 1) => replies.into_iter().next().unwrap_or(Value::Nil),
            (true, _) => {
                return Err(RedisError::from((
                    redis::ErrorKind::Client,
                    "a tracked read got other than one reply",
                )));
            }
            (false, _) => Value::Array(replies),
        };
        Ok(T::from_redis_value(value)?)
    }
}

/// `CLIENT TRACKING ON NOLOOP`: this connection's own writes are not
/// reported back to it; the store tells its tiers of them itself, at once.
pub(crate) fn tracking_on() -> Cmd {
    let mut on = redis::cmd("CLIENT");
    on.arg("TRACKING").arg("ON").arg("NOLOOP");
    on
}

/// Flushes `tiers` when `result` says the connection was lost (and marks
/// it `dead`, if given): what changed since went unreported.
pub(crate) fn flush_if_lost<T>(
    tiers: &TrackedTiers,
    result: &RedisResult<T>,
    dead: Option<&AtomicBool>,
) {
    if let Err(e) = result
        && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
    {
        if let Some(dead) = dead {
            dead.store(true, Ordering::SeqCst);
        }
        tiers.flushed(FlushCause::ConnectionLost);
    }
}

/// Turns a connection's pushes into reports to the tiers.
pub(crate) struct Reports {
    pub(crate) tiers: TrackedTiers,
    /// Set when the connection is gone; `None` on a cluster, whose node
    /// connections redis-rs replaces itself.
    pub(crate) dead: Option<Arc<AtomicBool>>,
}

impl AsyncPushSender for Reports {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        match info.kind {
            PushKind::Invalidate => report(&self.tiers, info.data.first()),
            PushKind::Disconnection => {
                if let Some(dead) = &self.dead {
                    dead.store(true, Ordering::SeqCst);
                }
                self.tiers.flushed(FlushCause::ConnectionLost);
            }
            PushKind::Other(kind) if kind.starts_with("tracking") => {
                self.tiers.flushed(FlushCause::ReportsLost);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reports an invalidation push's payload to `tiers`: the keys changed; a
/// null one means `FLUSHDB` or `FLUSHALL`; anything else is a report that
/// cannot be read, so all may have changed.
fn report(tiers: &TrackedTiers, payload: Option<&Value>) {
    match payload {
        Some(Value::Array(keys)) if keys.iter().all(|k| matches!(k, Value::BulkString(_))) => {
            for key in keys {
                if let Value::BulkString(key) = key {
                    tiers.changed(&String::from_utf8_lossy(key));
                }
            }
        }
        Some(Value::Nil) => tiers.flushed(FlushCause::StoreFlushed),
        _ => tiers.flushed(FlushCause::ReportsLost),
    }
}
