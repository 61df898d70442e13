//! `--url` and `--cluster`, or `--sentinel` and `--master`: reaching Redis
//! (one server, every node of a Redis Cluster, or the primary Sentinel
//! names), with errors that never show the password.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use memocache_core::{Error, Report};
use memocache_redis::RedisBlockingStore;
use memocache_redis::redis_rs::cluster::{ClusterConnection, cluster_pipe};
use memocache_redis::redis_rs::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use memocache_redis::redis_rs::{self, Cmd, Connection, FromRedisValue, RedisError};
use memocache_redis_plumbing::config::RedisConfig;
use memocache_redis_plumbing::keyspace::{Keyspace, SCAN_COUNT};
use memocache_redis_plumbing::topology::{self, Node};

/// A connected Redis: memocache's store for single-key operations, and
/// plain redis-rs connections ([`Link`]) for the commands a store does not
/// have (`SCAN`, `MEMORY USAGE`, `UNLINK` of many keys).
pub struct Redis {
    /// The store, as memocache's own services use it (keys routed by slot
    /// in a cluster).
    pub store: RedisBlockingStore,
    config: RedisConfig,
}

/// Which Redis the command line names.
pub enum Target<'a> {
    /// `--url` (repeated or comma-separated, or `$REDIS_URL`): the single
    /// server, or with `cluster` the seed nodes of a Redis Cluster.
    Urls {
        /// The URLs given.
        urls: &'a [String],
        /// `--cluster`.
        cluster: bool,
    },
    /// `--sentinel` and `--master`: the primary the sentinels name.
    Sentinel {
        /// The sentinels' URLs.
        sentinels: &'a [String],
        /// The master's name.
        master: Option<&'a str>,
        /// `--url`, which must not be given too.
        urls: &'a [String],
        /// How to reach the data nodes.
        data: DataNodes,
    },
}

/// With `--sentinel`, how to reach the data nodes: `--username`,
/// `--password`, `--db`, `--ssl`.
pub struct DataNodes {
    /// The ACL user.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The database.
    pub db: u32,
    /// Whether they speak TLS.
    pub ssl: bool,
}

impl Redis {
    /// Connects to `target`; over TLS, trusting `ca_cert` (a PEM file) if
    /// given, else the system's roots.
    pub fn connect(target: Target<'_>, ca_cert: Option<&Path>) -> Result<Self, String> {
        let mut config = match target {
            Target::Urls { urls, cluster } => {
                let urls = given_urls(urls, cluster)?;
                if cluster {
                    RedisConfig::new().cluster(urls)
                } else {
                    RedisConfig::new().url(urls[0])
                }
            }
            Target::Sentinel {
                sentinels,
                master,
                urls,
                data,
            } => sentinel_config(sentinels, master, urls, data)?,
        };
        let ca_pem = match ca_cert {
            Some(_) if !uses_tls(&config) => {
                return Err("--ca-cert is for TLS: give rediss:// URLs".to_owned());
            }
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read --ca-cert {}: {e}", path.display()))?,
            ),
            None => None,
        };
        if let Some(pem) = ca_pem {
            config = config.ca_cert_pem(pem);
        }
        config.validate().map_err(|e| bad_setting(&e))?;
        let store = RedisBlockingStore::connect(&config).map_err(|e| match e {
            Error::Config(_) => bad_setting(&e),
            other => unreachable(&config, &other.report()),
        })?;
        if config.is_cluster() {
            check_cluster(&config)?;
        }
        Ok(Redis { store, config })
    }

    /// A plain connection with the store's timeouts: to the server, or to
    /// the whole cluster.
    ///
    /// A single server that turns out to be a cluster node is refused:
    /// going through its keys alone would silently miss the other nodes'.
    pub fn link(&self) -> Result<Link, String> {
        let failed = |e: &RedisError| unreachable(&self.config, e);
        // The URLs were checked, and the store connected with them, already.
        if self.config.is_cluster() {
            let connection = memocache_redis::connect::cluster_client(&self.config)
                .map_err(|e| bad_setting(&e))?
                .get_connection()
                .map_err(|e| failed(&e))?;
            return Ok(Link::new(Connected::Cluster(Box::new(connection))));
        }
        let client = if self.config.is_sentinel() {
            // The primary now: the store found it a moment ago.
            memocache_redis::connect::sentinel_primary(&self.config).map_err(|e| match e {
                Error::Config(_) => bad_setting(&e),
                other => unreachable(&self.config, &other.report()),
            })?
        } else {
            memocache_redis::connect::client(&self.config).map_err(|e| bad_setting(&e))?
        };
        let open = || -> redis_rs::RedisResult<Connection> {
            let connection =
                client.get_connection_with_timeout(self.config.settings().connect_timeout())?;
            let timeout = Some(self.config.settings().socket_timeout());
            connection.set_read_timeout(timeout)?;
            connection.set_write_timeout(timeout)?;
            Ok(connection)
        };
        let mut connection = open().map_err(|e| failed(&e))?;
        // A server without INFO (renamed away) is taken as it is.
        let info: Option<String> = redis_rs::cmd("INFO")
            .arg("cluster")
            .query(&mut connection)
            .ok();
        if info.is_some_and(|info| info.contains("cluster_enabled:1")) {
            return Err(NOT_CLUSTERED.into());
        }
        Ok(Link::new(Connected::Node(connection)))
    }

    /// Adds a hint to a failed command's message when the server answered
    /// for a cluster (`MOVED`) but `--cluster` was not given.
    pub fn explain(&self, message: String) -> String {
        // redis-rs writes the redirection `Moved: <slot> <host:port>`.
        let redirected = ["Moved: ", "MOVED "].iter().any(|m| message.contains(m));
        if !self.config.is_cluster() && redirected {
            format!("{message}\n{NOT_CLUSTERED}")
        } else {
            message
        }
    }
}

/// `--sentinel` and `--master` as settings, with the data nodes'.
fn sentinel_config(
    sentinels: &[String],
    master: Option<&str>,
    urls: &[String],
    data: DataNodes,
) -> Result<RedisConfig, String> {
    if urls.iter().any(|url| !url.trim().is_empty()) {
        return Err(
            "--url (or REDIS_URL) and --sentinel both name the server: give one of them".to_owned(),
        );
    }
    let sentinels: Vec<&str> = sentinels
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    if sentinels.is_empty() {
        return Err(
            "--master needs the sentinels: pass --sentinel redis://host:26379 (repeated or \
             comma-separated) or set REDIS_SENTINEL_URLS"
                .to_owned(),
        );
    }
    let Some(master) = master else {
        return Err(
            "--sentinel needs --master NAME: the name the sentinels monitor the primary by \
             (or set REDIS_SENTINEL_MASTER)"
                .to_owned(),
        );
    };
    let mut config = RedisConfig::new()
        .sentinel(master, sentinels)
        .db(data.db)
        .ssl(data.ssl);
    if let Some(username) = data.username.filter(|u| !u.is_empty()) {
        config = config.username(username);
    }
    if let Some(password) = data.password.filter(|p| !p.is_empty()) {
        config = config.password(password);
    }
    Ok(config)
}

/// Whether `config` reaches any server over TLS.
fn uses_tls(config: &RedisConfig) -> bool {
    let urls = if config.is_sentinel() {
        let mut urls = config.sentinel_urls().unwrap_or_default();
        urls.extend(config.node_url("primary", 6379).ok());
        urls
    } else if config.is_cluster() {
        config.cluster_urls().unwrap_or_default()
    } else {
        config.connection_url().into_iter().collect()
    };
    urls.iter().any(|url| url.starts_with("rediss://"))
}

/// The hint for a cluster node reached without `--cluster`.
const NOT_CLUSTERED: &str = "this server is a Redis Cluster node: add --cluster to reach every \
     node of the cluster through it";

/// A plain connection for whole-namespace commands: to one server, or to
/// a cluster (commands routed by key, or sent to one node). Its commands
/// take it shared, as the [`Keyspace`] the namespace's keys are walked
/// through does: one at a time.
pub struct Link(Mutex<Connected>);

/// The connection of a [`Link`].
enum Connected {
    /// A single server.
    Node(Connection),
    /// A Redis Cluster, every node reachable.
    Cluster(Box<ClusterConnection>),
}

impl Link {
    fn new(connected: Connected) -> Self {
        Link(Mutex::new(connected))
    }

    /// The connection, for one command (or pipeline).
    fn connected(&self) -> MutexGuard<'_, Connected> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `cmd`; in a cluster, to the node(s) owning its keys (a
    /// multi-key `UNLINK` is split by slot and the answers summed).
    pub fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, String> {
        match &mut *self.connected() {
            Connected::Node(connection) => cmd.query(connection),
            Connected::Cluster(connection) => cmd.query(connection.as_mut()),
        }
        .map_err(failed)
    }

    /// Sends `cmds` as one pipeline; in a cluster, each to the node owning
    /// its key. The answers come back in order.
    pub fn query_all<T: FromRedisValue>(
        &self,
        cmds: impl IntoIterator<Item = Cmd>,
    ) -> Result<T, String> {
        match &mut *self.connected() {
            Connected::Node(connection) => {
                let mut pipe = redis_rs::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                pipe.query(connection)
            }
            Connected::Cluster(connection) => {
                let mut pipe = cluster_pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                pipe.query(connection.as_mut())
            }
        }
        .map_err(failed)
    }

    /// Sends `cmd` to the cluster's node `node` (one of its primaries);
    /// with `None`, or to a single server, as [`query`](Self::query) does.
    fn query_on<T: FromRedisValue>(&self, node: Option<&Node>, cmd: &Cmd) -> Result<T, String> {
        let mut connected = self.connected();
        let (Connected::Cluster(connection), Some((host, port))) = (&mut *connected, node) else {
            drop(connected);
            return self.query(cmd);
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: host.clone(),
            port: *port,
        });
        connection
            .route_command(cmd, routing)
            .and_then(|value| T::from_redis_value(value).map_err(RedisError::from))
            .map_err(|e| format!("Redis failed on the cluster node {host}:{port}: {e}"))
    }
}

/// The commands of the walk over a namespace's keys. They block: each
/// future completes when first polled (drive it with
/// [`block_on`](memocache_core::block_on)).
impl Keyspace for Link {
    fn is_cluster(&self) -> bool {
        matches!(*self.connected(), Connected::Cluster(_))
    }

    /// A cluster without a healthy primary is refused: none of its keys
    /// could be reached.
    async fn cluster_nodes(&self) -> memocache_core::Result<String> {
        let nodes: String = self
            .query(redis_rs::cmd("CLUSTER").arg("NODES"))
            .map_err(keyspace_error)?;
        if topology::primaries(&nodes).is_empty() {
            return Err(keyspace_error(format!(
                "the cluster reports no healthy primary (CLUSTER NODES):\n{nodes}"
            )));
        }
        Ok(nodes)
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> memocache_core::Result<(u64, Vec<Vec<u8>>)> {
        let mut scan = redis_rs::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        self.query_on(node, &scan).map_err(keyspace_error)
    }

    async fn unlink(&self, keys: Vec<Vec<u8>>) -> memocache_core::Result<u64> {
        // In a cluster, redis-rs splits a multi-key UNLINK by slot.
        self.query(redis_rs::cmd("UNLINK").arg(&keys))
            .map_err(keyspace_error)
    }
}

/// A message of the [`Keyspace`] commands, as the walk carries it.
fn keyspace_error(message: String) -> Error {
    Error::backend("redis", message)
}

/// The message of a failed walk over a namespace's keys.
pub fn walk_failed(error: Error) -> String {
    match error {
        Error::Backend { source, .. } => source.to_string(),
        other => other.report().to_string(),
    }
}

/// Refuses seeds that are plain servers: a cluster client connects to
/// them, but then finds no node for any key. The first seed answering
/// `INFO cluster` decides; one refusing INFO (renamed away, ACL) is
/// trusted.
fn check_cluster(config: &RedisConfig) -> Result<(), String> {
    let seeds = config.cluster_urls().map_err(|e| bad_setting(&e))?;
    for seed in seeds {
        let info = redis_rs::Client::open(seed.as_str())
            .and_then(|client| {
                client.get_connection_with_timeout(config.settings().connect_timeout())
            })
            .and_then(|mut connection| {
                connection.set_read_timeout(Some(config.settings().socket_timeout()))?;
                redis_rs::cmd("INFO")
                    .arg("cluster")
                    .query::<String>(&mut connection)
            });
        match info {
            Ok(info) if info.contains("cluster_enabled:0") => {
                return Err(format!(
                    "{} is not a Redis Cluster node (cluster_enabled:0): leave out --cluster \
                     to use it as a single server",
                    RedisConfig::new().url(seed).redacted_url()
                ));
            }
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() => {}
            // A cluster node, or a server that does not say.
            Ok(_) | Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A failed command's message.
fn failed(e: RedisError) -> String {
    format!("Redis failed: {e}")
}

/// The message of a connection that failed, naming the server(s) without
/// the password.
fn unreachable(config: &RedisConfig, error: &dyn std::fmt::Display) -> String {
    let what = if config.is_cluster() {
        "the Redis Cluster"
    } else if config.is_sentinel() {
        "the primary through the sentinels"
    } else {
        "Redis"
    };
    format!("cannot reach {what} at {}: {error}", config.redacted_url())
}

/// A setting refused by the store or redis-rs, with the option it came
/// from.
fn bad_setting(error: &Error) -> String {
    let message = match error {
        Error::Config(config) => Report::new(config).to_string(),
        other => other.report().to_string(),
    };
    let option = if message.contains("CA certificate") {
        "--ca-cert"
    } else if message.to_lowercase().contains("sentinel") {
        "--sentinel/--master"
    } else {
        "--url"
    };
    format!("bad {option}: {message}")
}

/// The URLs given, at least one; several only with `cluster` (they are a
/// cluster's seeds).
fn given_urls(urls: &[String], cluster: bool) -> Result<Vec<&str>, String> {
    let urls: Vec<&str> = urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    match urls.len() {
        0 => Err(format!(
            "no Redis URL: pass --url redis://host:port/db (rediss:// for TLS) or set REDIS_URL{}",
            if cluster {
                "; with --cluster, one or more of the cluster's nodes (comma-separated)"
            } else {
                ""
            }
        )),
        1 => Ok(urls),
        _ if cluster => Ok(urls),
        n => Err(format!(
            "{n} Redis URLs given, but several URLs are the seed nodes of a Redis Cluster: \
             add --cluster, or give a single --url"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_taken_and_several_need_cluster() {
        let one = vec!["redis://a:1/0".to_owned(), " ".to_owned()];
        assert_eq!(given_urls(&one, false).unwrap(), ["redis://a:1/0"]);
        assert_eq!(given_urls(&one, true).unwrap(), ["redis://a:1/0"]);
        let two = vec!["redis://a:1".to_owned(), "redis://:pw@b:2".to_owned()];
        let err = given_urls(&two, false).unwrap_err();
        assert!(err.contains("add --cluster"), "{err}");
        assert!(!err.contains("redis://"), "URLs may hold passwords: {err}");
        assert_eq!(
            given_urls(&two, true).unwrap(),
            ["redis://a:1", "redis://:pw@b:2"]
        );
        assert!(given_urls(&[], false).unwrap_err().contains("REDIS_URL"));
        assert!(given_urls(&[], true).unwrap_err().contains("--cluster"));
    }

    #[test]
    fn connect_errors_name_the_servers_without_passwords() {
        let config = RedisConfig::new().url("redis://:pw@h:1");
        let message = unreachable(&config, &"refused");
        assert!(message.contains("<redacted>") && !message.contains("pw@"));
        let cluster = RedisConfig::new().cluster(["redis://:pw@h:1", "redis://:pw@h:2"]);
        let message = unreachable(&cluster, &"refused");
        assert!(message.contains("Redis Cluster") && !message.contains("pw@"));
    }
}
