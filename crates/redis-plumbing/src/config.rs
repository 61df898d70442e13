//! Where and how to reach Redis, as plain data.
//!
//! [`RedisConfig`] carries the reference's connection settings
//! (`dtpyfw.redis.config.RedisConfig`): a URL or host/port/db, credentials,
//! TLS, and the client's tunables ([`ClientSettings`]: pool size, timeouts,
//! keepalive, health checks, retries, the circuit breaker, change
//! tracking). It opens no connection: each Redis client (`memocache-redis`,
//! `memocache-fred`) turns it into a client of its own. It builds the
//! connection URL the way the reference does, percent-encoding the username
//! and password, and keeps the password out of `Debug` output and out of
//! every error message.
//!
//! Two deliberate differences from the reference's URL: `/` in a username or
//! password is encoded too (Python's `quote` keeps it, which ends the URL's
//! authority early), and a password without a username is written
//! `:password@` (the reference's `password@` is read as a user name).
//!
//! The files, by concept: this one holds the struct, its defaults,
//! [`validate`](RedisConfig::validate), the TLS certificate authority and
//! the store's [`Health`]; `settings.rs` the client's tunables
//! ([`ClientSettings`] and their builder methods); `url.rs` the server's
//! address and the URLs built from it (percent-encoding, redaction, host
//! and database checks); `sentinel.rs` a primary found through Redis
//! Sentinel; `env.rs` [`from_env`](RedisConfig::from_env) and the record
//! of which variable each setting came from, for errors that name it.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use memocache_core::{Error, Health, Result};

mod env;
mod sentinel;
mod settings;
mod url;

pub use settings::ClientSettings;

use env::{Origin, Setting};
use sentinel::Sentinel;
use url::redact;

/// What `Debug` and redacted URLs print instead of a password.
const REDACTED: &str = "<redacted>";

/// Connection settings for a Redis backend: a `#[must_use]` builder whose
/// defaults are the reference's.
///
/// Give either a [`url`](Self::url) or [`host`](Self::host) /
/// [`port`](Self::port) / [`db`](Self::db) (default `127.0.0.1:6379`, db 0),
/// plus optional credentials and TLS. Mistakes are reported by
/// [`validate`](Self::validate) (which backends call before connecting) as
/// [`Error::Config`] with a message that says how to fix them. The
/// client's tunables (timeouts, pool size, ...) are set with builder
/// methods of their own names and read back with
/// [`settings`](Self::settings).
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
#[derive(Clone, Default)]
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
    /// Pool size, timeouts, keepalive, health checks, retries, breaker,
    /// tracking.
    settings: ClientSettings,
    /// A variable [`from_env`](RedisConfig::from_env) could not read:
    /// reported by [`validate`](RedisConfig::validate) and at connect.
    env_error: Option<String>,
    /// The settings [`from_env`](RedisConfig::from_env) read from a
    /// variable and no builder method replaced since: errors about them
    /// name the variable.
    env_settings: Vec<Setting>,
}

/// A custom certificate authority for TLS.
#[derive(Clone)]
enum CaCert {
    Pem(Vec<u8>),
    File(PathBuf),
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

    /// The custom certificate authority's PEM, read from its file if it was
    /// given as one; `None` means the system's roots.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read.
    pub fn ca_cert(&self) -> Result<Option<Vec<u8>>> {
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

    /// A new health view for a store built from this configuration, with
    /// its circuit breaker ([`ClientSettings::circuit_breaker`]).
    pub fn health(&self) -> Health {
        Health::new(self.settings.circuit_breaker())
    }

    /// Checks the settings; what every backend does before connecting.
    ///
    /// # Errors
    ///
    /// [`Error::Config`], saying how to fix it, for an unparseable URL, a
    /// database index out of range, TLS asked for on a `redis://` URL, both
    /// a URL and host/port/db, credentials twice, a CA without TLS, a pool
    /// of zero connections, a zero timeout or a zero health check interval.
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

    /// Refuses a variable [`from_env`](Self::from_env) could not read, and
    /// tunables no client can work with.
    fn check_limits(&self) -> Result<()> {
        if let Some(unreadable) = &self.env_error {
            return config_error(unreadable.clone());
        }
        self.settings.check()
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
            settings,
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
            .field("settings", settings)
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

/// A configuration error saying `message`.
fn config_error<T>(message: impl Into<Cow<'static, str>>) -> Result<T> {
    Err(Error::config(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration error `result` holds, as a log line shows it.
    pub(super) fn message(result: Result<String>) -> String {
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
            .ca_cert()
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
}
