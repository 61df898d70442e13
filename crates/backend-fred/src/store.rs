//! The async store: [`FredStore`] (fred clients that reconnect by
//! themselves), its constructors and accessors, and the [`Store`] and
//! [`Backend`] it is. How it sends commands is in [`crate::command`], the
//! keyspace sweep in [`crate::keyspace`], the health check in
//! [`crate::health`], change tracking in [`crate::tracking`].

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use fred::clients::{Client, Pipeline, Pool};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::Value;
use fred::types::config::Options;
use memocache_core::{
    Backend, Bytes, Capabilities, Entry, Error, Health, Invalidations, KeyMatch, KeyTtl,
    LockRequest, ReadOptions, RemoveOptions, Result, Store, WriteOptions, async_trait,
};
use memocache_redis_plumbing::announce;
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::driven::{Driven, StoreRuntime};
use memocache_redis_plumbing::refusal;
use memocache_redis_plumbing::{keyspace, lock};

use crate::blocking::FredBlockingStore;
use crate::command::{self, command_options, record_errors};
use crate::connect::{self, BACKEND, Settings, backend_error, unreachable};
use crate::health::{Tasks, health_check};
use crate::sentinel::{Followers, Sentinels};
use crate::tracking::{self, Route, Started, Tracking};

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
    pub(crate) pool: Pool,
    /// Applied to every command: fail fast, and the command timeout.
    pub(crate) options: Options,
    pub(crate) retry_on_timeout: bool,
    /// `host:port` (never credentials), for errors.
    pub(crate) server: Arc<str>,
    /// The last error the clients reported while (re)connecting.
    pub(crate) last_error: Arc<Mutex<Option<String>>>,
    /// The background tasks this store started; `None` for a pool of the
    /// caller's own.
    tasks: Option<Arc<Tasks>>,
    health: Health,
    /// With [`RedisConfig::client_tracking`]: the listener's state and the
    /// tiers reported to.
    pub(crate) tracking: Option<Arc<Tracking>>,
    /// With [`RedisConfig::sentinel`]: the clients to reconnect when the
    /// primary is found demoted (a `READONLY` reply).
    pub(crate) followers: Option<Arc<Followers>>,
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
            return Err(unreachable(server, source));
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
            .map_err(|source| unreachable(server, source))?;
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
        let store = Self::over_pool(pool);
        announce::built_on("FredStore", BACKEND, &store.server);
        store
    }

    /// [`from_pool`](Self::from_pool) without the log line naming the
    /// server.
    fn over_pool(pool: Pool) -> Self {
        let timeout = Some(pool.perf_config().default_command_timeout)
            .filter(|timeout| !timeout.is_zero())
            .unwrap_or_else(|| RedisConfig::default().settings().socket_timeout());
        let server = connect::hosts(&pool.client_config());
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
    /// [`from_pool`](Self::from_pool) makes one over a pool, after
    /// connecting the client (`init`) unless it is connected already (as
    /// `RedisStore::from_client` connects). The connection stays the
    /// client's: dropping the store does not close it (`quit` does). Must
    /// run inside a tokio runtime. Logs once, at `info`, the client's
    /// server.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when the client cannot connect
    /// (as [`connect`](Self::connect) gives); [`Error::Config`] when fred
    /// cannot make a pool of the client.
    pub async fn from_client(client: Client) -> Result<Self> {
        let store = Self::from_client_quietly(client).await?;
        announce::built_on("FredStore", BACKEND, &store.server);
        Ok(store)
    }

    /// [`from_client`](Self::from_client) without the log line naming the
    /// server: for the blocking adapter over it, which logs its own.
    pub(crate) async fn from_client_quietly(client: Client) -> Result<Self> {
        if !client.is_connected() {
            let config = client.client_config();
            client.init().await.map_err(|source| {
                let server = connect::over_tls(connect::hosts(&config), config.uses_tls());
                unreachable(server, source)
            })?;
        }
        let pool = Pool::from_clients(vec![client])
            .map_err(|e| Error::config_with_source("cannot pool the client", e))?;
        Ok(Self::over_pool(pool))
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
        let (value, pttl) = self.get_with_pttl(key).await?;
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

    async fn lock(&self, key: &str, request: &LockRequest<'_>) -> Result<bool> {
        Ok(lock::held(self.eval(&lock::script(key, request)).await?))
    }
}

impl Backend for FredStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn system(&self) -> &'static str {
        connect::SYSTEM
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .ttl_in_read(true)
            .shared_health(true)
            .tracks_changes(self.tracking.as_deref().is_some_and(|t| !t.is_refused()))
            .locks(true)
    }

    fn health(&self) -> Option<Health> {
        Some(self.health.clone())
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        match &self.tracking {
            Some(tracking) => tracking.tracked().track(tier),
            None => Err(refusal::not_tracking("FredStore")),
        }
    }
}
