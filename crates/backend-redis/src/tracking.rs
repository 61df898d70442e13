//! Change tracking for the async single-node store: a connection of its
//! own, in RESP3 with `CLIENT TRACKING` on, whose invalidation pushes are
//! reported to the local tiers over the store.
//!
//! The store replaces that connection itself (redis-rs' multiplexed
//! connection does not reconnect by itself), so it knows when one is new:
//! each new connection has tracking switched on and the tiers flushed
//! before it serves anything, since changes made while no connection was
//! tracking went unreported. The connection's driver hands pushes over in
//! wire order, before the replies that follow them; the tier's tickets
//! take care of a push that overtakes a reply. The connection's own writes
//! are not reported back to it (`NOLOOP`): the store reports them to its
//! tiers itself, as soon as they are sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use memocache_core::{FlushCause, Invalidations, TrackedTiers};
use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{
    AsyncConnectionConfig, Client, FromRedisValue, PushInfo, PushKind, RedisResult, Value,
};

use crate::command::Request;

/// The tracked connection of one store, shared by its clones.
pub(crate) struct Tracked {
    client: Client,
    config: AsyncConnectionConfig,
    tiers: TrackedTiers,
    current: Mutex<Option<Current>>,
    /// Held while a connection is being opened, so that one opens at a time.
    opening: tokio::sync::Mutex<()>,
}

/// The connection in use, and whether it was found dead.
#[derive(Clone)]
struct Current {
    connection: MultiplexedConnection,
    dead: Arc<AtomicBool>,
}

impl Tracked {
    /// A tracked link to `client`'s server (whose connections speak RESP3),
    /// opening its connection on first use.
    pub(crate) fn new(client: Client, config: AsyncConnectionConfig) -> Self {
        Tracked {
            client,
            config,
            tiers: TrackedTiers::new(),
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// The client the connections are opened with.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The tiers this link reports to.
    pub(crate) fn tiers(&self) -> &TrackedTiers {
        &self.tiers
    }

    /// Sends `request`; a connection that failed is replaced on the next
    /// request.
    pub(crate) async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> RedisResult<T> {
        let mut current = self.connection().await?;
        let result = request.send_async(&mut current.connection).await;
        if let Err(e) = &result
            && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
        {
            current.dead.store(true, Ordering::SeqCst);
            self.tiers.flushed(FlushCause::ConnectionLost);
        }
        result
    }

    /// The live connection, or a new one.
    async fn connection(&self) -> RedisResult<Current> {
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let _opening = self.opening.lock().await;
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let fresh = self.open().await?;
        // Whatever changed while no connection tracked went unreported.
        self.tiers.flushed(FlushCause::ConnectionLost);
        *self.lock() = Some(fresh.clone());
        Ok(fresh)
    }

    /// Opens a connection and switches tracking on before it is used.
    async fn open(&self) -> RedisResult<Current> {
        let dead = Arc::new(AtomicBool::new(false));
        let reports = Reports {
            tiers: self.tiers.clone(),
            dead: Arc::clone(&dead),
        };
        let config = self.config.clone().set_push_sender(reports);
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // NOLOOP: this connection's own writes are not reported back to it;
        // the store tells its tiers of them itself, at once.
        let () = redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("NOLOOP")
            .query_async(&mut connection)
            .await?;
        Ok(Current { connection, dead })
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

/// Turns a connection's pushes into reports to the tiers.
struct Reports {
    tiers: TrackedTiers,
    /// Set when the connection is gone.
    dead: Arc<AtomicBool>,
}

impl AsyncPushSender for Reports {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        match info.kind {
            PushKind::Invalidate => report(&self.tiers, info.data.first()),
            PushKind::Disconnection => {
                self.dead.store(true, Ordering::SeqCst);
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

/// Reports an invalidation's payload (a push's, or a `__redis__:invalidate`
/// message's) to `tiers`: the keys changed; a null one means `FLUSHDB` or
/// `FLUSHALL`; anything else is a report that cannot be read, so all may
/// have changed.
pub(crate) fn report(tiers: &TrackedTiers, payload: Option<&Value>) {
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
