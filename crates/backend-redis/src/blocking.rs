//! The blocking store: a pool of plain connections, one per caller at a
//! time.

use std::sync::Arc;
use std::time::Duration;

use memocache_core::{BlockingStore, Bytes, KeyMatch, KeyTtl, RedisConfig, Result};
use redis::{Client, Cmd, FromRedisValue};

use crate::command;
use crate::connect::{self, BACKEND, command_error};
use crate::pool::{ClusterSource, Connector, Pool, Source};

/// A [`BlockingStore`] on Redis over a pool of redis-rs connections, at
/// most [`RedisConfig::max_connections`] of them; needs no async runtime.
/// Cheap to clone (clones share the pool).
///
/// A connection idle for longer than the health-check interval is PINGed
/// before reuse; one that failed is closed, never reused. When Redis is
/// down, an operation fails as soon as its connection attempt does.
///
/// ```no_run
/// # fn demo() -> memocache_core::Result<()> {
/// use memocache_core::{Args, Memoizer, RedisConfig};
/// use memocache_redis::RedisBlockingStore;
///
/// let store = RedisBlockingStore::connect(&RedisConfig::new().max_connections(20))?;
/// let memo = Memoizer::builder(store).namespace("math").build();
/// let square = memo.call_blocking(&Args::new().arg(&12), || 12 * 12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBlockingStore {
    pool: Arc<Pool>,
    timeout: Duration,
    retry_on_timeout: bool,
}

impl RedisBlockingStore {
    /// Connects with `config`'s URL, credentials, TLS settings, pool size,
    /// timeouts and health checks, checking that one connection succeeds.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings; a
    /// backend error naming the server when it cannot be reached or
    /// refuses the credentials or the TLS handshake.
    pub fn connect(config: &RedisConfig) -> Result<Self> {
        let store = Self::pooled(Self::source(config)?, config);
        // One connection up front: a wrong address, password or CA is
        // reported now, and the connection stays in the pool.
        drop(store.pool.get()?);
        Ok(store)
    }

    /// Connects with a client of your own, and [`RedisConfig`]'s default
    /// pool size, timeouts, retries and health checks.
    ///
    /// # Errors
    ///
    /// A backend error naming the server when it cannot be reached.
    pub fn from_client(client: Client) -> Result<Self> {
        Self::with_client(client, &RedisConfig::default())
    }

    /// Like [`connect`](Self::connect) but without the connection up front,
    /// so a service can start while Redis is down: until Redis answers,
    /// every operation fails (and a [`Memoizer`](memocache_core::Memoizer)
    /// just computes).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](memocache_core::Error::Config) for bad settings.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self> {
        Ok(Self::pooled(Self::source(config)?, config))
    }

    fn source(config: &RedisConfig) -> Result<Source> {
        Ok(if config.is_cluster() {
            Source::Cluster(ClusterSource::new(config)?)
        } else {
            Source::Node(connect::client(config)?)
        })
    }

    fn with_client(client: Client, config: &RedisConfig) -> Result<Self> {
        let store = Self::pooled(Source::Node(client), config);
        drop(store.pool.get()?);
        Ok(store)
    }

    fn pooled(source: Source, config: &RedisConfig) -> Self {
        let connector = Connector {
            source,
            connect_timeout: config.get_connect_timeout(),
            socket_timeout: config.get_socket_timeout(),
            health_check_interval: config.get_health_check_interval(),
        };
        let pool = Pool::new(
            connector,
            config.get_max_connections(),
            config.get_connect_timeout(),
        );
        RedisBlockingStore {
            pool: Arc::new(pool),
            timeout: config.get_socket_timeout(),
            retry_on_timeout: config.get_retry_on_timeout(),
        }
    }

    /// Sends `cmd`, once more on another connection if it timed out and
    /// retries are on.
    fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        let result = self.pool.get()?.query(cmd);
        match result {
            Err(e) if command::is_retryable(&e, self.retry_on_timeout) => {
                self.pool.get()?.query(cmd)
            }
            result => result,
        }
        .map_err(|e| command_error(e, self.timeout))
    }
}

impl RedisBlockingStore {
    /// Removes the keys of `matching` that one node holds: `SCAN` steps
    /// sent to that cluster node (`None`: the single node), `UNLINK` in
    /// batches.
    fn unlink_matching(&self, matching: &KeyMatch, node: Option<&(String, u16)>) -> Result<u64> {
        let pattern = matching.scan_pattern();
        let (mut cursor, mut removed) = (0, 0);
        loop {
            let scan = command::scan(cursor, &pattern);
            let (next, keys): (u64, Vec<Vec<u8>>) = match node {
                Some(node) => self
                    .pool
                    .get()?
                    .query_node(&scan, node)
                    .map_err(|e| command_error(e, self.timeout))?,
                None => self.query(&scan)?,
            };
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| matching.matches_bytes(k))
                .collect();
            if !keys.is_empty() {
                // In a cluster, redis-rs splits a multi-key UNLINK by slot.
                removed += self.query::<u64>(&command::unlink(&keys))?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

impl std::fmt::Debug for RedisBlockingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (max, open, idle) = self.pool.sizes();
        f.debug_struct("RedisBlockingStore")
            .field("max_connections", &max)
            .field("open_connections", &open)
            .field("idle_connections", &idle)
            .field("retry_on_timeout", &self.retry_on_timeout)
            .finish()
    }
}

impl BlockingStore for RedisBlockingStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.query(&command::get(key))
    }

    fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
        self.query(&command::set(key, &value, expire))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.query::<u64>(&command::delete(key))? > 0)
    }

    fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::from_pttl(self.query(&command::pttl(key))?))
    }

    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
        if !self.pool.is_cluster() {
            return self.unlink_matching(keys, None);
        }
        let nodes: String = self.query(&command::cluster_nodes())?;
        let mut removed = 0;
        for primary in command::primaries(&nodes) {
            removed += self.unlink_matching(keys, Some(&primary))?;
        }
        Ok(removed)
    }
}
