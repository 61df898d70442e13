//! The async store's health check: a `PING` on its connection each
//! interval while a store holds it. (The blocking store's pool checks a
//! connection idle for longer than the interval before it reuses it: see
//! [`crate::pool`].)

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::command::Request;
use crate::store::{Failure, Link};

/// PINGs the connection every interval while a store holds it, so idle
/// connections dropped by proxies are noticed (and replaced) early.
pub(crate) struct HealthCheck(JoinHandle<()>);

impl HealthCheck {
    /// Starts PINGing `link` every `interval`; stopped when dropped.
    pub(crate) fn start(link: Link, interval: Duration) -> Self {
        HealthCheck(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // A failure makes the manager reconnect; nothing else to do.
                let _: std::result::Result<(), Failure> =
                    link.query(None, Request::Cmd(&redis::cmd("PING"))).await;
            }
        }))
    }
}

impl Drop for HealthCheck {
    fn drop(&mut self) {
        self.0.abort();
    }
}
