//! The server's address (a URL, a cluster's seeds, or host/port/db and
//! credentials) and the URLs built from it: percent-encoded credentials
//! ([`quote`]), passwords replaced for logs ([`redact`]), and the checks of
//! hosts, ports and databases ([`UrlParts`]).

use std::fmt::Write as _;

use memocache_core::{Error, Result};

use super::env::{Origin, Setting};
use super::{REDACTED, RedisConfig, config_error};

/// The highest database index Redis accepts (`databases` is at most
/// `INT_MAX`).
const MAX_DB: u64 = i32::MAX as u64 - 1;

impl RedisConfig {
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
pub(super) fn redact(url: &str) -> String {
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
pub(super) struct UrlParts<'a> {
    pub(super) scheme: &'a str,
    pub(super) userinfo: Option<&'a str>,
    /// Everything after the userinfo: host, port, path and query.
    pub(super) rest: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Checks `url`, which came from `origin` (errors name it).
    pub(super) fn parse(url: &'a str, origin: Origin) -> Result<Self> {
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
    use super::super::tests::message;
    use super::*;

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
}
