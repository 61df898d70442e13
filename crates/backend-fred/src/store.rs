//! The async store: fred clients that reconnect by themselves, and
//! commands that fail fast while they do.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use fred::clients::{Client, Pipeline, Pool, WithOptions};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface, KeysInterface};
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand, Value};
use memocache_core::{
    Backend, Bytes, Capabilities, Entry, Error, Health, Invalidations, KeyMatch, KeyTtl,
    ReadOptions, RemoveOptions, Result, Store, TrackedTiers, WriteOptions, async_trait,
};
use memocache_redis_plumbing::announce;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::driven::{Driven, StoreRuntime};
use memocache_redis_plumbing::failure::{command_error, send_retrying};
use memocache_redis_plumbing::keyspace::{self, Keyspace, SCAN_COUNT};
use memocache_redis_plumbing::topology::Node;
use tokio::task::AbortHandle;

use crate::blocking::FredBlockingStore;
use crate::command;
use crate::connect::{self, BACKEND, ConnectError, NotConnected, Settings, backend_error};
use crate::sentinel::{Followers, Sentinels};
use crate::tracking::{self, Route, Started, Tracking, Unserved};

/// An async [`Store`] on Redis over a fred [`Pool`]: from a
/// [`RedisConfig`], one multiplexed connection (per cluster node) that
/// every caller shares, re-established in the background after a failure.
/// Cheap to clone (clones share the pool and one [`Health`]: every memoizer
/// over the store and its clones learns of an outage once).
///
/// Every command fails at once while its connection is down (fred's
/// `fail_fast`) and gives up after the socket timeout, so a sick Redis
/// never holds callers up; a [`Memoizer`](memocache_core::Memoizer) then
/// simply computes. The connections close when the last clone of a store
/// made by [`connect`](Self::connect) or
/// [`connect_lazy`](Self::connect_lazy) is dropped.
///
/// With [`RedisConfig::client_tracking`], the store reports every change
/// to its keys to the local tiers over it ([`Backend::track_changes`](memocache_core::Backend::track_changes)): a
/// listener connection of its own, in RESP2, is subscribed to
/// `__redis__:invalidate`, and every read that may fill a tier sends
/// `CLIENT TRACKING ON REDIRECT <listener> NOLOOP` with its `GET` and
/// `PTTL`, in one round trip. Such a read fails while the listener is not
/// subscribed, and the tiers are flushed whenever the listener's or the
/// pool's connection is lost; the store reports its own writes and
/// removals itself. The server must allow `CLIENT TRACKING`, `CLIENT ID`
/// and the `__redis__:invalidate` channel: one that refuses (an ACL user
/// without them, `CLIENT` renamed away) is logged once, its listener
/// stopped, and the store caches without tracking, its local tiers off
/// (those already over it flushed).
///
/// On a Redis Cluster there is one listener per primary (a redirect names
/// a client of the same node), started for every primary at connect and
/// for each new or promoted one later. A tracked read goes to the primary
/// that fred's cluster state says serves the key's slot, pinned to the
/// pool's connection to it, with `CLUSTER MYID` first in its pipeline: a
/// read served by another node than the listener's, or not known to be
/// served by it (the pipeline failed), is not kept and flushes the tiers.
/// fred follows no `MOVED` or `ASK` for a store on a cluster; the store
/// sends a command answered with one once more itself (after a `MOVED`,
/// to the slot's new primary; a tracked read is routed anew). A tracked
/// read fails at once while its primary's listener is not subscribed. A
/// change of fred's cluster state (a slot moved, a failover, a node gone)
/// flushes the tiers; `CLUSTER MYID` must be allowed too (or tracking is
/// refused, as above).
///
/// With [`RedisConfig::sentinel`], the pool and the listener find the
/// primary through the sentinels, and reconnect to the new one after a
/// failover: when their connection is lost, when a command is answered
/// `READONLY`, and when a sentinel announces `+switch-master`. With
/// tracking, a read is tracked only while the pool's connection and the
/// listener are on the same node (each reconnection flushes the tiers).
///
/// ```no_run
/// # async fn demo() -> memocache::Result<()> {
/// use memocache::{Args, Memoizer, RedisConfig, FredStore};
///
/// let store = FredStore::connect(&RedisConfig::new().url("redis://127.0.0.1:6379/0")).await?;
/// let memo = Memoizer::builder(store).namespace("users").build();
/// let name: String = memo.call(&Args::new().arg(&7), || async { "Jo".to_owned() }).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FredStore {
    pool: Pool,
    /// Applied to every command: fail fast, and the command timeout.
    options: Options,
    retry_on_timeout: bool,
    /// `host:port` (never credentials), for errors.
    server: Arc<str>,
    /// The last error the clients reported while (re)connecting.
    last_error: Arc<Mutex<Option<String>>>,
    /// The background tasks this store started; `None` for a pool of the
    /// caller's own.
    tasks: Option<Arc<Tasks>>,
    health: Health,
    /// With [`RedisConfig::client_tracking`]: the listener's state and the
    /// tiers reported to.
    tracking: Option<Arc<Tracking>>,
    /// With [`RedisConfig::sentinel`]: the clients to reconnect when the
    /// primary is found demoted (a `READONLY` reply).
    followers: Option<Arc<Followers>>,
    /// The runtime of this store's own, shared by its clones: started
    /// when the store is made outside any runtime (its connections run
    /// there) or for its first blocking view ([`blocking`](Self::blocking)).
    runtime: StoreRuntime,
}

/// The name of the threads of a store's own runtime.
pub(crate) const DRIVER_THREAD: &str = "memocache-fred";

impl FredStore {
    /// Connects with `config`'s URL, credentials, database, TLS settings
    /// (`rediss://`, certificate verification, the CA), timeouts,
    /// keepalive and health checks; must run
    /// inside a tokio runtime, on which the connections then live. With
    /// [`RedisConfig::client_tracking`], the listener subscribes and a
    /// first `CLIENT TRACKING ON REDIRECT` must succeed too. With
    /// [`RedisConfig::sentinel`], the sentinels are first asked in turn
    /// for the primary, which must answer `ROLE` as one. Logs once, at
    /// `info`, the server it uses (never the password).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings; a backend error naming the
    /// server when it cannot be reached or refuses the credentials or the
    /// TLS handshake. A server that refuses client tracking (an ACL user
    /// without `client|tracking`, say, or on a cluster without
    /// `cluster|myid`) is no error: the store caches without it, its local
    /// tiers stay off, and the refusal is logged once. With Sentinel:
    /// [`Error::Config`] when every sentinel that answered knows no master
    /// of that name, or for settings fred
    /// cannot honour (sentinels with different credentials, or TLS for the
    /// sentinels but not the data nodes or the other way round); a backend
    /// error naming the primary and its sentinels, and saying what each
    /// sentinel answered, when none names a reachable primary.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
        let store = Self::connect_quietly(config).await?;
        announce::built("FredStore", BACKEND, config);
        Ok(store)
    }

    /// [`connect`](Self::connect) without the log line naming the server:
    /// for the blocking adapter over it, which logs its own.
    pub(crate) async fn connect_quietly(config: &RedisConfig) -> Result<Self> {
        // With Sentinel: asked first, for a clear error, and so that fred
        // asks first the sentinel that named a reachable primary.
        let sentinels = if config.is_sentinel() {
            Some(Sentinels::new(config)?.located().await?)
        } else {
            None
        };
        let settings = connect::settings(config, true, sentinels)?;
        let server = settings.server.clone();
        let started = start_tracking(config, &settings)?;
        let initializing: Vec<_> = settings
            .pool
            .clients()
            .iter()
            .map(|client| {
                let client = client.clone();
                tokio::spawn(async move { client.init().await })
            })
            .collect();
        // Connected clients' tasks are aborted if another client fails.
        let mut tasks = Tasks::default();
        let mut first_error = None;
        for initialized in initializing {
            match initialized.await {
                Ok(Ok(connection)) => tasks.0.push(connection.abort_handle()),
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(join_error) => {
                    first_error.get_or_insert(FredError::new(
                        ErrorKind::Unknown,
                        format!("the connection task failed: {join_error}"),
                    ));
                }
            }
        }
        let started = started.map(|started| {
            tasks.0.extend(started.tasks);
            (started.tracking, started.listener)
        });
        if let Some(source) = first_error {
            return Err(backend_error(ConnectError { server, source }));
        }
        let Some((tracking, listener)) = started else {
            return Self::with_settings(settings, tasks, None, None);
        };
        let limit = config.settings().connect_timeout() + 2 * config.settings().socket_timeout();
        let Some(listener) = listener else {
            // A cluster: every primary's listener must subscribe, and the
            // pool's first redirect on each primary succeed.
            let store = Self::with_settings(settings, tasks, Some(Arc::clone(&tracking)), None)?;
            for route in tracking.wait_cluster(&store.pool, limit).await? {
                store.first_redirect_on(&route).await?;
            }
            return Ok(store);
        };
        // The listener must subscribe, and the pool's first redirect to it
        // succeed.
        let connection = listener
            .init()
            .await
            .map_err(|source| backend_error(ConnectError { server, source }))?;
        tasks.0.push(connection.abort_handle());
        tracking.wait_listening(limit).await?;
        let store = Self::with_settings(settings, tasks, Some(tracking), Some(&listener))?;
        store.first_redirect().await?;
        Ok(store)
    }

    /// Switches tracking on for each pool connection, redirected to the
    /// listener, unless tracking was refused already: a server that
    /// refuses it is refused now (logged once), not a tier that never
    /// serves.
    async fn first_redirect(&self) -> Result<()> {
        let Some(tracking) = self.tracking.as_deref().filter(|t| !t.is_refused()) else {
            return Ok(());
        };
        let id = tracking.redirect(&self.pool)?;
        for client in self.pool.clients() {
            let (command, args) = tracking::redirect_to(id);
            let redirected: Result<(), FredError> = client
                .with_options(&self.options)
                .custom(command, args)
                .await;
            if let Err(error) = redirected {
                tracking.refuse_or_fail(error)?;
            }
            if tracking.is_refused() {
                break;
            }
        }
        Ok(())
    }

    /// On a cluster, switches tracking on for each pool client's
    /// connection to `route`'s primary, redirected to its listener, unless
    /// tracking was refused already: a server that refuses it (or
    /// `CLUSTER MYID`) is refused now (logged once), not a tier that never
    /// serves.
    async fn first_redirect_on(&self, route: &Route) -> Result<()> {
        let options = route.options(&self.options);
        for client in self.pool.clients() {
            if self.tracking.as_deref().is_some_and(Tracking::is_refused) {
                break;
            }
            let pipeline = Pipeline::from(client.with_options(&options));
            let (myid, args) = route.myid();
            let () = pipeline.custom(myid, args).await.map_err(backend_error)?;
            let (redirect, args) = route.redirect();
            let () = pipeline
                .custom(redirect, args)
                .await
                .map_err(backend_error)?;
            route.first_redirected(pipeline.try_all::<Value>().await)?;
        }
        Ok(())
    }

    /// Like [`connect`](Self::connect) but returns at once and connects in
    /// the background, so a service can start while Redis is down; until
    /// Redis answers, every operation fails (and a
    /// [`Memoizer`](memocache_core::Memoizer) just computes). Inside a
    /// tokio runtime its connections run on that runtime; outside one (a
    /// `static` built by a sync caller), on a runtime thread of the store's
    /// own, so it serves async callers of any runtime and, through
    /// [`blocking`](Self::blocking), sync ones. With
    /// [`RedisConfig::client_tracking`], reads that may fill a tier fail
    /// until the listener is subscribed; a server that refuses tracking is
    /// learned in the background (logged once): the local tiers over the
    /// store by then go off (flushed), and reads go untracked.
    ///
    /// With [`RedisConfig::sentinel`], the sentinels are asked in the
    /// background too (in the configured order), and the store follows the
    /// primary as [`connect`](Self::connect)'s does.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings (with Sentinel, those fred cannot
    /// honour too); a backend error if, called outside a runtime, it cannot
    /// start its own.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        let runtime = StoreRuntime::default();
        let store = runtime.make_inside(BACKEND, DRIVER_THREAD, || {
            Self::connect_lazy_quietly(config)
        })?;
        announce::built("FredStore", BACKEND, config);
        Ok(FredStore { runtime, ..store })
    }

    /// A blocking store over this one, for sync code: the same
    /// connections, circuit breaker and change tracking, so the sync and
    /// async functions of a service share one store. Its operations run on
    /// a runtime thread this store keeps for the purpose (one, however
    /// many views are made), and wait there for the connections, which run
    /// where the store was made: call it from a thread that is not driving
    /// that runtime (`spawn_blocking`, or any plain thread), as any
    /// blocking code.
    ///
    /// # Errors
    ///
    /// A backend error if the runtime thread cannot be started.
    pub fn blocking(&self) -> Result<FredBlockingStore> {
        let driven = Driven::on(self.clone(), &self.runtime, DRIVER_THREAD)?;
        Ok(FredBlockingStore::over(driven))
    }

    /// [`connect_lazy`](Self::connect_lazy) without the log line naming
    /// the server: for the blocking adapter over it, which logs its own.
    pub(crate) fn connect_lazy_quietly(config: &RedisConfig) -> Result<Self> {
        let settings = connect::settings(config, false, None)?;
        let started = start_tracking(config, &settings)?;
        let listener = started
            .as_ref()
            .and_then(|started| started.listener.clone());
        let mut tasks = Tasks(
            settings
                .pool
                .connect_pool()
                .iter()
                .map(|connection| connection.abort_handle())
                .collect(),
        );
        let tracking = started.map(|started| {
            tasks.0.extend(started.tasks);
            // A cluster's listeners start once the pool knows the primaries.
            if let Some(listener) = started.listener {
                tasks.0.push(listener.connect().abort_handle());
            }
            started.tracking
        });
        Self::with_settings(settings, tasks, tracking, listener.as_ref())
    }

    /// A store over a fred pool of your own, which you connect (e.g. with
    /// `pool.init().await`) and close. Commands fail fast while a
    /// connection is down, and time out after the pool's default command
    /// timeout, or [`RedisConfig`]'s default socket timeout if it has none.
    /// A clustered pool works too: keys go to their slot's node, and
    /// [`delete_matching`](Store::delete_matching) scans every primary. Give
    /// it `ClusterDiscoveryPolicy::UseCache`, as stores built from a
    /// [`RedisConfig`] have, or a pool whose seeds all die in a failover
    /// never reconnects. A pool that writes each command once
    /// (`max_command_attempts: 1`) should follow no redirection either
    /// (`max_redirections: 0`, as theirs do): fred 10.1 stops for good a
    /// client that gets an `ASK` with redirections but no write attempts
    /// left. Logs once, at `info`, the pool's servers.
    pub fn from_pool(pool: Pool) -> Self {
        let timeout = Some(pool.perf_config().default_command_timeout)
            .filter(|timeout| !timeout.is_zero())
            .unwrap_or_else(|| RedisConfig::default().settings().socket_timeout());
        let server = pool
            .client_config()
            .server
            .hosts()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        announce::built_on("FredStore", BACKEND, &server);
        FredStore {
            pool,
            options: command_options(timeout),
            retry_on_timeout: false,
            server: server.into(),
            last_error: Arc::default(),
            tasks: None,
            health: RedisConfig::default().health(),
            tracking: None,
            followers: None,
            runtime: StoreRuntime::default(),
        }
    }

    /// A store over one fred client of your own, as
    /// [`from_pool`](Self::from_pool) does.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when fred cannot make a pool of the client.
    pub fn from_client(client: Client) -> Result<Self> {
        let pool = Pool::from_clients(vec![client])
            .map_err(|e| Error::config_with_source("cannot pool the client", e))?;
        Ok(Self::from_pool(pool))
    }

    /// The fred pool behind the store, for commands of your own.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The store over `settings`' pool: starts the tasks that record its
    /// connection errors and run its health checks and, with Sentinel, the
    /// `+switch-master` watchers, which reconnect the pool's clients and a
    /// tracked store's `listener` (inside a tokio runtime).
    fn with_settings(
        settings: Settings,
        mut tasks: Tasks,
        tracking: Option<Arc<Tracking>>,
        listener: Option<&Client>,
    ) -> Result<Self> {
        let Settings {
            pool,
            command_timeout,
            retry_on_timeout,
            health_check_interval,
            server,
            health,
            sentinels,
        } = settings;
        let options = command_options(command_timeout);
        let last_error = Arc::new(Mutex::new(None));
        for client in pool.clients() {
            tasks
                .0
                .push(record_errors(client, Arc::clone(&last_error)).abort_handle());
        }
        if let Some(interval) = health_check_interval {
            tasks
                .0
                .push(health_check(pool.clone(), options.clone(), interval).abort_handle());
        }
        let followers = match sentinels {
            Some(sentinels) => {
                let clients = pool.clients().iter().chain(listener).cloned().collect();
                let followers = sentinels.followers(clients);
                tasks.0.extend(sentinels.watch(&followers)?);
                Some(followers)
            }
            None => None,
        };
        Ok(FredStore {
            pool,
            options,
            retry_on_timeout,
            server: server.into(),
            last_error,
            tasks: Some(Arc::new(tasks)),
            health,
            tracking,
            followers,
            runtime: StoreRuntime::default(),
        })
    }

    /// The tiers of a tracked store (none once tracking was refused).
    fn tiers(&self) -> Option<&TrackedTiers> {
        let tracking = self.tracking.as_deref().filter(|t| !t.is_refused());
        tracking.map(|t| t.tracked().tiers())
    }

    /// For a command that changes `keys`: reports them to a tracked
    /// store's tiers when dropped.
    fn changing<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Changed<'_> {
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
    async fn run<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: Fn(WithOptions<Pool>) -> Fut,
        Fut: Future<Output = Result<T, FredError>>,
    {
        self.run_with(&self.options, command).await
    }

    /// [`run`](Self::run) with other command options.
    async fn run_with<T, F, Fut>(&self, options: &Options, command: F) -> Result<T>
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

    /// A read that may fill a tier, on a cluster: routed to the primary
    /// serving the key's slot and its listener ([`Tracking::route`]), sent
    /// there as one pipeline (`CLUSTER MYID`, `CLIENT TRACKING ON REDIRECT
    /// <listener> NOLOOP`, `GET`, `PTTL`) pinned to that primary's
    /// connection and following no redirection ([`Route::options`]), and
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

/// With [`RedisConfig::client_tracking`]: on a single node the listener,
/// not connected yet, and its tasks started; on a cluster the tasks that
/// start the listeners once the pool knows the primaries. Call before the
/// pool connects.
fn start_tracking(config: &RedisConfig, settings: &Settings) -> Result<Option<Started>> {
    if !config.settings().client_tracking() {
        return Ok(None);
    }
    Tracking::start(
        &settings.pool,
        settings.server.as_str().into(),
        settings.command_timeout,
    )
    .map(Some)
}

/// Tells a tracked store's tiers that it changed some keys when dropped:
/// after the command's reply, or when the caller gave up on it (it may
/// still run). The server does not report a connection's own writes to it
/// (`NOLOOP`).
struct Changed<'a> {
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
fn command_options(timeout: Duration) -> Options {
    Options {
        fail_fast: true,
        timeout: Some(timeout),
        ..Options::default()
    }
}

/// Keeps the last error `client` reports while (re)connecting.
fn record_errors(
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

/// PINGs every connection each `interval`, so a connection dropped while
/// idle (by a proxy, say) is noticed, and replaced, before a caller needs
/// it.
fn health_check(pool: Pool, options: Options, interval: Duration) -> tokio::task::JoinHandle<()> {
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
struct Tasks(Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl fmt::Debug for FredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FredStore")
            .field("server", &self.server)
            .field("pool_size", &self.pool.size())
            .field("timeout", &self.options.timeout)
            .field("retry_on_timeout", &self.retry_on_timeout)
            .field("owns_connections", &self.tasks.is_some())
            .field("tracks_changes", &self.tracking.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for FredStore {
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Option<Entry>> {
        if !options.with_ttl {
            let value: Option<Bytes> = self
                .run(|client| async move { client.get(key).await })
                .await?;
            return Ok(value.map(Entry::new));
        }
        // Untracked once the server refused tracking.
        let tracking = self.tracking.as_deref().filter(|t| !t.is_refused());
        if let Some(tracking) = tracking.filter(|t| t.is_cluster()) {
            let (value, pttl) = self.read_on_cluster(tracking, key).await?;
            return Ok(value.map(|value| Entry::new(value).ttl(KeyTtl::from_pttl(pttl))));
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
        Ok(value.map(|value| Entry::new(value).ttl(KeyTtl::from_pttl(pttl))))
    }

    async fn write(&self, key: &str, value: Bytes, options: &WriteOptions) -> Result<()> {
        // One `SET key value [PX ms]`: value and expiry replaced in a
        // single step.
        let expiration = options.expire.map(command::expiration);
        let _changed = self.changing([key]);
        self.run(|client| {
            let (value, expiration) = (value.clone(), expiration.clone());
            async move { client.set(key, value, expiration, None, false).await }
        })
        .await
    }

    async fn remove(&self, key: &str, _: &RemoveOptions) -> Result<bool> {
        let _changed = self.changing([key]);
        let removed: u64 = self
            .run(|client| async move { client.del(key).await })
            .await?;
        Ok(removed > 0)
    }

    async fn delete_matching(&self, matching: &KeyMatch) -> Result<u64> {
        keyspace::delete_matching(self, matching).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let pttl: i64 = self
            .run(|client| async move { client.pttl(key).await })
            .await?;
        Ok(KeyTtl::from_pttl(pttl))
    }
}

impl Backend for FredStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .shared_health(true)
            .tracks_changes(self.tracking.as_deref().is_some_and(|t| !t.is_refused()))
    }

    fn health(&self) -> Option<Health> {
        Some(self.health.clone())
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        match &self.tracking {
            Some(tracking) => tracking.tracked().track(tier),
            None => Err(Error::config(
                "this FredStore does not track changes, so a local tier over it could serve \
                 values other processes changed: build it with \
                 RedisConfig::client_tracking(true), or use LocalTier::best_effort(true)",
            )),
        }
    }
}

impl Keyspace for FredStore {
    fn is_cluster(&self) -> bool {
        self.pool.is_clustered()
    }

    async fn cluster_nodes(&self) -> Result<String> {
        self.run(|client| async move {
            let command = CustomCommand::new_static("CLUSTER", ClusterHash::Random, false);
            client.custom(command, vec!["NODES"]).await
        })
        .await
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let options = Options {
            cluster_node: node.map(|(host, port)| (host.as_str(), *port).into()),
            ..self.options.clone()
        };
        let (next, keys): (String, Vec<Bytes>) = self
            .run_with(&options, |client| async move {
                let cursor = cursor.to_string();
                client
                    .scan_page(cursor, pattern, Some(SCAN_COUNT), None)
                    .await
            })
            .await?;
        let next = next
            .parse()
            .map_err(|e| Error::backend(BACKEND, format!("SCAN answered a bad cursor: {e}")))?;
        Ok((next, keys.into_iter().map(Vec::from).collect()))
    }

    /// A multi-key command must stay within one slot on a cluster: the
    /// keys are unlinked slot by slot.
    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        let _changed = self.changing(keys.iter().map(|key| String::from_utf8_lossy(key)));
        let keys: Vec<fred::types::Key> = keys
            .into_iter()
            .map(|key| Bytes::from(key).into())
            .collect();
        let batches: Vec<Vec<fred::types::Key>> = if self.pool.is_clustered() {
            let by_slot = fred::util::group_by_hash_slot(keys).map_err(backend_error)?;
            by_slot.into_values().map(Vec::from).collect()
        } else {
            vec![keys]
        };
        let mut removed = 0;
        for batch in batches {
            let unlinked: u64 = self
                .run(|client| {
                    let batch = batch.clone();
                    async move { client.unlink(batch).await }
                })
                .await?;
            removed += unlinked;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
