//! The client's tunables: [`ClientSettings`], set with [`RedisConfig`]'s
//! builder methods of the same names and read with
//! [`RedisConfig::settings`].
//!
//! "None" is always `None`: a zero [`Duration`] never stands for "off".
//! Health checks are turned off with `health_check_interval(None)`, and a
//! zero interval, like a zero socket or connect timeout (there is no "no
//! timeout") or a pool of zero connections, is refused by
//! [`RedisConfig::validate`].

use std::time::Duration;

use memocache_core::{BreakerPolicy, Result};

use super::{RedisConfig, config_error};

/// How a Redis client behaves once it knows where the server is: the
/// blocking pool's size, timeouts, TCP keepalive, health checks, retries,
/// the store's circuit breaker and change tracking.
///
/// Each is set with the [`RedisConfig`] builder method of its name, and
/// read here, from [`RedisConfig::settings`]; the defaults are
/// [`RedisConfig::new`]'s.
///
/// ```
/// use std::time::Duration;
/// use memocache::RedisConfig;
///
/// let config = RedisConfig::new()
///     .socket_timeout(Duration::from_secs(2))
///     .health_check_interval(None);
/// let settings = config.settings();
/// assert_eq!(settings.socket_timeout(), Duration::from_secs(2));
/// assert_eq!(settings.health_check_interval(), None);
/// assert_eq!(settings.max_connections(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    max_connections: usize,
    socket_timeout: Duration,
    connect_timeout: Duration,
    keepalive: bool,
    /// `None`: no health checks.
    health_check_interval: Option<Duration>,
    retry_on_timeout: bool,
    circuit_breaker: Option<BreakerPolicy>,
    client_tracking: bool,
}

impl Default for ClientSettings {
    /// [`RedisConfig::new`]'s: 10 pooled connections, a 500 ms socket
    /// timeout and a 1 s connect timeout, TCP keepalive on, a health check
    /// after 15 s idle, no retry on timeout, [`BreakerPolicy::default`], no
    /// change tracking.
    fn default() -> Self {
        ClientSettings {
            max_connections: 10,
            socket_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
            keepalive: true,
            health_check_interval: Some(Duration::from_secs(15)),
            retry_on_timeout: false,
            circuit_breaker: Some(BreakerPolicy::default()),
            client_tracking: false,
        }
    }
}

impl ClientSettings {
    /// The blocking pool's size ([`RedisConfig::max_connections`]).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// How long one command may wait for its reply
    /// ([`RedisConfig::socket_timeout`]).
    pub fn socket_timeout(&self) -> Duration {
        self.socket_timeout
    }

    /// How long opening a connection may take
    /// ([`RedisConfig::connect_timeout`]).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether TCP keepalive is on ([`RedisConfig::keepalive`]).
    pub fn keepalive(&self) -> bool {
        self.keepalive
    }

    /// The idle time after which a connection is PINGed, or `None` when
    /// health checks are off ([`RedisConfig::health_check_interval`]).
    pub fn health_check_interval(&self) -> Option<Duration> {
        self.health_check_interval
    }

    /// Whether a timed-out command is retried once
    /// ([`RedisConfig::retry_on_timeout`]).
    pub fn retry_on_timeout(&self) -> bool {
        self.retry_on_timeout
    }

    /// The store's circuit breaker policy, `None` for a breaker that never
    /// opens ([`RedisConfig::circuit_breaker`]).
    pub fn circuit_breaker(&self) -> Option<BreakerPolicy> {
        self.circuit_breaker
    }

    /// Whether the async store tracks changes for local tiers
    /// ([`RedisConfig::client_tracking`]).
    pub fn client_tracking(&self) -> bool {
        self.client_tracking
    }

    /// Refuses what no client can work with: a pool of no connections, a
    /// zero timeout, a zero health check interval.
    pub(super) fn check(&self) -> Result<()> {
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
        if self.health_check_interval.is_some_and(|i| i.is_zero()) {
            return config_error(
                "health_check_interval must be more than zero: set it to None to turn health \
                 checks off",
            );
        }
        Ok(())
    }
}

impl RedisConfig {
    /// The size of `RedisBlockingStore`'s connection pool (default 10;
    /// zero is refused by [`validate`](Self::validate)).
    /// The async stores, and fred's blocking adapter, multiplex every
    /// caller over one connection (per cluster node) instead.
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.settings.max_connections = max_connections;
        self
    }

    /// How long one command may wait for its reply (default 500 ms). There
    /// is no "no timeout": zero is refused by [`validate`](Self::validate).
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.settings.socket_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 1 s). There is no
    /// "no timeout": zero is refused by [`validate`](Self::validate).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Sends TCP keepalive probes (after 15 s idle, every 5 s, 3 tries, as
    /// the reference does) when `true` (the default).
    pub fn keepalive(mut self, keepalive: bool) -> Self {
        self.settings.keepalive = keepalive;
        self
    }

    /// Health checks every this long, so connections dropped by proxies
    /// when idle are noticed early (default `Some(15 s)`; `None` turns them
    /// off): the blocking pool PINGs a connection idle this long before
    /// reusing it, the async store PINGs its shared connection at this
    /// interval. A zero interval is refused by
    /// [`validate`](Self::validate): write `None` for no health checks.
    pub fn health_check_interval(mut self, interval: Option<Duration>) -> Self {
        self.settings.health_check_interval = interval;
        self
    }

    /// Retries a command once when it timed out (default `false`: a retry
    /// doubles the wait on a sick server, and a miss is cheap).
    pub fn retry_on_timeout(mut self, retry: bool) -> Self {
        self.settings.retry_on_timeout = retry;
        self
    }

    /// The circuit breaker of the store's health view, shared by every
    /// memoizer over the store and its clones (default
    /// [`BreakerPolicy::default`]); `None` for a breaker that never opens.
    /// A memoizer can still choose a breaker of its own
    /// ([`MemoizerBuilder::circuit_breaker`](memocache_core::MemoizerBuilder::circuit_breaker)).
    pub fn circuit_breaker(mut self, policy: Option<BreakerPolicy>) -> Self {
        self.settings.circuit_breaker = policy;
        self
    }

    /// Has the async store ask the server to report every change to the
    /// keys it reads (RESP3 `CLIENT TRACKING`), so that a memoizer's local
    /// tier over it stays true ([`Backend::track_changes`](memocache_core::Backend::track_changes)).
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
        self.settings.client_tracking = on;
        self
    }

    /// The client's tunables, as the builder methods above set them: pool
    /// size, timeouts, keepalive, health checks, retries, circuit breaker,
    /// change tracking.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_health_checks_is_none_and_a_zero_interval_is_refused() {
        let defaults = RedisConfig::new();
        assert_eq!(
            defaults.settings().health_check_interval(),
            Some(Duration::from_secs(15))
        );
        let off = RedisConfig::new().health_check_interval(None);
        assert_eq!(off.settings().health_check_interval(), None);
        off.validate().unwrap();
        let error = RedisConfig::new()
            .health_check_interval(Some(Duration::ZERO))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("set it to None"), "{error}");
    }
}
