//! A primary found through Redis Sentinel: the master's name and the
//! sentinels' URLs ([`RedisConfig::sentinel`]), and the checks that keep
//! them apart from the other ways to name a server. The data nodes' URLs
//! are built in `url.rs` ([`RedisConfig::node_url`]).

use memocache_core::Result;

use super::env::Setting;
use super::url::{UrlParts, redact};
use super::{RedisConfig, config_error};

/// A primary found through Redis Sentinel.
#[derive(Clone)]
pub(super) struct Sentinel {
    /// The name the sentinels monitor the master by.
    pub(super) master: String,
    /// The sentinels, with their own credentials.
    pub(super) urls: Vec<String>,
}

impl RedisConfig {
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
    /// assert_eq!(config.sentinel_master(), Some("cache"));
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
    /// [`sentinel`](Self::sentinel); `None` without.
    pub fn sentinel_master(&self) -> Option<&str> {
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

    /// With a Sentinel master, none of the other ways to name a server.
    pub(super) fn check_sentinel_exclusive(&self) -> Result<()> {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::message;
    use super::*;

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
        assert_eq!(config.sentinel_master(), Some("cache"));
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
}
