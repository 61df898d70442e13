//! The store's health check ([`health_check`]: a `PING` on every
//! connection each interval, so that one dropped while idle is replaced
//! before a caller needs it), and [`Tasks`], the background tasks a store
//! started (connections, health checks, error listeners), stopped with
//! its last clone.

use std::time::Duration;

use fred::clients::Pool;
use fred::error::Error as FredError;
use fred::interfaces::ClientLike;
use fred::types::config::Options;
use tokio::task::AbortHandle;

/// PINGs every connection each `interval`, so a connection dropped while
/// idle (by a proxy, say) is noticed, and replaced, before a caller needs
/// it.
pub(crate) fn health_check(
    pool: Pool,
    options: Options,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            for client in pool.clients() {
                if client.is_connected() {
                    // A failure makes fred replace the connection; nothing
                    // else to do.
                    let _: Result<(), FredError> = client.with_options(&options).ping(None).await;
                }
            }
        }
    })
}

/// The background tasks of a store (connections, health checks, error
/// listeners), stopped with the last clone of the store.
#[derive(Default)]
pub(crate) struct Tasks(pub(crate) Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
