//! Turning a [`RedisConfig`] into a fred pool, and the errors of doing so;
//! every store built from settings goes through here.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::types::config::{
    ClusterDiscoveryPolicy, Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy,
    ServerConfig, TcpConfig, UnresponsiveConfig,
};
use memocache_core::{BoxError, ConfigError, Error, Result};
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::failure::ConnectError;
use memocache_redis_plumbing::tls::require_tls_support;
use socket2::TcpKeepalive;

use crate::sentinel::Sentinels;

/// The backend's name in errors and logs.
pub(crate) const BACKEND: &str = "fred";

/// The database system, as OpenTelemetry's `db.system.name` names it.
pub(crate) const SYSTEM: &str = "redis";

/// The first reconnection attempt waits this long (plus jitter); each next
/// one twice as long, up to [`RECONNECT_MAX_DELAY_MS`].
const RECONNECT_MIN_DELAY_MS: u32 = 50;

/// The longest wait between two reconnection attempts: a server that is
/// back is used again within about this long.
const RECONNECT_MAX_DELAY_MS: u32 = 1_000;

/// How many fred clients a store built from a [`RedisConfig`] pools. One
/// client multiplexes every caller over one connection (per cluster node)
/// and pipelines what they send at once, as redis-rs' `RedisStore` does; on
/// the benchmark machine a pool of ten did half the hits per second of one
/// at 64 concurrent callers (each connection carried fewer commands per
/// write and read). A pool of your own goes through
/// [`FredStore::from_pool`](crate::FredStore::from_pool).
const CLIENTS: usize = 1;

/// Wraps a fred error (which never carries the password).
pub(crate) fn backend_error(error: impl Into<BoxError>) -> Error {
    Error::backend(BACKEND, error)
}

/// A pool built from a [`RedisConfig`], not yet connected, and what the
/// store needs to know about it.
pub(crate) struct Settings {
    pub(crate) pool: Pool,
    /// Each command's timeout (the socket timeout).
    pub(crate) command_timeout: Duration,
    pub(crate) retry_on_timeout: bool,
    pub(crate) health_check_interval: Option<Duration>,
    /// `host:port` (or the Sentinel master's name and its sentinels), plus
    /// ` over TLS`: for errors, never with credentials.
    pub(crate) server: String,
    /// The store's health view, with the configured circuit breaker.
    pub(crate) health: memocache_core::Health,
    /// The sentinels of a primary found through Sentinel.
    pub(crate) sentinels: Option<Arc<Sentinels>>,
}

/// Builds the pool for `config`: one client (see [`CLIENTS`]) with its
/// URL, credentials, database, TLS, timeouts, keepalive and a reconnection
/// policy that never gives up. Opens no connection.
///
/// With `fail_fast`, a first connection that fails is reported to whoever
/// connects; without it the clients keep trying in the background.
///
/// For a primary found through Sentinel the pool is fred's
/// `ServerConfig::Sentinel` over `sentinels` (built from `config`, in its
/// order, when `None`): each connection asks the sentinels for the
/// primary, checks its `ROLE` and uses the data nodes' credentials, TLS and
/// database (see [`Sentinels`]).
///
/// On a cluster the pool follows no `MOVED` or `ASK` redirection
/// (`max_redirections: 0`): a command a node answers with one fails, fred
/// updates its routing after a `MOVED`, and the store sends the command
/// once more itself (`command::redirected`). With one write attempt per
/// command fred would re-send no redirected command anyway
/// (`write_command`'s `decr_check_attempted` fails), and with
/// redirections left an `ASK` ends fred's router task for good
/// (`process_ask` cannot send `ASKING` without attempts left, and its
/// error stops the router), so the client never connects again. A tracked
/// read relies on it too: it must be served by the node whose listener
/// its `CLIENT TRACKING` names, or fail (see
/// [`crate::tracking::Route::options`]); fred cannot be told so per
/// command (a command's 0 means "the connection's default").
pub(crate) fn settings(
    config: &RedisConfig,
    fail_fast: bool,
    sentinels: Option<Sentinels>,
) -> Result<Settings> {
    let sentinels = match sentinels {
        None if config.is_sentinel() => Some(Sentinels::new(config)?),
        sentinels => sentinels,
    };
    let (mut fred_config, server) = match &sentinels {
        Some(sentinels) => sentinels.fred_config()?,
        None => server_config(config)?,
    };
    fred_config.fail_fast = fail_fast;
    let clustered = fred_config.server.is_clustered();
    let pool = Pool::new(
        fred_config,
        Some(performance(config)),
        Some(connection(config, clustered)),
        Some(reconnect_policy()),
        CLIENTS,
    )
    .map_err(|e| Error::config_with_source("fred cannot build the connection pool", e))?;
    Ok(Settings {
        pool,
        command_timeout: config.settings().socket_timeout(),
        retry_on_timeout: config.settings().retry_on_timeout(),
        health_check_interval: config.settings().health_check_interval(),
        server,
        health: config.health(),
        sentinels: sentinels.map(Arc::new),
    })
}

/// fred's settings for `config`'s single node or cluster, and how errors
/// name it.
fn server_config(config: &RedisConfig) -> Result<(Config, String)> {
    // A cluster: the first seed gives the credentials and TLS (they are the
    // same on every node), all seeds the hosts to discover the cluster from.
    let seeds = if config.is_cluster() {
        Some(config.cluster_urls()?)
    } else {
        None
    };
    let url = match &seeds {
        Some(seeds) => seeds[0].clone(),
        None => config.connection_url()?,
    };
    let (mut fred_config, tls) = url_config(config, &url, &config.redacted_url())?;
    if let Some(seeds) = &seeds {
        let hosts = seeds
            .iter()
            .map(|seed| {
                let plain = seed.replacen("rediss://", "redis://", 1);
                let refused = || {
                    ConfigError::new(format!(
                        "fred cannot use the cluster seed {}: write it as redis://host:port",
                        config.redacted_url()
                    ))
                };
                match Config::from_url_centralized(&plain).map(|c| c.server) {
                    Ok(ServerConfig::Centralized { server }) => Ok(server),
                    Ok(_) => Err(refused().into()),
                    Err(e) => Err(refused().with_source(e).into()),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        fred_config.server = ServerConfig::Clustered {
            hosts,
            // Rediscover the cluster from the seeds and every node it last
            // knew: with fred's default (the seeds only), a client whose
            // seeds all died in a failover never reconnects.
            policy: ClusterDiscoveryPolicy::UseCache,
        };
    }
    let server = match &fred_config.server {
        ServerConfig::Centralized { server } => server.to_string(),
        other => format!("{:?}", other.hosts()),
    };
    Ok((fred_config, over_tls(server, tls)))
}

/// fred's settings for the single server at `url` (shown as `shown` in
/// errors: no password), with `config`'s TLS settings, and whether it is
/// reached over TLS.
pub(crate) fn url_config(config: &RedisConfig, url: &str, shown: &str) -> Result<(Config, bool)> {
    require_tls_support(url, cfg!(feature = "tls"))?;
    let (tls, plain_url) = match url.split_once("://") {
        Some(("redis", _)) => (false, url.to_owned()),
        // Parsed as redis:// so that fred does not build its own TLS
        // settings (system roots, process-wide crypto provider); ours are
        // set below.
        Some(("rediss", rest)) => (true, format!("redis://{rest}")),
        _ => {
            return Err(Error::config(
                "the fred backend connects over TCP only: use a redis:// or rediss:// url \
                 (unix sockets are not supported)",
            ));
        }
    };
    let mut fred_config = Config::from_url_centralized(&plain_url).map_err(|e| {
        let message = match e.kind() {
            fred::error::ErrorKind::Parse => format!(
                "fred cannot select the database in {shown}: fred takes database indexes \
                 from 0 to 255"
            ),
            _ => format!(
                "fred cannot use the redis url {shown}: write it as \
                 redis://[user:password@]host:port/db, or rediss:// for TLS"
            ),
        };
        Error::config_with_source(message, e)
    })?;
    if let ServerConfig::Centralized { server } = &mut fred_config.server {
        // The url crate keeps an IPv6 host's brackets; a socket address
        // must not have them.
        if let Some(bare) = server
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
        {
            server.host = bare.into();
        }
    }
    // Without the feature, `tls` is false: rediss:// was refused above.
    if tls {
        #[cfg(feature = "tls")]
        {
            fred_config.tls = Some(tls::connector(config.ca_cert()?)?.into());
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = config;
    Ok((fred_config, tls))
}

/// How errors and logs name the servers of a fred client or pool of the
/// caller's own (`config`): `host:port` each, comma-separated, never
/// credentials.
pub(crate) fn hosts(config: &Config) -> String {
    config
        .server
        .hosts()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// How errors name a server: `server`, plus ` over TLS` when `tls`.
pub(crate) fn over_tls(server: String, tls: bool) -> String {
    if tls {
        format!("{server} over TLS")
    } else {
        server
    }
}

/// A client of its own (not the pool's) for the server at `url` (`shown`
/// in errors), in RESP2, with `config`'s timeouts, keepalive and CA: with
/// `reconnect`, it reconnects forever in the background, as the pool does;
/// without it, a first connection that fails is an error and a lost one
/// is not replaced. Opens no connection.
///
/// # Errors
///
/// [`Error::Config`] for a `url` fred refuses.
pub(crate) fn own_client(
    config: &RedisConfig,
    url: &str,
    reconnect: bool,
    shown: &str,
) -> Result<Client> {
    let (mut fred_config, _) = url_config(config, url, shown)?;
    fred_config.fail_fast = !reconnect;
    Ok(Client::new(
        fred_config,
        Some(performance(config)),
        Some(connection(config, false)),
        reconnect.then(reconnect_policy),
    ))
}

/// Every command gives up after the socket timeout.
fn performance(config: &RedisConfig) -> PerformanceConfig {
    PerformanceConfig {
        default_command_timeout: config.settings().socket_timeout(),
        ..PerformanceConfig::default()
    }
}

/// Retries forever in the background, so a server that comes back is used
/// again; commands never wait for it (they fail fast meanwhile).
fn reconnect_policy() -> ReconnectPolicy {
    ReconnectPolicy::new_exponential(0, RECONNECT_MIN_DELAY_MS, RECONNECT_MAX_DELAY_MS, 2)
}

/// The connections' settings: `config`'s timeouts and keepalive, one write
/// attempt per command and, on a cluster, no redirection followed.
fn connection(config: &RedisConfig, clustered: bool) -> ConnectionConfig {
    let socket_timeout = config.settings().socket_timeout();
    ConnectionConfig {
        connection_timeout: config.settings().connect_timeout(),
        // AUTH, SELECT and the like while connecting; with Sentinel, the
        // questions to a sentinel and the primary's ROLE too.
        internal_command_timeout: socket_timeout,
        // A command is written once: a cache retries nothing behind the
        // caller's back (see `retry_on_timeout` for the one exception).
        max_command_attempts: 1,
        max_redirections: if clustered {
            0
        } else {
            ConnectionConfig::default().max_redirections
        },
        tcp: TcpConfig {
            nodelay: Some(true),
            keepalive: config.settings().keepalive().then(|| {
                // The reference's probes: after 15 s idle, every 5 s, 3 tries.
                TcpKeepalive::new()
                    .with_time(Duration::from_secs(15))
                    .with_interval(Duration::from_secs(5))
                    .with_retries(3)
            }),
            ..TcpConfig::default()
        },
        // With health checks on, a connection that leaves a command (the
        // health check's PING included) unanswered for the socket timeout
        // is closed and replaced.
        unresponsive: UnresponsiveConfig {
            max_timeout: config
                .settings()
                .health_check_interval()
                .map(|_| socket_timeout),
            interval: (socket_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(2)),
        },
        ..ConnectionConfig::default()
    }
}

/// What a TLS certificate failure means, said plainly, when `error` is one
/// (rustls' verdict arrives as the `Debug` form of an I/O error).
fn certificate_problem(error: &fred::error::Error) -> Option<&'static str> {
    error.details().contains("InvalidCertificate").then_some(
        "TLS handshake failed: the server's certificate is not trusted (check the CA \
         certificate and the host name)",
    )
}

/// `error` as text, saying plainly what a TLS certificate failure means.
pub(crate) fn describe(error: &fred::error::Error) -> String {
    match certificate_problem(error) {
        Some(problem) => format!("{problem}: {error}"),
        None => error.to_string(),
    }
}

/// The error of a connection to `server` (never a password in it) that
/// could not be made or was lost: saying plainly what a TLS certificate
/// failure means, fred's error as the source.
pub(crate) fn unreachable(server: impl Into<String>, source: fred::error::Error) -> Error {
    let problem = certificate_problem(&source);
    ConnectError::new(server, source)
        .problem(problem)
        .into_error(BACKEND)
}

/// An operation refused because no connection to the server is up; the
/// clients are reconnecting in the background. fred's refusal is the
/// source.
#[derive(Debug)]
pub(crate) struct NotConnected {
    pub(crate) server: Arc<str>,
    /// The last error seen while connecting, if any.
    pub(crate) last_error: Option<String>,
    pub(crate) source: fred::error::Error,
}

impl fmt::Display for NotConnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not connected to {} (reconnecting in the background",
            self.server
        )?;
        if let Some(last_error) = &self.last_error {
            write!(f, "; last connection error: {last_error}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for NotConnected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// TLS on rustls and ring (the `tls` feature).
#[cfg(feature = "tls")]
mod tls;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use fred::error::{Error as FredError, ErrorKind};

    use super::*;

    #[test]
    fn connection_errors_say_what_failed_and_keep_freds_error_as_source() {
        let error = unreachable(
            "127.0.0.1:1".to_owned(),
            FredError::new(ErrorKind::IO, "connection refused"),
        );
        assert_eq!(error.to_string(), "fred backend error");
        let connect = error.source().expect("the connection's error");
        assert_eq!(connect.to_string(), "cannot connect to 127.0.0.1:1");
        let fred = connect.source().expect("fred's error");
        assert!(fred.is::<FredError>());
        assert!(error.report().to_string().ends_with(&fred.to_string()));

        let down = NotConnected {
            server: "127.0.0.1:1".into(),
            last_error: Some("connection refused".to_owned()),
            source: FredError::new(ErrorKind::Canceled, "canceled"),
        };
        assert_eq!(
            down.to_string(),
            "not connected to 127.0.0.1:1 (reconnecting in the background; last connection \
             error: connection refused)"
        );
        assert!(down.source().is_some_and(|e| e.is::<FredError>()));
    }

    #[test]
    fn a_url_fred_refuses_keeps_freds_error_as_source() {
        let config = RedisConfig::new().url("redis://app:s3cret@127.0.0.1:6390/300");
        let Err(error) = settings(&config, false, None) else {
            panic!("fred took database 300")
        };
        assert!(error.to_string().contains("0 to 255"), "{error}");
        let source = error.source().expect("fred's error");
        assert!(source.is::<FredError>());
        assert!(!error.to_string().contains(&source.to_string()), "{error}");
        assert!(!error.report().to_string().contains("s3cret"));
    }
}
