//! Change tracking on a Redis Cluster: where a tracked read goes
//! ([`Route`]: the primary serving the key's slot in fred's cached cluster
//! state, and that primary's listener), and the listeners themselves
//! ([`Nodes`]: one per primary, started for new primaries and stopped for
//! former ones as the cluster state changes).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fred::clients::Pool;
use fred::error::Error as FredError;
use fred::interfaces::{ClientLike, ClusterInterface};
use fred::types::config::{Options, Server};
use fred::types::{ClusterHash, CustomCommand, Value};
use memocache_core::Result;
use memocache_redis_plumbing::refusal::Tracked;
use tokio::task::AbortHandle;

use super::listener::{Generation, Listener, Template};
use super::wire::{ServedBy, is_connection_error, is_refusal, redirect_to, served_by};
use crate::connect::{backend_error, unreachable};

/// Where a tracked read on a cluster goes: the primary serving the key's
/// slot in fred's cached cluster state, and that primary's live listener
/// generation.
pub(crate) struct Route {
    server: Server,
    pub(super) slot: u16,
    generation: Generation,
    /// The id of the node the listener is on.
    pub(super) node: Arc<str>,
    pub(super) listener: Arc<Listener>,
}

impl Route {
    /// `base` pinned to the pool's connection to this route's primary
    /// (`cluster_node`), without following redirections (the pool of a
    /// store on a cluster follows none: see [`crate::connect::settings`]).
    ///
    /// Why this is enough for the `GET` of a tracked read to be served
    /// on the connection its `CLIENT TRACKING` was sent on (fred 10.1's
    /// router): the commands of one pipeline are written one after the
    /// other by the router task, each routed by itself
    /// (`process_pipeline`, `write_command`); a command with
    /// `cluster_node` goes to that server's connection or fails ("Failed
    /// to route command"), never to another node's (`Router::route`),
    /// and the connection map changes only in the router task: a failed
    /// write drops the connection (the next commands then fail), and a
    /// reconnection is queued behind the pipeline (`defer_reconnection`).
    /// A `MOVED` or `ASK` reply goes back to the router, which would
    /// re-send that one command elsewhere while it has redirections (and
    /// write attempts) left (`process_moved`, `process_ask`:
    /// `decr_check_redirections`); with none it fails the command. (A
    /// command's `max_redirections: Some(0)` does not do it: fred takes 0
    /// for "unset" and gives the command the connection's default,
    /// `Command::inherit_options`; hence the pool's default of 0.) One
    /// pipeline's replies come on one connection, in order, so the
    /// `CLUSTER MYID` sent first names the node that served the rest.
    pub(crate) fn options(&self, base: &Options) -> Options {
        Options {
            cluster_node: Some(self.server.clone()),
            max_redirections: None,
            ..base.clone()
        }
    }

    /// `CLUSTER MYID`, which names the node the pipeline is served by.
    pub(crate) fn myid(&self) -> (CustomCommand, Vec<Value>) {
        let command = CustomCommand::new_static("CLUSTER", ClusterHash::Custom(self.slot), false);
        (command, vec![Value::from("MYID")])
    }

    /// `CLIENT TRACKING ON REDIRECT <listener> NOLOOP` for this route's
    /// listener generation.
    pub(crate) fn redirect(&self) -> (CustomCommand, Vec<Value>) {
        let (_, args) = redirect_to(self.generation.id);
        let command = CustomCommand::new_static("CLIENT", ClusterHash::Custom(self.slot), false);
        (command, args)
    }

    /// Checks the replies to the first [`myid`](Self::myid) and
    /// [`redirect`](Self::redirect) sent, at connect, on a pool
    /// connection to this route's primary: a refusal of either is
    /// [refused](Tracked::refuse).
    ///
    /// # Errors
    ///
    /// A backend error naming the primary when it cannot be reached, or
    /// when the connection is on another node than the listener's.
    pub(crate) fn first_redirected(
        &self,
        replies: Vec<std::result::Result<Value, FredError>>,
    ) -> Result<()> {
        let server = &self.listener.server;
        let mut replies = replies.into_iter();
        match (replies.next(), replies.next()) {
            (Some(Ok(myid)), Some(tracked)) => {
                if let ServedBy::Other(other) = served_by(&self.node, Some(&Ok(myid)), true) {
                    return Err(backend_error(format!(
                        "the pool's connection to {server} is on cluster node {other}, the \
                         invalidation listener's on node {}",
                        self.node
                    )));
                }
                tracked
                    .map(drop)
                    .or_else(|error| self.listener.refuse_or_fail(error))
            }
            (Some(Err(error)), Some(_)) if is_refusal(&error) => {
                self.listener.refuse_or_fail(error)
            }
            // The pipeline failed as a whole.
            (Some(Err(error)), _) if is_connection_error(&error) => {
                Err(unreachable(server.to_string(), error))
            }
            (Some(Err(error)), _) => Err(backend_error(error)),
            _ => Err(backend_error(format!(
                "the first CLIENT TRACKING on {server} lost its replies"
            ))),
        }
    }

    /// The route to `server` (serving `slot`) through `listener`'s live
    /// generation.
    pub(super) fn new(server: Server, slot: u16, listener: Arc<Listener>) -> Result<Route> {
        let generation = listener.generation()?;
        let node = generation.node.clone().ok_or_else(|| {
            backend_error(format!(
                "the invalidation listener on {} does not know its cluster node",
                listener.server
            ))
        })?;
        Ok(Route {
            server,
            slot,
            generation,
            node,
            listener,
        })
    }

    /// The primary refused a tracked read's `CLIENT TRACKING` with `error`
    /// (see [`is_refusal`]).
    pub(crate) fn refuse(&self, error: &FredError) {
        self.listener.refuse(error);
    }
}

/// The listeners of a tracked store on a cluster: one per primary of
/// fred's cluster state, by the primary's address.
pub(super) struct Nodes {
    tracked: Arc<Tracked>,
    template: Template,
    listeners: Mutex<HashMap<Server, Node>>,
}

/// A primary's listener and the tasks that run it (its connection and its
/// events), stopped when it is dropped.
struct Node {
    listener: Arc<Listener>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Nodes {
    /// The listeners of a cluster store reporting to `tracked`, built
    /// from `template`; none started yet.
    pub(super) fn new(tracked: Arc<Tracked>, template: Template) -> Self {
        Nodes {
            tracked,
            template,
            listeners: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Server, Node>> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The listener of the primary `server`, started (in the background)
    /// if it has none.
    pub(super) fn listener(&self, server: &Server) -> Arc<Listener> {
        let mut listeners = self.lock();
        if let Some(node) = listeners.get(server) {
            return Arc::clone(&node.listener);
        }
        let node = self.start(server);
        let listener = Arc::clone(&node.listener);
        listeners.insert(server.clone(), node);
        listener
    }

    /// Gives every server of `primaries` a listener, and stops those of
    /// other servers (no longer primaries: a failed or demoted node), whose
    /// generations end. An empty list (no cluster state) changes nothing.
    /// Once tracking was refused, drops every listener (each stopped
    /// already) and starts none.
    pub(super) fn reconcile(&self, primaries: &[Server]) {
        if self.tracked.is_refused() {
            self.lock().clear();
            return;
        }
        if primaries.is_empty() {
            return;
        }
        let mut listeners = self.lock();
        listeners.retain(|server, node| {
            let keep = primaries.contains(server);
            if !keep {
                node.listener.end();
            }
            keep
        });
        for server in primaries {
            if !listeners.contains_key(server) {
                let node = self.start(server);
                listeners.insert(server.clone(), node);
            }
        }
    }

    /// Starts a listener on the cluster node `server`: its task, then its
    /// connection, retried in the background until it is up.
    fn start(&self, server: &Server) -> Node {
        let listener = Arc::new(Listener::new(
            Arc::clone(&self.tracked),
            self.template.name(server),
            true,
        ));
        let client = self.template.client(Some(server));
        let task = listener.spawn(&client, &self.template.options);
        let connection = client.connect();
        Node {
            listener,
            tasks: vec![task.abort_handle(), connection.abort_handle()],
        }
    }
}

/// The primaries of the cluster states of `pool`'s clients.
pub(super) fn primaries(pool: &Pool) -> Vec<Server> {
    let mut primaries = HashSet::new();
    for client in pool.clients() {
        if let Some(state) = client.cached_cluster_state() {
            primaries.extend(state.unique_primary_nodes());
        }
    }
    primaries.into_iter().collect()
}
