//! Where and how to reach Redis, as plain data.
//!
//! [`RedisConfig`] carries the reference's connection settings
//! (`dtpyfw.redis.config.RedisConfig`): a URL or host/port/db, credentials,
//! TLS, pool size, timeouts, keepalive, health checks and retries. It opens
//! no connection: a Redis backend turns it into a client. It builds the
//! connection URL the way the reference does, percent-encoding the username
//! and password, and keeps the password out of `Debug` output and out of
//! every error message.
//!
//! Two deliberate differences from the reference's URL: `/` in a username or
//! password is encoded too (Python's `quote` keeps it, which ends the URL's
//! authority early), and a password without a username is written
//! `:password@` (the reference's `password@` is read as a user name).

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use crate::{BreakerPolicy, Error, Health, Result};

/// The highest database index Redis accepts (`databases` is at most
/// `INT_MAX`).
const MAX_DB: u64 = i32::MAX as u64 - 1;

/// What `Debug` and redacted URLs print instead of a password.
const REDACTED: &str = "<redacted>";

/// Connection settings for a Redis backend: a `#[must_use]` builder whose
/// defaults are the reference's.
///
/// Give either a [`url`](Self::url) or [`host`](Self::host) /
/// [`port`](Self::port) / [`db`](Self::db) (default `127.0.0.1:6379`, db 0),
/// plus optional credentials and TLS. Mistakes are reported by
/// [`validate`](Self::validate) (which backends call before connecting) as
/// [`Error::Config`] with a message that says how to fix them.
///
/// `Debug` never shows the password, neither the one set with
/// [`password`](Self::password) nor one inside the URL.
///
/// ```
/// use std::time::Duration;
/// use memocache::RedisConfig;
///
/// let config = RedisConfig::new()
///     .host("cache.internal")
///     .port(6380)
///     .db(2)
///     .username("app")
///     .password("p@ss:w/rd")
///     .ssl(true)
///     .socket_timeout(Duration::from_secs(2));
/// assert_eq!(
///     config.connection_url().unwrap(),
///     "rediss://app:p%40ss%3Aw%2Frd@cache.internal:6380/2"
/// );
/// assert!(!format!("{config:?}").contains("p@ss"));
/// ```
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
pub struct RedisConfig {
    url: Option<String>,
    /// Seed node URLs of a Redis Cluster; empty for a single node.
    cluster: Vec<String>,
    sentinel: Option<Sentinel>,
    host: Option<String>,
    port: Option<u16>,
    db: Option<u64>,
    username: Option<String>,
    password: Option<String>,
    ssl: bool,
    ca_cert: Option<CaCert>,
    max_connections: usize,
    socket_timeout: Duration,
    connect_timeout: Duration,
    keepalive: bool,
    health_check_interval: Duration,
    retry_on_timeout: bool,
    circuit_breaker: Option<BreakerPolicy>,
    client_tracking: bool,
    /// A variable [`from_env`](RedisConfig::from_env) could not read:
    /// reported by [`validate`](RedisConfig::validate) and at connect.
    env_error: Option<String>,
    /// The settings [`from_env`](RedisConfig::from_env) read from a
    /// variable and no builder method replaced since: errors about them
    /// name the variable.
    env_settings: Vec<Setting>,
}

/// A setting given by a variable (to [`RedisConfig::from_env`]) or by a
/// builder method, so that an error about it can name where it came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setting {
    Url,
    Cluster,
    Sentinels,
    SentinelMaster,
    Host,
    Port,
    Db,
    Ssl,
    Username,
    Password,
}

impl Setting {
    /// The settings that name the server: with none of them set,
    /// [`RedisConfig::from_env`] falls back to `127.0.0.1:6379`.
    const SERVER: [Setting; 5] = [
        Setting::Url,
        Setting::Cluster,
        Setting::Sentinels,
        Setting::Host,
        Setting::Port,
    ];

    /// The variable [`RedisConfig::from_env`] reads it from.
    fn variable(self) -> &'static str {
        match self {
            Setting::Url => "REDIS_URL",
            Setting::Cluster => "REDIS_CLUSTER_URLS",
            Setting::Sentinels => "REDIS_SENTINEL_URLS",
            Setting::SentinelMaster => "REDIS_SENTINEL_MASTER",
            Setting::Host => "REDIS_HOST",
            Setting::Port => "REDIS_PORT",
            Setting::Db => "REDIS_DB",
            Setting::Ssl => "REDIS_SSL",
            Setting::Username => "REDIS_USERNAME",
            Setting::Password => "REDIS_PASSWORD",
        }
    }

    /// The builder method that sets it.
    fn method(self) -> &'static str {
        match self {
            Setting::Url => "url(...)",
            Setting::Cluster => "cluster(...)",
            Setting::Sentinels | Setting::SentinelMaster => "sentinel(...)",
            Setting::Host => "host(...)",
            Setting::Port => "port(...)",
            Setting::Db => "db(...)",
            Setting::Ssl => "ssl(true)",
            Setting::Username => "username(...)",
            Setting::Password => "password(...)",
        }
    }
}

/// Where a setting came from, as errors name it.
#[derive(Clone, Copy)]
struct Origin {
    setting: Setting,
    /// Read from its variable, rather than set by its builder method.
    variable: bool,
}

impl Origin {
    /// The variable or the builder method: `REDIS_PORT`, `port(...)`.
    fn name(self) -> &'static str {
        self.like(self.setting)
    }

    /// `other` named as this setting is: its variable if this one came
    /// from the environment, else its builder method (for the fix an error
    /// suggests).
    fn like(self, other: Setting) -> &'static str {
        if self.variable {
            other.variable()
        } else {
            other.method()
        }
    }

    /// A URL setting as a sentence names it: `REDIS_URL`, `the url`.
    fn url(self) -> &'static str {
        match (self.variable, self.setting) {
            (true, setting) => setting.variable(),
            (false, Setting::Cluster) => "the seed url",
            (false, Setting::Sentinels) => "the sentinel's url",
            (false, _) => "the url",
        }
    }

    /// ` in REDIS_X` for a setting read from a variable, else nothing.
    fn within(self) -> String {
        if self.variable {
            format!(" in {}", self.setting.variable())
        } else {
            String::new()
        }
    }
}

/// A primary found through Redis Sentinel.
#[derive(Clone)]
struct Sentinel {
    master: String,
    urls: Vec<String>,
}

/// A custom certificate authority for TLS.
#[derive(Clone)]
enum CaCert {
    Pem(Vec<u8>),
    File(PathBuf),
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            cluster: Vec::new(),
            sentinel: None,
            host: None,
            port: None,
            db: None,
            username: None,
            password: None,
            ssl: false,
            ca_cert: None,
            max_connections: 10,
            socket_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
            keepalive: true,
            health_check_interval: Duration::from_secs(15),
            retry_on_timeout: false,
            circuit_breaker: Some(BreakerPolicy::default()),
            client_tracking: false,
            env_error: None,
            env_settings: Vec::new(),
        }
    }
}

impl RedisConfig {
    /// The default settings: `127.0.0.1:6379`, db 0, no credentials, no TLS,
    /// 10 pooled connections, a 500 ms socket timeout and a 1 s connect
    /// timeout, TCP keepalive on, a health check after 15 s idle, no retry on
    /// timeout.
    ///
    /// The reference waits up to 5 s and retries; a cache had better give
    /// up early, since a miss only costs the function's own time: these
    /// defaults keep a sick Redis from slowing callers down.
    pub fn new() -> Self {
        Self::default()
    }

    /// Settings from the environment, as services configure Redis:
    /// `REDIS_URL` (`redis://[user:password@]host:port/db`, or `rediss://`
    /// for TLS), or else its parts `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`,
    /// `REDIS_USERNAME`, `REDIS_PASSWORD` and `REDIS_SSL` (`true`, `1` or
    /// `yes`); `REDIS_CLUSTER_URLS` (comma-separated seeds) for a cluster;
    /// `REDIS_SENTINEL_URLS` (comma-separated) and `REDIS_SENTINEL_MASTER`
    /// for a primary found through Sentinel (see
    /// [`sentinel`](Self::sentinel)).
    /// What is unset keeps its default (`127.0.0.1:6379`, db 0); with none
    /// of `REDIS_URL`, `REDIS_CLUSTER_URLS`, `REDIS_SENTINEL_URLS`,
    /// `REDIS_HOST` and `REDIS_PORT` set, it logs (a `warn` event, target
    /// `memocache`) that it falls back to `redis://127.0.0.1:6379/0`. A
    /// value that does not parse, or that [`validate`](Self::validate)
    /// refuses, makes every connect fail with an error naming the variable
    /// (never a password).
    ///
    /// ```
    /// # use memocache::RedisConfig;
    /// let config = RedisConfig::from_env().client_tracking(true);
    /// # let _ = config;
    /// ```
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`from_env`](Self::from_env) over `var`, which answers a
    /// variable's value.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let read = |setting: Setting| var(setting.variable());
        let mut config = RedisConfig::new();
        let mut unreadable = Vec::new();
        // The database and TLS of the data nodes: a single server's, or a
        // Sentinel primary's (a URL and a cluster's seeds carry their own).
        let mut node_parts = true;
        if let Some(seeds) = read(Setting::Cluster) {
            config = config
                .cluster(seeds.split(',').map(str::trim).filter(|s| !s.is_empty()))
                .read_from(Setting::Cluster);
            node_parts = false;
        } else if let Some(sentinels) = read(Setting::Sentinels) {
            let sentinels = sentinels
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty());
            match read(Setting::SentinelMaster) {
                Some(master) => {
                    config = config
                        .sentinel(master, sentinels)
                        .read_from(Setting::Sentinels)
                        .read_from(Setting::SentinelMaster);
                }
                None => unreadable
                    .push("REDIS_SENTINEL_MASTER (the master's name, with REDIS_SENTINEL_URLS)"),
            }
        } else if read(Setting::SentinelMaster).is_some() {
            unreadable.push("REDIS_SENTINEL_URLS (the sentinels, with REDIS_SENTINEL_MASTER)");
        } else if let Some(url) = read(Setting::Url) {
            config = config.url(url).read_from(Setting::Url);
            node_parts = false;
        } else {
            if let Some(host) = read(Setting::Host) {
                config = config.host(host).read_from(Setting::Host);
            }
            match read(Setting::Port).map(|port| port.trim().parse()) {
                Some(Ok(port)) => config = config.port(port).read_from(Setting::Port),
                Some(Err(_)) => unreadable.push("REDIS_PORT (a port number from 1 to 65535)"),
                None => {}
            }
        }
        if node_parts {
            match read(Setting::Db).map(|db| db.trim().parse()) {
                Some(Ok(db)) => config = config.db(db).read_from(Setting::Db),
                Some(Err(_)) => unreadable.push("REDIS_DB (a database number)"),
                None => {}
            }
            match read(Setting::Ssl).map(|ssl| ssl.trim().to_ascii_lowercase()) {
                Some(ssl) if ["true", "1", "yes"].contains(&ssl.as_str()) => {
                    config = config.ssl(true).read_from(Setting::Ssl);
                }
                Some(ssl) if ["false", "0", "no"].contains(&ssl.as_str()) => {}
                Some(_) => unreadable.push("REDIS_SSL (true or false)"),
                None => {}
            }
        }
        if let Some(username) = read(Setting::Username) {
            config = config.username(username).read_from(Setting::Username);
        }
        if let Some(password) = read(Setting::Password) {
            config = config.password(password).read_from(Setting::Password);
        }
        if !unreadable.is_empty() {
            config.env_error = Some(format!(
                "cannot read the environment's Redis settings: set {}",
                unreadable.join(", ")
            ));
        } else if !Setting::SERVER
            .iter()
            .any(|s| config.env_settings.contains(s))
        {
            // Warned, not just said: in production it means the settings
            // never reached the process, and the cache silently goes to
            // whatever listens on the local default port.
            let variables = Setting::SERVER.map(Setting::variable).join(", ");
            let server = config.redacted_url();
            tracing::warn!(
                target: "memocache",
                server = %server,
                variables = %variables,
                "RedisConfig::from_env: none of {variables} is set; falling back to {server} \
                 (set REDIS_URL to choose the server)"
            );
        }
        config
    }

    /// Marks `setting` as read from its variable.
    fn read_from(mut self, setting: Setting) -> Self {
        self.env_settings.push(setting);
        self
    }

    /// Marks `setting` as set by its builder method.
    fn set_by_hand(mut self, setting: Setting) -> Self {
        self.env_settings.retain(|s| *s != setting);
        self
    }

    /// Where `setting` came from, for errors about it.
    fn origin(&self, setting: Setting) -> Origin {
        Origin {
            setting,
            variable: self.env_settings.contains(&setting),
        }
    }

    /// Connects to this URL (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS) instead of host/port/db.
    ///
    /// Credentials in the URL must be percent-encoded; or leave them out and
    /// set [`username`](Self::username) / [`password`](Self::password),
    /// which are encoded for you.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self.set_by_hand(Setting::Url)
    }

    /// Connects to a Redis Cluster through these seed nodes (one is
    /// enough; the others are found from it), each written as a URL like
    /// [`url`](Self::url) takes, without a database (a cluster has only
    /// database 0). Keys are routed by the cluster's own slots, and
    /// redirections and topology changes are followed; credentials, TLS and
    /// timeouts apply to every node.
    pub fn cluster<I>(mut self, seed_urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.cluster = seed_urls.into_iter().map(Into::into).collect();
        self.set_by_hand(Setting::Cluster)
    }

    /// Whether this configuration names a cluster.
    pub fn is_cluster(&self) -> bool {
        !self.cluster.is_empty()
    }

    /// Finds the primary through Redis Sentinel: the master the sentinels
    /// monitor as `master_name`, asked of these sentinels (one is enough;
    /// give them all so that any one may be down), each a URL
    /// `redis://[user:password@]host:port`, or `rediss://` for TLS, with
    /// the *sentinels'* own credentials and TLS. The data nodes take theirs
    /// from this configuration: [`username`](Self::username),
    /// [`password`](Self::password), [`ssl`](Self::ssl), [`db`](Self::db);
    /// a CA certificate set here is trusted by both.
    ///
    /// The stores ask the sentinels for the primary when they connect and
    /// again when it fails over (a lost connection, a `READONLY` reply, or
    /// the sentinels' `+switch-master` event), and reconnect to the new
    /// primary by themselves.
    ///
    /// ```
    /// # use memocache::RedisConfig;
    /// let config = RedisConfig::new()
    ///     .sentinel("cache", ["redis://:sentinel-secret@10.0.0.1:26379", "redis://10.0.0.2:26379"])
    ///     .password("data-secret");
    /// assert_eq!(config.get_sentinel_master(), Some("cache"));
    /// assert_eq!(
    ///     config.node_url("10.0.0.5", 6379).unwrap(),
    ///     "redis://:data-secret@10.0.0.5:6379/0"
    /// );
    /// ```
    pub fn sentinel<I>(mut self, master_name: impl Into<String>, sentinel_urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.sentinel = Some(Sentinel {
            master: master_name.into(),
            urls: sentinel_urls.into_iter().map(Into::into).collect(),
        });
        self.set_by_hand(Setting::Sentinels)
            .set_by_hand(Setting::SentinelMaster)
    }

    /// Whether this configuration finds its primary through Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.sentinel.is_some()
    }

    /// The master's name the sentinels know it by, with
    /// [`sentinel`](Self::sentinel).
    pub fn get_sentinel_master(&self) -> Option<&str> {
        self.sentinel.as_ref().map(|s| s.master.as_str())
    }

    /// The sentinels' URLs, with their own credentials (they contain the
    /// sentinels' password: never log them, use
    /// [`redacted_url`](Self::redacted_url)).
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate), and when this configuration does not
    /// name a Sentinel master, names it with no sentinel or an empty name,
    /// or a sentinel URL selects a database.
    pub fn sentinel_urls(&self) -> Result<Vec<String>> {
        let Some(sentinel) = &self.sentinel else {
            return config_error(
                "this configuration names no Sentinel master: set sentinel(name, [...sentinel urls])",
            );
        };
        self.check_sentinel_exclusive()?;
        if sentinel.master.trim().is_empty() {
            return config_error(format!(
                "the Sentinel master's name{} is empty: give the name the sentinels monitor it by \
                 (`sentinel monitor <name> ...` in their configuration)",
                self.origin(Setting::SentinelMaster).within()
            ));
        }
        let origin = self.origin(Setting::Sentinels);
        if sentinel.urls.is_empty() {
            return config_error(format!(
                "no sentinel was given{}: list the sentinels' urls, redis://host:26379",
                origin.within()
            ));
        }
        self.check_limits()?;
        sentinel
            .urls
            .iter()
            .map(|url| {
                let parts = UrlParts::parse(url, origin)?;
                if !matches!(parts.scheme, "redis" | "rediss") {
                    return config_error(format!(
                        "a sentinel is reached over TCP: write {}{} as redis://host:26379 \
                         (or rediss:// for TLS)",
                        redact(url),
                        origin.within()
                    ));
                }
                let path = parts.rest.split_once('/').map_or("", |(_, db)| db);
                if !path.is_empty() {
                    return config_error(format!(
                        "a sentinel has no database, but {}{} selects /{path}: drop it from the \
                         sentinel's url and set {} for the data nodes",
                        redact(url),
                        origin.within(),
                        origin.like(Setting::Db)
                    ));
                }
                Ok(url.clone())
            })
            .collect()
    }

    /// The URL of the data node at `host:port` (as a sentinel reports the
    /// primary), with this configuration's credentials, TLS and database;
    /// it contains the password.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn node_url(&self, host: &str, port: u16) -> Result<String> {
        self.check_sentinel_exclusive()?;
        self.check_limits()?;
        let url = RedisConfig {
            host: Some(host.to_owned()),
            port: Some(port),
            sentinel: None,
            ..self.clone()
        }
        .url_from_parts()?;
        let sentinels_use_tls = self
            .sentinel
            .as_ref()
            .is_some_and(|s| s.urls.iter().any(|u| u.starts_with("rediss://")));
        if !sentinels_use_tls {
            self.check_tls(&url, self.origin(Setting::Ssl))?;
        }
        Ok(url)
    }

    /// With a Sentinel master, none of the other ways to name a server.
    fn check_sentinel_exclusive(&self) -> Result<()> {
        if self.sentinel.is_none() {
            return Ok(());
        }
        let sentinel = self.origin(Setting::Sentinels).name();
        if self.is_cluster() {
            return config_error(format!(
                "both {} and {sentinel} were set: a Redis Cluster needs no sentinels, keep one \
                 of them",
                self.origin(Setting::Cluster).name()
            ));
        }
        let servers = self.names_of_set(&[
            (Setting::Url, self.url.is_some()),
            (Setting::Host, self.host.is_some()),
            (Setting::Port, self.port.is_some()),
        ]);
        if !servers.is_empty() {
            return config_error(format!(
                "both {sentinel} and a server ({servers}) were set: the sentinels give the \
                 primary's address, drop {servers}"
            ));
        }
        Ok(())
    }

    /// The names of the settings that are set, `/`-separated:
    /// `REDIS_HOST/port(...)`.
    fn names_of_set(&self, settings: &[(Setting, bool)]) -> String {
        settings
            .iter()
            .filter(|(_, set)| *set)
            .map(|(setting, _)| self.origin(*setting).name())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The server's host name or IP address (default `127.0.0.1`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self.set_by_hand(Setting::Host)
    }

    /// The server's port (default 6379).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self.set_by_hand(Setting::Port)
    }

    /// The database index to select (default 0).
    pub fn db(mut self, db: u32) -> Self {
        self.db = Some(u64::from(db));
        self.set_by_hand(Setting::Db)
    }

    /// The ACL user name (Redis 6 and later).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.set_by_hand(Setting::Username)
    }

    /// The password: of the ACL user, or the server's `requirepass`.
    /// Never printed by `Debug` nor included in errors.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self.set_by_hand(Setting::Password)
    }

    /// Uses TLS (`rediss://`) with certificate verification when `true`;
    /// the stores need memocache's `tls` feature for it.
    pub fn ssl(mut self, ssl: bool) -> Self {
        self.ssl = ssl;
        self.set_by_hand(Setting::Ssl)
    }

    /// Trusts this certificate authority (PEM, one or more certificates)
    /// for TLS, instead of the system's roots.
    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_cert = Some(CaCert::Pem(pem.into()));
        self
    }

    /// Trusts the certificate authority in this PEM file for TLS, instead
    /// of the system's roots; the file is read when connecting.
    pub fn ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(CaCert::File(path.into()));
        self
    }

    /// The size of `RedisBlockingStore`'s connection pool (default 10).
    /// The async stores, and fred's blocking adapter, multiplex every
    /// caller over one connection (per cluster node) instead.
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// How long one command may wait for its reply (default 500 ms).
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.socket_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends TCP keepalive probes (after 15 s idle, every 5 s, 3 tries, as
    /// the reference does) when `true` (the default).
    pub fn keepalive(mut self, keepalive: bool) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Health checks every this long, so connections dropped by proxies
    /// when idle are noticed early (default 15 s; zero turns them off): the
    /// blocking pool PINGs a connection idle this long before reusing it,
    /// the async store PINGs its shared connection at this interval.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_check_interval = interval;
        self
    }

    /// Retries a command once when it timed out (default `false`: a retry
    /// doubles the wait on a sick server, and a miss is cheap).
    pub fn retry_on_timeout(mut self, retry: bool) -> Self {
        self.retry_on_timeout = retry;
        self
    }

    /// The circuit breaker of the store's health view, shared by every
    /// memoizer over the store and its clones (default
    /// [`BreakerPolicy::default`]); `None` for a breaker that never opens.
    /// A memoizer can still choose a breaker of its own
    /// ([`MemoizerBuilder::circuit_breaker`](crate::MemoizerBuilder::circuit_breaker)).
    pub fn circuit_breaker(mut self, policy: Option<BreakerPolicy>) -> Self {
        self.circuit_breaker = policy;
        self
    }

    /// Has the async store ask the server to report every change to the
    /// keys it reads (RESP3 `CLIENT TRACKING`), so that a memoizer's local
    /// tier over it stays true ([`Store::track_changes`](crate::Store::track_changes)).
    /// Needs Redis 6 or later (RESP3) and, for an ACL user, the
    /// `client|tracking` command; a server that refuses it is no error:
    /// the store caches without tracking, its local tiers stay off (a tier
    /// registered before a lazy store learned of the refusal is flushed
    /// and turned off), and the refusal is logged once per store. Default
    /// off. `RedisStore` tracks on a RESP3 connection of its own (on a
    /// cluster, switching tracking on with every read, at the node that
    /// serves it); `RedisBlockingStore` with tracking is that async store,
    /// driven on a runtime of its own. `FredStore` redirects its
    /// connections' invalidations to a RESP2 listener connection (one per
    /// primary on a cluster).
    pub fn client_tracking(mut self, on: bool) -> Self {
        self.client_tracking = on;
        self
    }

    /// The blocking pool's size.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// How long one command may wait for its reply.
    pub fn get_socket_timeout(&self) -> Duration {
        self.socket_timeout
    }

    /// How long opening a connection may take.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether TCP keepalive is on.
    pub fn get_keepalive(&self) -> bool {
        self.keepalive
    }

    /// The idle time after which a connection is PINGed, or `None` when
    /// health checks are off.
    pub fn get_health_check_interval(&self) -> Option<Duration> {
        Some(self.health_check_interval).filter(|interval| !interval.is_zero())
    }

    /// Whether a timed-out command is retried once.
    pub fn get_retry_on_timeout(&self) -> bool {
        self.retry_on_timeout
    }

    /// The store's circuit breaker policy.
    pub fn get_circuit_breaker(&self) -> Option<BreakerPolicy> {
        self.circuit_breaker
    }

    /// Whether the async store tracks changes for local tiers.
    pub fn get_client_tracking(&self) -> bool {
        self.client_tracking
    }

    /// A new health view for a store built from this configuration, with
    /// its circuit breaker.
    pub fn health(&self) -> Health {
        Health::new(self.circuit_breaker)
    }

    /// The custom certificate authority's PEM, read from its file if it was
    /// given as one; `None` means the system's roots.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read.
    pub fn get_ca_cert(&self) -> Result<Option<Vec<u8>>> {
        match &self.ca_cert {
            None => Ok(None),
            Some(CaCert::Pem(pem)) => Ok(Some(pem.clone())),
            Some(CaCert::File(path)) => std::fs::read(path).map(Some).map_err(|e| {
                Error::config_with_source(
                    format!(
                        "cannot read the CA certificate file {}; check ca_cert_file(...)",
                        path.display()
                    ),
                    e,
                )
            }),
        }
    }

    /// Checks the settings; what every backend does before connecting.
    ///
    /// # Errors
    ///
    /// [`Error::Config`], saying how to fix it, for an unparseable URL, a
    /// database index out of range, TLS asked for on a `redis://` URL, both
    /// a URL and host/port/db, credentials twice, a CA without TLS, a pool
    /// of zero connections or a zero timeout.
    pub fn validate(&self) -> Result<()> {
        if self.is_sentinel() {
            self.sentinel_urls()?;
            return self.node_url("127.0.0.1", 6379).map(drop);
        }
        if self.is_cluster() {
            self.cluster_urls().map(drop)
        } else {
            self.connection_url().map(drop)
        }
    }

    /// The URL to connect with, credentials percent-encoded.
    ///
    /// It contains the password: hand it to a client, never to a log (use
    /// [`redacted_url`](Self::redacted_url) there).
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn connection_url(&self) -> Result<String> {
        if self.is_sentinel() {
            return config_error(
                "this configuration names a Sentinel master: the stores ask its sentinels for \
                 the primary's address (sentinel_urls(), node_url(...)), not one url",
            );
        }
        if self.is_cluster() {
            return config_error(
                "this configuration names a cluster: connect with its cluster_urls(), not one url",
            );
        }
        self.check_limits()?;
        let (url, origin) = match &self.url {
            Some(url) => {
                let origin = self.origin(Setting::Url);
                (self.complete_url(url, origin)?, origin)
            }
            None => (self.url_from_parts()?, self.origin(Setting::Ssl)),
        };
        self.check_tls(&url, origin)?;
        Ok(url)
    }

    /// The cluster's seed node URLs, credentials percent-encoded; like
    /// [`connection_url`](Self::connection_url), they contain the password.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate), and when this configuration is not
    /// a cluster, a seed selects a database other than 0, or the seeds mix
    /// `redis://` and `rediss://`.
    pub fn cluster_urls(&self) -> Result<Vec<String>> {
        if !self.is_cluster() {
            return config_error(
                "this configuration names no cluster: set cluster([...seed urls])",
            );
        }
        let origin = self.origin(Setting::Cluster);
        if self.url.is_some() {
            return config_error(format!(
                "both {} and {} were set: give the seed nodes to {} alone",
                self.origin(Setting::Url).name(),
                origin.name(),
                origin.name()
            ));
        }
        self.check_limits()?;
        let urls = self
            .cluster
            .iter()
            .map(|seed| {
                let url = self.complete_url(seed, origin)?;
                let parts = UrlParts::parse(&url, origin)?;
                let db = parts.rest.split_once('/').map_or("", |(_, db)| db);
                if !matches!(db, "" | "0") {
                    return config_error(format!(
                        "a cluster has only database 0, but a seed selects /{db}: drop it from {}",
                        origin.url()
                    ));
                }
                self.check_tls(&url, origin)?;
                Ok(url)
            })
            .collect::<Result<Vec<_>>>()?;
        if urls.iter().any(|u| u.starts_with("rediss://"))
            && !urls.iter().all(|u| u.starts_with("rediss://"))
        {
            return config_error(format!(
                "the seed urls{} mix redis:// and rediss://: use one scheme for the whole cluster",
                origin.within()
            ));
        }
        Ok(urls)
    }

    fn check_limits(&self) -> Result<()> {
        if let Some(unreadable) = &self.env_error {
            return config_error(unreadable.clone());
        }
        if self.max_connections == 0 {
            return config_error("max_connections must be at least 1");
        }
        for (name, timeout) in [
            ("socket_timeout", self.socket_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if timeout.is_zero() {
                return config_error(format!("{name} must be more than zero"));
            }
        }
        Ok(())
    }

    /// Refuses a CA certificate for `url` without TLS; `origin` is where
    /// the url came from (the TLS setting, for one built from parts).
    fn check_tls(&self, url: &str, origin: Origin) -> Result<()> {
        if self.ca_cert.is_none() || url.starts_with("rediss://") {
            return Ok(());
        }
        if origin.variable && matches!(origin.setting, Setting::Url | Setting::Cluster) {
            return config_error(format!(
                "a CA certificate was set but TLS is off: write {} as rediss://",
                origin.name()
            ));
        }
        config_error("a CA certificate was set but TLS is off: use ssl(true) or a rediss:// url")
    }

    /// The connection URL with the password replaced, for logs and errors;
    /// a cluster's seeds or the sentinels, comma-separated.
    pub fn redacted_url(&self) -> String {
        if let Some(sentinel) = &self.sentinel {
            return sentinel
                .urls
                .iter()
                .map(|u| redact(u))
                .collect::<Vec<_>>()
                .join(",");
        }
        if self.is_cluster() {
            return match self.cluster_urls() {
                Ok(urls) => urls.iter().map(|u| redact(u)).collect::<Vec<_>>().join(","),
                Err(_) => self
                    .cluster
                    .iter()
                    .map(|u| redact(u))
                    .collect::<Vec<_>>()
                    .join(","),
            };
        }
        match (self.connection_url(), &self.url) {
            (Ok(url), _) => redact(&url),
            (Err(_), Some(url)) => redact(url),
            (Err(_), None) => "<invalid redis settings>".to_owned(),
        }
    }

    /// Builds `redis[s]://[user[:password]@]host:port/db` as the reference's
    /// `RedisInstance._set_redis_url` does.
    fn url_from_parts(&self) -> Result<String> {
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let named = self.origin(Setting::Host).name();
        if host.trim().is_empty() {
            return config_error(format!(
                "the host is empty: set {named} to the server's name or address"
            ));
        }
        if !is_host(
            host.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host),
        ) || host.contains(['/', '?', '#', '@'])
        {
            // Credentials written into the host are not repeated.
            let shown = if host.contains('@') {
                String::new()
            } else {
                format!(" `{host}`")
            };
            return config_error(format!(
                "the host{shown} in {named} is not a host name or IP address: set {named} to the \
                 server's name or address, without spaces or credentials"
            ));
        }
        let port = self.port.unwrap_or(6379);
        if port == 0 {
            return config_error(format!(
                "port 0 is not a Redis port: set {} to the server's port (Redis' default is \
                 6379)",
                self.origin(Setting::Port).name()
            ));
        }
        let db = self.db.unwrap_or(0);
        check_db(db, self.origin(Setting::Db).name())?;
        let scheme = if self.ssl { "rediss" } else { "redis" };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Ok(format!("{scheme}://{}{host}:{port}/{db}", self.userinfo()))
    }

    /// `user:password@`, `password@`, `user@` or nothing, percent-encoded.
    fn userinfo(&self) -> String {
        let username = self.username.as_deref().filter(|s| !s.is_empty());
        let password = self.password.as_deref().filter(|s| !s.is_empty());
        match (username, password) {
            (Some(user), Some(password)) => format!("{}:{}@", quote(user), quote(password)),
            (None, Some(password)) => format!(":{}@", quote(password)),
            (Some(user), None) => format!("{}@", quote(user)),
            (None, None) => String::new(),
        }
    }

    /// Checks a user's URL (from `origin`: the url or a cluster's seed)
    /// and adds the separately set credentials to it.
    fn complete_url(&self, url: &str, origin: Origin) -> Result<String> {
        let parts = self.names_of_set(&[
            (Setting::Host, self.host.is_some()),
            (Setting::Port, self.port.is_some()),
            (Setting::Db, self.db.is_some()),
        ]);
        if !parts.is_empty() {
            return config_error(format!(
                "both {} and {parts} were set: use the url alone, or {parts} alone",
                origin.name()
            ));
        }
        let url_parts = UrlParts::parse(url, origin)?;
        if self.ssl && url_parts.scheme != "rediss" {
            let ssl = self.origin(Setting::Ssl).name();
            return config_error(format!(
                "{ssl} conflicts with the {}:// scheme of {}: use a rediss:// url, or drop {ssl}",
                url_parts.scheme,
                origin.url()
            ));
        }
        let extra = self.userinfo();
        if extra.is_empty() {
            return Ok(url.to_owned());
        }
        if url_parts.userinfo.is_some() {
            let credentials = self.names_of_set(&[
                (
                    Setting::Username,
                    self.username.as_deref().is_some_and(|u| !u.is_empty()),
                ),
                (
                    Setting::Password,
                    self.password.as_deref().is_some_and(|p| !p.is_empty()),
                ),
            ]);
            return config_error(format!(
                "credentials were given twice, in {} and {credentials}: remove them from the \
                 url, or drop {credentials}",
                origin.url()
            ));
        }
        Ok(format!("{}://{extra}{}", url_parts.scheme, url_parts.rest))
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisConfig {
            url,
            cluster,
            sentinel,
            host,
            port,
            db,
            username,
            password,
            ssl,
            ca_cert,
            max_connections,
            socket_timeout,
            connect_timeout,
            keepalive,
            health_check_interval,
            retry_on_timeout,
            circuit_breaker,
            client_tracking,
            env_error,
            env_settings,
        } = self;
        f.debug_struct("RedisConfig")
            .field("url", &url.as_deref().map(redact))
            .field(
                "cluster",
                &cluster.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field(
                "sentinel",
                &sentinel.as_ref().map(|s| {
                    (
                        &s.master,
                        s.urls.iter().map(|u| redact(u)).collect::<Vec<_>>(),
                    )
                }),
            )
            .field("host", host)
            .field("port", port)
            .field("db", db)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| REDACTED))
            .field("ssl", ssl)
            .field(
                "ca_cert",
                &ca_cert.as_ref().map(|ca| match ca {
                    CaCert::Pem(pem) => format!("PEM, {} bytes", pem.len()),
                    CaCert::File(path) => format!("file {}", path.display()),
                }),
            )
            .field("max_connections", max_connections)
            .field("socket_timeout", socket_timeout)
            .field("connect_timeout", connect_timeout)
            .field("keepalive", keepalive)
            .field("health_check_interval", health_check_interval)
            .field("retry_on_timeout", retry_on_timeout)
            .field("circuit_breaker", circuit_breaker)
            .field("client_tracking", client_tracking)
            .field("env_error", env_error)
            .field(
                "env_settings",
                &env_settings
                    .iter()
                    .map(|s| s.variable())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn config_error<T>(message: impl Into<Cow<'static, str>>) -> Result<T> {
    Err(Error::config(message))
}

/// Refuses a database index out of Redis' range; `what` names where it
/// came from (`REDIS_DB`, `the url`).
fn check_db(db: u64, what: &str) -> Result<()> {
    if db > MAX_DB {
        return config_error(format!(
            "database index {db} in {what} is out of range: use a number from 0 to {MAX_DB} \
             (usually 0 to 15)"
        ));
    }
    Ok(())
}

/// Whether `host` (without an IPv6 address' brackets) has none of the
/// characters a URL's host cannot hold (spaces from a stray copy and paste,
/// say).
fn is_host(host: &str) -> bool {
    !host.contains(|c: char| c.is_whitespace() || c.is_control() || "<>[]\\^|".contains(c))
}

/// Percent-encodes everything but letters, digits and `-._~`, like Python's
/// `urllib.parse.quote` except that `/` is encoded too (the reference keeps
/// it, which makes a password with `/` end the URL's authority early).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A URL with its password replaced by `<redacted>`; as is if it has none.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, after)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{after}"),
        // A lone userinfo may be a password (the reference writes `password@`).
        None => format!("{scheme}://{REDACTED}@{after}"),
    }
}

/// The pieces of a Redis URL that configuration checks need.
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// Everything after the userinfo: host, port, path and query.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Checks `url`, which came from `origin` (errors name it).
    fn parse(url: &'a str, origin: Origin) -> Result<Self> {
        let what = origin.url();
        let Some((scheme, after_scheme)) = url.split_once("://") else {
            return config_error(format!(
                "{what} has no scheme: write it as redis://host:port/db (or rediss:// for TLS)"
            ));
        };
        if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
            return config_error(format!(
                "unsupported url scheme `{scheme}` in {what}: use redis:// or rediss:// (TLS)"
            ));
        }
        // The userinfo ends at the last `@`, so a raw `/` in a password is
        // caught below instead of silently ending the authority.
        let (userinfo, rest) = match after_scheme.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, after_scheme),
        };
        if userinfo.is_some_and(|u| u.contains(['/', '?', '#'])) {
            return config_error(format!(
                "the username or password in {what} contains a raw `/`, `?` or `#`: \
                 percent-encode it (%2F, %3F, %23), or set it with {}/{}, which encode it",
                origin.like(Setting::Username),
                origin.like(Setting::Password)
            ));
        }
        if scheme == "redis" || scheme == "rediss" {
            Self::check_tcp_address(rest, what)?;
        }
        Ok(UrlParts {
            scheme,
            userinfo,
            rest,
        })
    }

    /// Checks `host[:port][/db][?query]` of the url `what` names.
    fn check_tcp_address(rest: &str, what: &str) -> Result<()> {
        let (address, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let host_end = if address.starts_with('[') {
            address.find(']').map_or(address.len(), |i| i + 1)
        } else {
            address.find(':').unwrap_or(address.len())
        };
        let (host, port) = address.split_at(host_end);
        if host.is_empty() || host == "[]" {
            return config_error(format!(
                "{what} has no host: write it as redis://host:port/db"
            ));
        }
        if !is_host(host.strip_prefix('[').unwrap_or(host).trim_end_matches(']')) {
            return config_error(format!(
                "the host `{host}` in {what} is not a host name or IP address: write it as \
                 redis://host:port/db, without spaces"
            ));
        }
        if let Some(port) = port.strip_prefix(':')
            && !port.is_empty()
        {
            let message = format!(
                "the port `{port}` in {what} is not a port: use a number from 1 to 65535 (Redis' \
                 default is 6379)"
            );
            match port.parse::<u16>() {
                Ok(0) => return config_error(message),
                Ok(_) => {}
                Err(e) => return Err(Error::config_with_source(message, e)),
            }
        }
        let db = path
            .strip_prefix('/')
            .map(|p| p.split(['?', '#']).next().unwrap_or(""))
            .unwrap_or("");
        if !db.is_empty() {
            match db.parse::<u64>() {
                Ok(db) => check_db(db, what)?,
                Err(e) => {
                    return Err(Error::config_with_source(
                        format!(
                            "database `{db}` in {what} is out of range: use a number from 0 to \
                             {MAX_DB} (usually 0 to 15) after the port, as in redis://host:6379/0"
                        ),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> RedisConfig {
        RedisConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_environment_gives_the_url_or_its_parts() {
        assert_eq!(
            from(&[]).connection_url().unwrap(),
            RedisConfig::new().connection_url().unwrap()
        );
        let url = from(&[
            ("REDIS_URL", "redis://cache:6380/2"),
            ("REDIS_HOST", "ignored"),
        ]);
        assert_eq!(url.connection_url().unwrap(), "redis://cache:6380/2");
        let parts = from(&[
            ("REDIS_HOST", "cache.internal"),
            ("REDIS_PORT", "6390"),
            ("REDIS_DB", "3"),
            ("REDIS_USERNAME", "app"),
            ("REDIS_PASSWORD", "s3cret"),
            ("REDIS_SSL", "true"),
        ]);
        assert_eq!(
            parts.connection_url().unwrap(),
            "rediss://app:s3cret@cache.internal:6390/3"
        );
        let cluster = from(&[("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:7001")]);
        assert!(cluster.is_cluster());
        assert_eq!(cluster.cluster_urls().unwrap().len(), 2);
    }

    #[test]
    fn an_unreadable_variable_is_named_in_the_error() {
        let bad = from(&[
            ("REDIS_PORT", "sixty"),
            ("REDIS_SSL", "maybe"),
            ("REDIS_PASSWORD", "s3cret"),
        ]);
        let error = bad.validate().unwrap_err().to_string();
        assert!(
            error.contains("REDIS_PORT") && error.contains("REDIS_SSL"),
            "{error}"
        );
        assert!(
            !error.contains("sixty") && !error.contains("s3cret"),
            "{error}"
        );
        assert!(!format!("{bad:?}").contains("s3cret"));
    }

    fn message(result: Result<String>) -> String {
        match result {
            Err(error @ Error::Config(_)) => error.report().to_string(),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn mistakes_keep_the_error_that_revealed_them_as_source() {
        use std::error::Error as _;

        let error = RedisConfig::new()
            .ssl(true)
            .ca_cert_file("/nonexistent/ca.pem")
            .get_ca_cert()
            .unwrap_err();
        let source = error.source().expect("the file system's error");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(error.to_string().contains("check ca_cert_file"), "{error}");
        assert!(!error.to_string().contains(&source.to_string()), "{error}");

        for url in ["redis://u:s3cret@h:x/0", "redis://u:s3cret@h:1/x"] {
            let error = RedisConfig::new().url(url).connection_url().unwrap_err();
            let source = error.source().expect("the number's parse error");
            assert!(source.is::<std::num::ParseIntError>(), "{url}");
            assert!(!error.report().to_string().contains("s3cret"), "{url}");
        }
        let error = RedisConfig::new()
            .url("redis://h:0/0")
            .validate()
            .unwrap_err();
        assert!(error.source().is_none(), "{error:?}");
    }

    #[test]
    fn quote_matches_python_except_slash() {
        assert_eq!(quote("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
        assert_eq!(quote("a b~_.-!*()'é"), "a%20b~_.-%21%2A%28%29%27%C3%A9");
    }

    #[test]
    fn redact_hides_every_password_form() {
        assert_eq!(
            redact("redis://u:p%40w@h:1/0"),
            "redis://u:<redacted>@h:1/0"
        );
        assert_eq!(redact("rediss://:pw@h:1/0"), "rediss://:<redacted>@h:1/0");
        assert_eq!(redact("redis://pw@h:1/0"), "redis://<redacted>@h:1/0");
        assert_eq!(redact("redis://a:b/c@h:1/0"), "redis://a:<redacted>@h:1/0");
        assert_eq!(redact("redis://h:1/0"), "redis://h:1/0");
    }

    #[test]
    fn url_port_and_host_are_checked() {
        assert!(message(RedisConfig::new().url("redis://h:0/0").connection_url()).contains("port"));
        assert!(message(RedisConfig::new().url("redis://h:x/0").connection_url()).contains("port"));
        assert!(
            message(RedisConfig::new().url("redis://:6379/0").connection_url()).contains("host")
        );
        assert_eq!(
            RedisConfig::new()
                .url("redis://[::1]:7000/3")
                .connection_url()
                .unwrap(),
            "redis://[::1]:7000/3"
        );
    }

    #[test]
    fn a_sentinel_master_gives_each_side_its_own_credentials_and_tls() {
        let config = RedisConfig::new()
            .sentinel(
                "cache",
                ["rediss://:s%40nt@10.0.0.1:26379", "redis://10.0.0.2:26379"],
            )
            .username("app")
            .password("d@ta")
            .ssl(true)
            .db(3);
        config.validate().unwrap();
        assert!(config.is_sentinel() && !config.is_cluster());
        assert_eq!(config.get_sentinel_master(), Some("cache"));
        assert_eq!(
            config.sentinel_urls().unwrap(),
            ["rediss://:s%40nt@10.0.0.1:26379", "redis://10.0.0.2:26379"]
        );
        assert_eq!(
            config.node_url("10.0.0.9", 6380).unwrap(),
            "rediss://app:d%40ta@10.0.0.9:6380/3"
        );
        let shown = format!("{config:?} {}", config.redacted_url());
        assert!(
            !shown.contains("s%40nt") && !shown.contains("d@ta"),
            "{shown}"
        );
        assert!(message(config.connection_url()).contains("Sentinel"));
    }

    #[test]
    fn sentinel_mistakes_say_how_to_fix_them() {
        let sentinels = ["redis://10.0.0.1:26379"];
        for (config, expected) in [
            (RedisConfig::new().sentinel("", sentinels), "name is empty"),
            (
                RedisConfig::new().sentinel("cache", Vec::<String>::new()),
                "no sentinel",
            ),
            (
                RedisConfig::new().sentinel("cache", ["redis://10.0.0.1:26379/2"]),
                "has no database",
            ),
            (
                RedisConfig::new()
                    .sentinel("cache", sentinels)
                    .url("redis://h:1/0"),
                "drop url",
            ),
            (
                RedisConfig::new().sentinel("cache", sentinels).host("h"),
                "drop host",
            ),
            (
                RedisConfig::new()
                    .sentinel("cache", sentinels)
                    .cluster(["redis://h:1"]),
                "keep one",
            ),
            (
                RedisConfig::new()
                    .sentinel("cache", sentinels)
                    .ca_cert_pem("pem"),
                "TLS is off",
            ),
        ] {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
        // A CA for TLS to the sentinels only is fine.
        RedisConfig::new()
            .sentinel("cache", ["rediss://10.0.0.1:26379"])
            .ca_cert_pem("pem")
            .validate()
            .unwrap();
    }

    #[test]
    fn the_environment_names_a_sentinel_master() {
        let config = from(&[
            ("REDIS_SENTINEL_URLS", "redis://s1:26379, redis://s2:26379"),
            ("REDIS_SENTINEL_MASTER", "cache"),
            ("REDIS_PASSWORD", "pw"),
            ("REDIS_DB", "2"),
        ]);
        assert_eq!(config.get_sentinel_master(), Some("cache"));
        assert_eq!(config.sentinel_urls().unwrap().len(), 2);
        assert_eq!(config.node_url("h", 1).unwrap(), "redis://:pw@h:1/2");
        let error = from(&[("REDIS_SENTINEL_URLS", "redis://s1:26379")])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("REDIS_SENTINEL_MASTER"), "{error}");
    }

    /// The configuration error of `config`, as a log line shows it.
    fn config_error(config: &RedisConfig) -> String {
        match config.validate() {
            Err(error @ Error::Config(_)) => error.report().to_string(),
            other => panic!("expected a configuration error for {config:?}, got {other:?}"),
        }
    }

    #[test]
    fn every_environment_mistake_names_its_variable() {
        let sentinel = |urls| {
            [
                ("REDIS_SENTINEL_URLS", urls),
                ("REDIS_SENTINEL_MASTER", "cache"),
            ]
        };
        /// The variables, and what the error must say.
        type Case = (Vec<(&'static str, &'static str)>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            (
                vec![("REDIS_URL", "redis://app:s3cret@host:notaport/0")],
                &["REDIS_URL", "1 to 65535"],
            ),
            (
                vec![("REDIS_URL", "localhost:6379")],
                &["REDIS_URL has no scheme"],
            ),
            (
                vec![("REDIS_URL", "http://s3cret@h:6379")],
                &["REDIS_URL: use redis://"],
            ),
            (
                vec![("REDIS_URL", "redis://:s3cret@:6379/0")],
                &["REDIS_URL has no host"],
            ),
            (
                vec![("REDIS_URL", "redis://h:6379/abc")],
                &["in REDIS_URL is out of range"],
            ),
            (
                vec![("REDIS_URL", "redis://h:6379/99999999999")],
                &["in REDIS_URL is out of range"],
            ),
            (
                vec![("REDIS_URL", "redis://cache .internal:6379/0")],
                &["in REDIS_URL is not a host"],
            ),
            (
                vec![("REDIS_URL", "redis://app:s3c/ret@h:6379/0")],
                &[
                    "in REDIS_URL contains a raw",
                    "REDIS_USERNAME/REDIS_PASSWORD",
                ],
            ),
            (
                vec![
                    ("REDIS_URL", "redis://app:s3cret@h:6379/0"),
                    ("REDIS_PASSWORD", "0ther"),
                ],
                &["in REDIS_URL and REDIS_PASSWORD", "drop REDIS_PASSWORD"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:x")],
                &["in REDIS_CLUSTER_URLS"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000/2")],
                &["drop it from REDIS_CLUSTER_URLS"],
            ),
            (
                vec![("REDIS_CLUSTER_URLS", "redis://a:7000,rediss://b:7001")],
                &["seed urls in REDIS_CLUSTER_URLS mix"],
            ),
            (
                vec![
                    ("REDIS_CLUSTER_URLS", "redis://:s3cret@a:7000"),
                    ("REDIS_PASSWORD", "0ther"),
                ],
                &["in REDIS_CLUSTER_URLS and REDIS_PASSWORD"],
            ),
            (
                sentinel("redis://:s3cret@s1:x").to_vec(),
                &["in REDIS_SENTINEL_URLS"],
            ),
            (
                sentinel("redis://s1:26379/2").to_vec(),
                &["s1:26379/2 in REDIS_SENTINEL_URLS", "set REDIS_DB"],
            ),
            (
                sentinel("unix:///tmp/s.sock").to_vec(),
                &["in REDIS_SENTINEL_URLS as redis://"],
            ),
            (sentinel(" , ").to_vec(), &["given in REDIS_SENTINEL_URLS"]),
            (
                vec![
                    ("REDIS_SENTINEL_URLS", "redis://s1:26379"),
                    ("REDIS_SENTINEL_MASTER", " "),
                ],
                &["name in REDIS_SENTINEL_MASTER is empty"],
            ),
            (
                vec![("REDIS_SENTINEL_MASTER", "cache")],
                &["set REDIS_SENTINEL_URLS"],
            ),
            (
                [
                    sentinel("redis://s1:26379").as_slice(),
                    &[("REDIS_DB", "2147483647")],
                ]
                .concat(),
                &["in REDIS_DB is out of range"],
            ),
            (
                vec![("REDIS_HOST", "cache.internal ")],
                &["in REDIS_HOST is not a host"],
            ),
            (
                vec![("REDIS_HOST", "cache/0")],
                &["in REDIS_HOST is not a host"],
            ),
            (
                vec![("REDIS_HOST", "app:s3cret@cache")],
                &["the host in REDIS_HOST is not a host"],
            ),
            (vec![("REDIS_PORT", "0")], &["set REDIS_PORT to"]),
            (vec![("REDIS_PORT", "70000")], &["set REDIS_PORT ("]),
            (
                vec![("REDIS_DB", "2147483647")],
                &["in REDIS_DB is out of range"],
            ),
            (vec![("REDIS_DB", "two")], &["set REDIS_DB ("]),
            (vec![("REDIS_SSL", "maybe")], &["set REDIS_SSL ("]),
        ];
        for (vars, expected) in cases {
            let message = config_error(&from(&vars));
            for fragment in expected {
                assert!(
                    message.contains(fragment),
                    "{fragment:?} not in {message:?}"
                );
            }
            assert!(!message.contains("s3c"), "{message}");
        }
    }

    #[test]
    fn a_url_error_from_the_environment_names_the_variable_with_its_cause() {
        use std::error::Error as _;

        let error = from(&[("REDIS_URL", "redis://app:s3cret@host:notaport/0")])
            .validate()
            .unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "invalid configuration: the port `notaport` in REDIS_URL is not a port: use a \
             number from 1 to 65535 (Redis' default is 6379)"
        );
        assert!(
            error
                .source()
                .is_some_and(|e| e.is::<std::num::ParseIntError>())
        );
    }

    #[test]
    fn settings_made_by_hand_name_the_builder_methods() {
        for (config, expected) in [
            (
                RedisConfig::new().url("redis://h:x/0"),
                "in the url is not a port",
            ),
            (
                // A builder method replaces what the environment said.
                from(&[("REDIS_URL", "redis://h:1/0")]).url("redis://h:x/0"),
                "in the url is not a port",
            ),
            (
                from(&[("REDIS_HOST", "h")]).url("redis://h:1/0"),
                "both url(...) and REDIS_HOST were set",
            ),
            (
                RedisConfig::new().url("redis://u:p@h:1/0").password("q"),
                "in the url and password(...)",
            ),
            (
                RedisConfig::new().cluster(["redis://a:1/2"]),
                "drop it from the seed url",
            ),
            (RedisConfig::new().port(0), "set port(...) to"),
            (RedisConfig::new().host("a b"), "in host(...) is not a host"),
            (
                RedisConfig::new().db(u32::MAX),
                "in db(...) is out of range",
            ),
            (
                RedisConfig::new().sentinel("cache", ["redis://s:1/2"]),
                "set db(...) for the data nodes",
            ),
        ] {
            let message = config_error(&config);
            assert!(
                message.contains(expected),
                "{expected:?} not in {message:?}"
            );
            assert!(!message.contains("REDIS_URL"), "{message}");
        }
    }

    /// The events at `info` and above logged on this thread while `run`
    /// runs: each one's level and fields (`name=value`, the message's
    /// name left out).
    fn logged(run: impl FnOnce()) -> Vec<(tracing::Level, String)> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

        type Events = Arc<Mutex<Vec<(tracing::Level, String)>>>;
        struct Recorder(Events);
        impl<S: tracing::Subscriber> Layer<S> for Recorder {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                let level = *event.metadata().level();
                if level > tracing::Level::INFO {
                    return;
                }
                let mut text = String::new();
                event.record(
                    &mut |field: &tracing::field::Field, value: &dyn fmt::Debug| {
                        match field.name() {
                            "message" => write!(text, "{value:?}"),
                            name => write!(text, " {name}={value:?}"),
                        }
                        .expect("writing to a String");
                    },
                );
                self.0.lock().unwrap().push((level, text));
            }
        }
        let events = Events::default();
        let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&events)));
        tracing::subscriber::with_default(subscriber, run);
        events.lock().unwrap().clone()
    }

    #[test]
    fn with_no_server_set_the_fall_back_is_logged_once() {
        let events = logged(|| drop(from(&[])));
        assert_eq!(events.len(), 1, "{events:?}");
        let (level, line) = &events[0];
        assert_eq!(*level, tracing::Level::WARN);
        assert!(
            line.starts_with(
                "RedisConfig::from_env: none of REDIS_URL, REDIS_CLUSTER_URLS, \
                 REDIS_SENTINEL_URLS, REDIS_HOST, REDIS_PORT is set; falling back to \
                 redis://127.0.0.1:6379/0 (set REDIS_URL to choose the server)"
            ),
            "{line}"
        );
        assert!(line.contains(" server=redis://127.0.0.1:6379/0"), "{line}");

        // Credentials alone: still the default server, its password hidden.
        let events = logged(|| drop(from(&[("REDIS_PASSWORD", "s3cret"), ("REDIS_DB", "2")])));
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].1.contains("redis://:<redacted>@127.0.0.1:6379/2")
                && !events[0].1.contains("s3cret"),
            "{events:?}"
        );

        for named in [
            &[("REDIS_URL", "redis://cache:6379/0")][..],
            &[("REDIS_CLUSTER_URLS", "redis://a:7000")],
            &[
                ("REDIS_SENTINEL_URLS", "redis://s:26379"),
                ("REDIS_SENTINEL_MASTER", "m"),
            ],
            &[("REDIS_HOST", "cache")],
            &[("REDIS_PORT", "6380")],
            // Refused at connect, with an error naming the variable.
            &[("REDIS_PORT", "sixty")],
            &[("REDIS_SENTINEL_MASTER", "m")],
        ] {
            let events = logged(|| drop(from(named)));
            assert!(events.is_empty(), "{named:?}: {events:?}");
        }
    }
}
