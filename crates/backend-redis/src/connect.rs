//! Turning a [`RedisConfig`] into a redis-rs client, and the errors of
//! doing so; both stores connect through here, and so can other programs
//! that talk to the same Redis (the `memocache` command does).

use std::time::Duration;

use memocache_core::{Error, Result};
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::failure::ConnectError;
use memocache_redis_plumbing::tls::require_tls_support;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::io::tcp::{TcpSettings, socket2::TcpKeepalive};
use redis::{Client, ConnectionAddr, IntoConnectionInfo, ProtocolVersion};

/// The backend's name in errors and logs.
pub(crate) const BACKEND: &str = "redis";

/// Wraps a redis-rs error (which never carries the password).
pub(crate) fn backend_error(error: impl Into<memocache_core::BoxError>) -> Error {
    Error::backend(BACKEND, error)
}

/// A failed command's error, by the rule both clients follow
/// ([`memocache_redis_plumbing::failure::command_error`]): a reply that did
/// not come within `timeout` is [`Error::Timeout`].
pub(crate) fn command_error(error: redis::RedisError, timeout: Duration) -> Error {
    let timed_out = error.is_timeout();
    memocache_redis_plumbing::failure::command_error(BACKEND, error, timed_out, timeout)
}

/// A redis-rs client for `config`'s server, with its TCP keepalive and TLS
/// settings (the CA certificate included); opens no connection.
///
/// # Errors
///
/// [`Error::Config`] for a URL or CA certificate redis-rs cannot use, and
/// for a `rediss://` url without the `tls` feature.
pub fn client(config: &RedisConfig) -> Result<Client> {
    client_speaking(config, None)
}

/// [`client`] whose connections speak RESP3, for the invalidation pushes
/// of the async store's change tracking.
pub(crate) fn resp3_client(config: &RedisConfig) -> Result<Client> {
    client_speaking(config, Some(ProtocolVersion::RESP3))
}

/// [`client`], its connections speaking `protocol` rather than the URL's.
fn client_speaking(config: &RedisConfig, protocol: Option<ProtocolVersion>) -> Result<Client> {
    client_for(config, &config.connection_url()?, protocol)
}

/// A client for the data node at `host:port`, as a sentinel names the
/// primary, with `config`'s credentials, TLS and settings.
pub(crate) fn node_client(
    config: &RedisConfig,
    host: &str,
    port: u16,
    protocol: Option<ProtocolVersion>,
) -> Result<Client> {
    client_for(config, &config.node_url(host, port)?, protocol)
}

/// A client for a sentinel at `url` (its own credentials and TLS), with
/// `config`'s keepalive and CA; its connections speak RESP3, for the
/// `+switch-master` events.
pub(crate) fn sentinel_client(config: &RedisConfig, url: &str) -> Result<Client> {
    client_for(config, url, Some(ProtocolVersion::RESP3))
}

/// A client for `url` with `config`'s keepalive and CA, speaking
/// `protocol` rather than the URL's.
fn client_for(
    config: &RedisConfig,
    url: &str,
    protocol: Option<ProtocolVersion>,
) -> Result<Client> {
    require_tls_support(url, cfg!(feature = "tls"))?;
    let mut info = url.into_connection_info().map_err(|e| {
        Error::config_with_source(
            "the redis url is not valid: write it as redis://[user:password@]host:port/db, \
             or rediss:// for TLS",
            e,
        )
    })?;
    if config.settings().keepalive() {
        // The reference's probes: after 15 s idle, every 5 s, 3 tries.
        let keepalive = TcpKeepalive::new()
            .with_time(Duration::from_secs(15))
            .with_interval(Duration::from_secs(5))
            .with_retries(3);
        info = info.set_tcp_settings(TcpSettings::default().set_keepalive(keepalive));
    }
    if let Some(protocol) = protocol {
        let redis = info.redis_settings().clone().set_protocol(protocol);
        info = info.set_redis_settings(redis);
    }
    #[cfg(feature = "tls")]
    if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        tls::install_crypto_provider();
    }
    // A CA certificate is for rediss://, which needs the feature (with
    // Sentinel, it may be for the other side only).
    let client = match config.ca_cert()? {
        #[cfg(feature = "tls")]
        Some(root_cert) if url.starts_with("rediss://") => {
            tls::check_pem(&root_cert)?;
            Client::build_with_tls(info, tls::certificates(root_cert))
        }
        _ => Client::open(info),
    };
    client.map_err(|e| {
        Error::config_with_source(
            "cannot use these redis settings; check the url and the CA certificate (PEM)",
            e,
        )
    })
}

/// A client for the primary that `config`'s sentinels name now, checked
/// to be a primary ([`RedisConfig::sentinel`]), for programs that open
/// connections of their own (the `memocache` command does); blocks while
/// it asks, so call it outside any async runtime.
///
/// # Errors
///
/// [`Error::Config`] for bad settings or a master the sentinels do not
/// know; else a backend error naming the primary and saying what each
/// sentinel answered.
pub fn sentinel_primary(config: &RedisConfig) -> Result<Client> {
    let sentinels = crate::sentinel::Sentinels::new(config, None)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(backend_error)?;
    let (client, _) = runtime.block_on(sentinels.primary(sentinels.timeouts()))?;
    Ok(client)
}

/// A redis-rs cluster client for `config`'s seed nodes, with its timeouts
/// and TLS settings; opens no connection.
pub fn cluster_client(config: &RedisConfig) -> Result<ClusterClient> {
    cluster_client_with_nodes(config, &[])
}

/// A cluster client for `config`'s seeds and then `nodes` (each reached
/// like the first seed: same scheme and credentials), so that it can still
/// connect once every configured seed is gone.
pub(crate) fn cluster_client_with_nodes(
    config: &RedisConfig,
    nodes: &[(String, u16)],
) -> Result<ClusterClient> {
    build_cluster_client(cluster_builder(config, nodes)?)
}

/// A cluster client for `config`'s seeds whose connections speak RESP3 and
/// hand their pushes to `pushes`, for the async store's change tracking.
pub(crate) fn resp3_cluster_client(
    config: &RedisConfig,
    pushes: impl redis::aio::AsyncPushSender,
) -> Result<ClusterClient> {
    let builder = cluster_builder(config, &[])?
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(pushes);
    build_cluster_client(builder)
}

/// The settings of a cluster client for `config`'s seeds and `nodes`.
fn cluster_builder(config: &RedisConfig, nodes: &[(String, u16)]) -> Result<ClusterClientBuilder> {
    let urls = config.cluster_urls()?;
    for url in &urls {
        require_tls_support(url, cfg!(feature = "tls"))?;
    }
    #[cfg(feature = "tls")]
    let tls = urls.iter().all(|u| u.starts_with("rediss://"));
    let mut seeds = Vec::with_capacity(urls.len() + nodes.len());
    for url in urls {
        seeds.push(url.as_str().into_connection_info().map_err(|e| {
            Error::config_with_source(
                "cannot use these redis cluster settings; check the seed urls",
                e,
            )
        })?);
    }
    if let Some(first) = seeds.first().cloned() {
        for (host, port) in nodes {
            let addr = match first.addr() {
                ConnectionAddr::TcpTls {
                    insecure,
                    tls_params,
                    ..
                } => ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: *insecure,
                    tls_params: tls_params.clone(),
                },
                _ => ConnectionAddr::Tcp(host.clone(), *port),
            };
            if seeds.iter().all(|seed| *seed.addr() != addr) {
                seeds.push(first.clone().set_addr(addr));
            }
        }
    }
    let builder = ClusterClientBuilder::new(seeds)
        .connection_timeout(config.settings().connect_timeout())
        .response_timeout(config.settings().socket_timeout())
        // Follow MOVED/ASK and failovers, but do not keep a cache caller
        // waiting long on a sick cluster.
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(100);
    #[cfg(feature = "tls")]
    if tls {
        return tls::secure_cluster(builder, config.ca_cert()?);
    }
    Ok(builder)
}

fn build_cluster_client(builder: ClusterClientBuilder) -> Result<ClusterClient> {
    builder.build().map_err(|e| {
        Error::config_with_source(
            "cannot use these redis cluster settings; check the seed urls and the CA certificate",
            e,
        )
    })
}

/// An error opening a cluster connection, naming the seeds (without
/// credentials).
pub(crate) fn cluster_connect_error(
    config: &RedisConfig,
    source: impl Into<memocache_core::BoxError>,
) -> Error {
    unreachable_server(cluster_name(config), source)
}

/// How errors name `config`'s cluster, without credentials.
pub(crate) fn cluster_name(config: &RedisConfig) -> String {
    format!("the cluster at {}", config.redacted_url())
}

/// The error of a failed first connection to `client`'s server.
pub(crate) fn connect_error(client: &Client, source: impl Into<memocache_core::BoxError>) -> Error {
    unreachable_server(server_name(client), source)
}

/// How errors name `client`'s server: `host:port`, and `over TLS` when it
/// is; never the credentials.
pub(crate) fn server_name(client: &Client) -> String {
    let addr = client.get_connection_info().addr();
    match addr {
        ConnectionAddr::TcpTls { .. } => format!("{addr} over TLS"),
        _ => addr.to_string(),
    }
}

/// The error of a connection to `server` that could not be made or was
/// lost, the client's error as its source.
pub(crate) fn unreachable_server(
    server: impl Into<String>,
    source: impl Into<memocache_core::BoxError>,
) -> Error {
    ConnectError::new(server, source).into_error(BACKEND)
}

/// TLS on rustls and ring (the `tls` feature).
#[cfg(feature = "tls")]
mod tls;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_connect_error_names_the_server_and_keeps_its_cause() {
        let config = RedisConfig::new().url("redis://app:s3cret@127.0.0.1:1/0");
        let client = client(&config).unwrap();
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = connect_error(&client, refused);
        assert_eq!(error.to_string(), "redis backend error");
        let connect = error.source().expect("the connection's error");
        assert_eq!(connect.to_string(), "cannot connect to 127.0.0.1:1");
        assert!(connect.source().is_some_and(|io| io.is::<std::io::Error>()));
        let report = error.report().to_string();
        assert_eq!(
            report,
            "redis backend error: cannot connect to 127.0.0.1:1: connection refused"
        );
        assert!(!report.contains("s3cret"), "{report}");
    }
}
