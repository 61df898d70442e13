//! Change tracking for the blocking single-node store: a blocking
//! connection reads pushes only while it reads a reply, so the pool's
//! connections redirect their invalidations (`CLIENT TRACKING ON REDIRECT
//! <id>`) to one listener connection subscribed to `__redis__:invalidate`,
//! read by a thread of the store's own.
//!
//! Each listener connection is a new *generation*. A pooled connection
//! records the generation it redirects to, and is used only while that
//! generation lasts: when the listener's connection is lost, the
//! generation ends and the tiers are flushed at once, and every pooled
//! connection redirecting to it is discarded before its next command, so
//! a read can only be kept by the tier while its invalidations have
//! somewhere to go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use memocache_core::{FlushCause, Invalidations, TrackedTiers};
use redis::{Client, Connection, RedisResult, Value};

use crate::tracking::report;

/// How often the listener thread looks up from its socket to see whether
/// the store is gone.
const POLL: Duration = Duration::from_millis(100);
/// How long the listener waits before connecting again after a failure.
const BACKOFF: Duration = Duration::from_millis(100);

/// The listener of one store, shared by its clones and its pool; its
/// thread stops when the last clone goes.
pub(crate) struct Listener {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the listener thread and the pool share.
pub(crate) struct Shared {
    tiers: TrackedTiers,
    /// The live generation: its number and the listener connection's
    /// client id; `None` while the listener is not connected.
    current: Mutex<Option<(u64, i64)>>,
    /// Notified when a generation begins.
    connected: Condvar,
    stop: AtomicBool,
}

impl Listener {
    /// Starts listening on `client`'s server (a RESP2 client, whose
    /// connections receive invalidations as pub/sub messages).
    pub(crate) fn start(client: Client, connect_timeout: Duration) -> Self {
        let shared = Arc::new(Shared {
            tiers: TrackedTiers::new(),
            current: Mutex::new(None),
            connected: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("memocache-invalidations".to_owned())
                .spawn(move || shared.run(&client, connect_timeout))
                .expect("cannot start the invalidation listener thread")
        };
        Listener {
            shared,
            thread: Some(thread),
        }
    }

    /// What the pool needs of the listener.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // It looks up at least every POLL; a panic there is moot now.
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// The tiers the listener reports to.
    pub(crate) fn tiers(&self) -> &TrackedTiers {
        &self.tiers
    }

    /// The live generation and the client id to redirect to.
    pub(crate) fn current(&self) -> Option<(u64, i64)> {
        *self.lock()
    }

    /// Waits until the listener is connected, for at most `limit`.
    pub(crate) fn wait_connected(&self, limit: Duration) -> memocache_core::Result<()> {
        let (current, _) = self
            .connected
            .wait_timeout_while(self.lock(), limit, |current| current.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        match *current {
            Some(_) => Ok(()),
            None => Err(memocache_core::Error::backend(
                "redis",
                format!("the invalidation listener could not connect within {limit:?}"),
            )),
        }
    }

    /// Whether `generation` is still the live one.
    pub(crate) fn is_live(&self, generation: u64) -> bool {
        self.current().is_some_and(|(live, _)| live == generation)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, i64)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The listener thread: connect, listen until the connection fails,
    /// end the generation, again, until the store is gone.
    fn run(&self, client: &Client, connect_timeout: Duration) {
        let mut generation = 0;
        while !self.stop.load(Ordering::SeqCst) {
            generation += 1;
            // An error ends the generation as a stop does; the tiers' flush
            // below is logged with its cause.
            let _ = self.listen(client, connect_timeout, generation);
            // The generation is over: nothing redirects to it any more.
            *self.lock() = None;
            self.tiers.flushed(FlushCause::ConnectionLost);
            std::thread::sleep(BACKOFF);
        }
    }

    fn listen(
        &self,
        client: &Client,
        connect_timeout: Duration,
        generation: u64,
    ) -> RedisResult<()> {
        let mut connection: Connection = client.get_connection_with_timeout(connect_timeout)?;
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut connection)?;
        let mut pubsub = connection.as_pubsub();
        pubsub.subscribe("__redis__:invalidate")?;
        pubsub.set_read_timeout(Some(POLL))?;
        *self.lock() = Some((generation, id));
        self.connected.notify_all();
        while !self.stop.load(Ordering::SeqCst) {
            let message = match pubsub.get_message() {
                Ok(message) => message,
                Err(e) if e.is_timeout() => continue,
                Err(e) => return Err(e),
            };
            report(&self.tiers, message.get_payload::<Value>().ok().as_ref());
        }
        Ok(())
    }
}
