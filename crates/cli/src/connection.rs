//! `--url`: reaching Redis, with errors that never show the password.

use memocache_core::{Error, RedisConfig};
use memocache_redis::RedisBlockingStore;
use memocache_redis::redis;

/// A connected Redis: memocache's store for single-key operations, and a
/// plain redis-rs connection for the commands a store does not have
/// (`SCAN`, `MEMORY USAGE`, `UNLINK` of many keys).
pub struct Redis {
    /// The store, as memocache's own services use it.
    pub store: RedisBlockingStore,
    config: RedisConfig,
}

impl Redis {
    /// Connects to the single URL in `urls` (`--url`, repeated or
    /// comma-separated, or `$REDIS_URL`).
    pub fn connect(urls: &[String]) -> Result<Self, String> {
        let url = single_url(urls)?;
        let config = RedisConfig::new().url(url);
        config.validate().map_err(|e| bad_url(&e))?;
        let store = RedisBlockingStore::connect(&config).map_err(|e| match e {
            Error::Config(_) => bad_url(&e),
            other => format!("cannot reach Redis at {}: {other}", config.redacted_url()),
        })?;
        Ok(Redis { store, config })
    }

    /// The server's URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        self.config.redacted_url()
    }

    /// A plain connection, with the store's timeouts.
    pub fn connection(&self) -> Result<redis::Connection, String> {
        let failed = |e: &dyn std::fmt::Display| {
            format!("cannot reach Redis at {}: {e}", self.redacted_url())
        };
        // The URL was checked, and the store connected with it, already.
        let url = self.config.connection_url().map_err(|e| bad_url(&e))?;
        let client = redis::Client::open(url.as_str()).map_err(|e| failed(&e))?;
        let connection = client
            .get_connection_with_timeout(self.config.get_connect_timeout())
            .map_err(|e| failed(&e))?;
        let timeout = Some(self.config.get_socket_timeout());
        connection
            .set_read_timeout(timeout)
            .and_then(|()| connection.set_write_timeout(timeout))
            .map_err(|e| failed(&e))?;
        Ok(connection)
    }
}

fn bad_url(error: &Error) -> String {
    match error {
        Error::Config(message) => format!("bad --url: {message}"),
        other => format!("bad --url: {other}"),
    }
}

/// The one URL given; several are a cluster's seeds, which need
/// `--cluster` (not there yet).
fn single_url(urls: &[String]) -> Result<&str, String> {
    let urls: Vec<&str> = urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    match urls[..] {
        [] => Err(
            "no Redis URL: pass --url redis://host:port/db (rediss:// for TLS) or set REDIS_URL"
                .into(),
        ),
        [url] => Ok(url),
        _ => Err(format!(
            "{} Redis URLs given, but several URLs only make sense for a Redis Cluster, and \
             cluster support is coming with --cluster; give a single --url for now",
            urls.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_taken_and_several_are_refused() {
        let one = vec!["redis://a:1/0".to_owned(), " ".to_owned()];
        assert_eq!(single_url(&one).unwrap(), "redis://a:1/0");
        let two = vec!["redis://a:1".to_owned(), "redis://b:2".to_owned()];
        let err = single_url(&two).unwrap_err();
        assert!(
            err.contains("cluster support is coming with --cluster"),
            "{err}"
        );
        assert!(!err.contains("redis://"), "URLs may hold passwords: {err}");
        assert!(single_url(&[]).unwrap_err().contains("REDIS_URL"));
    }
}
