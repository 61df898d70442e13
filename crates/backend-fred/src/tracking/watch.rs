//! The tasks that flush the tiers when the pool's connections change:
//! on a single node when a pool connection is lost or replaced
//! ([`watch_connection`]); on a cluster also when fred's cluster state
//! changes, which starts and stops the listeners per primary too
//! ([`watch_cluster`]).

use std::sync::Weak;

use fred::clients::{Client, Pool};
use fred::interfaces::EventInterface;
use memocache_core::{FlushCause, Invalidations, TrackedTiers};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::cluster::{Nodes, primaries};

/// Flushes `tiers` whenever `client`'s connection is lost or replaced:
/// the keys read on a connection are tracked for that connection only, so
/// their changes go unreported once it is gone. (The failed attempts of a
/// reconnection, with no connection to lose, flush nothing.)
pub(super) fn watch_connection(client: &Client, tiers: TrackedTiers) -> JoinHandle<()> {
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

/// On a cluster: flushes `tiers` whenever one of `client`'s node
/// connections is lost or replaced, or its cluster state changes (fred
/// closes the connections to nodes that are no longer primaries without
/// an error event; a slot moved or a failover changes which node reports
/// a key); then starts listeners for new primaries and stops those of
/// former ones. Every event flushes: an error does not say whether
/// another node's connection was up meanwhile.
pub(super) fn watch_cluster(
    client: &Client,
    pool: Pool,
    tiers: TrackedTiers,
    nodes: Weak<Nodes>,
) -> JoinHandle<()> {
    let mut errors = client.error_rx();
    let mut reconnects = client.reconnect_rx();
    let mut changes = client.cluster_change_rx();
    tokio::spawn(async move {
        loop {
            let (closed, cause) = tokio::select! {
                lost = errors.recv() => (
                    matches!(lost, Err(RecvError::Closed)),
                    FlushCause::ConnectionLost,
                ),
                connected = reconnects.recv() => (
                    matches!(connected, Err(RecvError::Closed)),
                    FlushCause::ConnectionLost,
                ),
                changed = changes.recv() => (
                    matches!(changed, Err(RecvError::Closed)),
                    FlushCause::TopologyChanged,
                ),
            };
            if closed {
                return;
            }
            tiers.flushed(cause);
            let Some(nodes) = nodes.upgrade() else {
                return;
            };
            nodes.reconcile(&primaries(&pool));
        }
    })
}
