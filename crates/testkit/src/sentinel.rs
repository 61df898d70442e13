//! A local Redis Sentinel group: one primary, two replicas of it and three
//! sentinels monitoring it as [`SentinelGroup::MASTER`], each a throwaway
//! `redis-server` on a free port of 127.0.0.1 that dies with the test
//! process, like any [`RedisServer`].
//!
//! ```no_run
//! use memocache_testkit::SentinelGroup;
//!
//! let group = SentinelGroup::start(); // returns once the group is ready
//! let sentinels = group.sentinel_urls(); // what a client is given
//! let old = group.kill_primary(); // SIGKILL
//! let new = group.wait_for_failover(old); // a former replica, now master
//! assert_eq!(group.role(new), "master");
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::{
    Kind, RedisServer, check_redis_cli, free_port, node_on, ping, redis_cli, temp_dir, tls_config,
};

/// How long a group may take to be ready, and a failover to complete.
const SENTINEL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait between two looks at the group.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the data nodes add to the settings every test server shares: a
/// replica's first sync starts at once rather than after 5 s.
const DATA_NODE_CONFIG: &str = "repl-diskless-sync-delay 0\n";

/// A Redis Sentinel group of six `redis-server` processes: a primary, two
/// replicas (`replicaof` it) and three sentinels (`--sentinel`) that
/// monitor it as [`MASTER`](Self::MASTER) and fail it over to a replica
/// when it goes down. Every process has its own free port and temporary
/// directory on 127.0.0.1.
///
/// [`start`](Self::start) returns once the replicas are in sync and every
/// sentinel knows the primary, both replicas and the other two sentinels.
/// Dropping the group kills every process, the sentinels first.
pub struct SentinelGroup {
    /// Declared first so that they are dropped first: no sentinel sees the
    /// data nodes go.
    sentinels: Vec<RedisServer>,
    /// The primary as started, then the two replicas.
    nodes: Vec<RedisServer>,
    /// With [`start_with_tls_sentinels`](Self::start_with_tls_sentinels).
    tls: Option<SentinelTls>,
}

/// The sentinels' TLS ports, and the CA that signed their certificate.
struct SentinelTls {
    ports: Vec<u16>,
    ca_pem: String,
    /// Holds the certificate files.
    _dir: tempfile::TempDir,
}

impl SentinelGroup {
    /// The name the sentinels monitor the primary by (`sentinel monitor
    /// memocache-primary ...`), which a client asks them about.
    pub const MASTER: &'static str = "memocache-primary";

    /// How many sentinels must find the primary unreachable before it is
    /// objectively down and a failover may start (of three; electing the
    /// sentinel that leads the failover takes two votes as well).
    pub const QUORUM: u32 = 2;

    /// How long a sentinel waits for a reply from the primary before it
    /// finds it down (`down-after-milliseconds`): the least time between a
    /// primary's death and the start of its failover.
    pub const DOWN_AFTER_MS: u64 = 1000;

    /// The sentinels' `failover-timeout`: how long a failover may take, and
    /// how long sentinels wait before retrying one that failed (twice
    /// this, after a split vote, say), so the most a failover takes.
    pub const FAILOVER_TIMEOUT_MS: u64 = 10_000;

    /// Starts a primary, two replicas of it and three sentinels monitoring
    /// it, and waits until the group is ready: both replicas report
    /// `master_link_status:up`, and every sentinel reports the master at
    /// the primary's port, two replicas and two other sentinels, all up.
    ///
    /// # Panics
    ///
    /// If `redis-server` or `redis-cli` is missing, a process does not
    /// start, or the group is not ready within a minute (the message says
    /// what was not).
    pub fn start() -> Self {
        Self::start_with("", "", "", false)
    }

    /// [`start`](Self::start), but the primary as started cannot be made a
    /// replica (`REPLICAOF` and `SLAVEOF` renamed away): after a failover
    /// it stays a primary that takes writes and keeps its clients, so a
    /// client that moves to the promoted replica can only have followed
    /// the sentinels' `+switch-master`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_a_primary_that_stays() -> Self {
        Self::start_with(
            "rename-command REPLICAOF \"\"\nrename-command SLAVEOF \"\"\n",
            "",
            "",
            false,
        )
    }

    /// [`start`](Self::start), with an ACL user on every data node
    /// (`data_user`, `data_password`) and another on every sentinel
    /// (`sentinel_user`, `sentinel_password`), each allowed everything;
    /// the `default` user stays open, for the group's own checks. A client
    /// that authenticates as each on its side shows as that user in
    /// `CLIENT LIST`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_users(
        (data_user, data_password): (&str, &str),
        (sentinel_user, sentinel_password): (&str, &str),
    ) -> Self {
        let data = format!("user {data_user} on >{data_password} ~* &* +@all\n");
        let sentinel = format!("user {sentinel_user} on >{sentinel_password} ~* &* +@all\n");
        Self::start_with("", &data, &sentinel, false)
    }

    /// [`start`](Self::start), every sentinel also listening for TLS on a
    /// port of its own ([`tls_sentinel_urls`](Self::tls_sentinel_urls),
    /// certificates signed by [`sentinel_ca_pem`](Self::sentinel_ca_pem));
    /// the data nodes speak plain TCP only, and so do the group's own
    /// checks.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_tls_sentinels() -> Self {
        Self::start_with("", "", "", true)
    }

    /// Starts a group whose primary's configuration adds `primary`, every
    /// data node's `data` and every sentinel's `sentinel`; with `tls`, the
    /// sentinels listen for TLS too.
    fn start_with(primary: &str, data: &str, sentinel: &str, tls: bool) -> Self {
        check_redis_cli();
        let primary =
            RedisServer::launch(Kind::Plain, format!("{DATA_NODE_CONFIG}{data}{primary}"));
        let primary_port = primary.port();
        let replica_config =
            format!("{DATA_NODE_CONFIG}{data}replicaof 127.0.0.1 {primary_port}\n");
        let mut nodes = vec![primary];
        nodes.extend((0..2).map(|_| RedisServer::launch(Kind::Plain, replica_config.clone())));

        let master = Self::MASTER;
        let sentinel_config = format!(
            "{sentinel}sentinel monitor {master} 127.0.0.1 {primary_port} {}\n\
             sentinel down-after-milliseconds {master} {}\n\
             sentinel failover-timeout {master} {}\n",
            Self::QUORUM,
            Self::DOWN_AFTER_MS,
            Self::FAILOVER_TIMEOUT_MS
        );
        let tls = tls.then(|| {
            let dir = temp_dir();
            let (settings, ca_pem) = tls_config(dir.path());
            let ports = (0..3).map(|_| free_port()).collect();
            (
                settings,
                SentinelTls {
                    ports,
                    ca_pem,
                    _dir: dir,
                },
            )
        });
        // Each in its own directory, where it rewrites its config file.
        let sentinels = (0..3)
            .map(|i| {
                let tls_settings = tls.as_ref().map_or(String::new(), |(settings, tls)| {
                    format!("{settings}tls-port {}\n", tls.ports[i])
                });
                RedisServer::launch(Kind::Sentinel, format!("{tls_settings}{sentinel_config}"))
            })
            .collect();

        let group = SentinelGroup {
            sentinels,
            nodes,
            tls: tls.map(|(_, tls)| tls),
        };
        group.wait_until_ready(primary_port);
        group
    }

    /// Settings for this group: its sentinels, and the master's name.
    pub fn config(&self) -> memocache_redis_plumbing::config::RedisConfig {
        memocache_redis_plumbing::config::RedisConfig::new()
            .sentinel(Self::MASTER, self.sentinel_urls())
    }

    /// Every sentinel's URL (`redis://127.0.0.1:PORT`).
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// Every sentinel's TLS URL (`rediss://127.0.0.1:PORT`).
    ///
    /// # Panics
    ///
    /// If the group was not started with
    /// [`start_with_tls_sentinels`](Self::start_with_tls_sentinels).
    pub fn tls_sentinel_urls(&self) -> Vec<String> {
        self.sentinel_tls()
            .ports
            .iter()
            .map(|port| format!("rediss://127.0.0.1:{port}"))
            .collect()
    }

    /// The CA that signed the sentinels' TLS certificate (PEM).
    ///
    /// # Panics
    ///
    /// As [`tls_sentinel_urls`](Self::tls_sentinel_urls).
    pub fn sentinel_ca_pem(&self) -> &str {
        &self.sentinel_tls().ca_pem
    }

    fn sentinel_tls(&self) -> &SentinelTls {
        self.tls
            .as_ref()
            .expect("the group was started without TLS sentinels: use start_with_tls_sentinels")
    }

    /// The three sentinel processes; [`kill`](RedisServer::kill),
    /// [`pause`](RedisServer::pause) and the rest work on them as on any
    /// server.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The three data nodes: the primary as started, then the two
    /// replicas (a failover changes who is which: see
    /// [`primary_port`](Self::primary_port) and [`role`](Self::role)).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The data node listening on `port`.
    ///
    /// # Panics
    ///
    /// If no data node of this group has that port.
    pub fn node(&self, port: u16) -> &RedisServer {
        node_on(&self.nodes, port, "data node of the sentinel group")
    }

    /// The master's port as a majority of the live sentinels report it now
    /// (`SENTINEL get-master-addr-by-name`); a killed or paused sentinel
    /// is left out.
    ///
    /// # Panics
    ///
    /// If no sentinel answers, or no port has a majority of those that do
    /// (in the middle of a failover, say: see
    /// [`wait_for_failover`](Self::wait_for_failover)).
    pub fn primary_port(&self) -> u16 {
        let reports = self.reports();
        let live: Vec<Option<u16>> = reports.iter().filter_map(|r| r.answer).collect();
        assert!(!live.is_empty(), "no sentinel of the group answers");
        live.iter()
            .flatten()
            .copied()
            .find(|port| 2 * live.iter().filter(|p| **p == Some(*port)).count() > live.len())
            .unwrap_or_else(|| {
                panic!(
                    "no majority of the live sentinels reports the same master: {}",
                    describe(&reports)
                )
            })
    }

    /// SIGKILLs the current primary (the process, as
    /// [`RedisServer::kill`] does) and answers its port; the sentinels
    /// find out on their own (see
    /// [`wait_for_failover`](Self::wait_for_failover)).
    ///
    /// # Panics
    ///
    /// As [`primary_port`](Self::primary_port).
    pub fn kill_primary(&self) -> u16 {
        let port = self.primary_port();
        self.node(port).kill();
        port
    }

    /// Waits until every live sentinel reports the same master, not
    /// `old_primary`, and that node answers `ROLE` as `master`; answers its
    /// port.
    ///
    /// # Panics
    ///
    /// If that does not happen within a minute (the message says what each
    /// sentinel reports).
    pub fn wait_for_failover(&self, old_primary: u16) -> u16 {
        let deadline = Instant::now() + SENTINEL_TIMEOUT;
        loop {
            let reports = self.reports();
            let mut answers = reports.iter().filter_map(|r| r.answer);
            let first = answers.next().flatten();
            let agreed = first.filter(|_| answers.all(|answer| answer == first));
            let promoted = agreed.filter(|&port| {
                port != old_primary
                    && self.nodes.iter().any(|n| n.port() == port)
                    && ping(port, &Kind::Plain)
                    && self.role(port) == "master"
            });
            if let Some(new) = promoted {
                return new;
            }
            assert!(
                Instant::now() < deadline,
                "no failover from the primary on port {old_primary} within \
                 {SENTINEL_TIMEOUT:?}: {}; role of the reported masters: {}",
                describe(&reports),
                self.roles_of(&reports)
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The first line of `ROLE` on the data node on `port`: `master` or
    /// `slave`; empty when it does not answer (killed). Do not ask a paused
    /// node: `redis-cli` waits for it.
    ///
    /// # Panics
    ///
    /// If no data node of this group has that port.
    pub fn role(&self, port: u16) -> String {
        let node = self.node(port);
        redis_cli(node.port(), &["ROLE"])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the replicas are in sync with `primary` and every
    /// sentinel knows it, both replicas and the two other sentinels.
    fn wait_until_ready(&self, primary: u16) {
        let deadline = Instant::now() + SENTINEL_TIMEOUT;
        while let Some(waiting) = self.not_ready(primary) {
            assert!(
                Instant::now() < deadline,
                "the sentinel group was not ready within {SENTINEL_TIMEOUT:?}: {waiting}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// What keeps the group from being ready with `primary` as its master;
    /// `None` once nothing does.
    fn not_ready(&self, primary: u16) -> Option<String> {
        let mut waiting = Vec::new();
        for replica in self.nodes.iter().filter(|n| n.port() != primary) {
            let port = replica.port();
            if !redis_cli(port, &["INFO", "replication"]).contains("master_link_status:up") {
                waiting.push(format!(
                    "the replica on {port} is not in sync with {primary}"
                ));
            }
        }
        for sentinel in &self.sentinels {
            let port = sentinel.port();
            let master = reported_master(port);
            if master != Some(primary) {
                waiting.push(format!(
                    "the sentinel on {port} reports the master at {}, not {primary}",
                    master.map_or_else(|| "no port".to_owned(), |p| p.to_string())
                ));
            }
            let replicas = count_up(&redis_cli(port, &["SENTINEL", "REPLICAS", Self::MASTER]));
            if replicas != 2 {
                waiting.push(format!(
                    "the sentinel on {port} knows {replicas} replicas up, not 2"
                ));
            }
            let others = count_up(&redis_cli(port, &["SENTINEL", "SENTINELS", Self::MASTER]));
            if others != 2 {
                waiting.push(format!(
                    "the sentinel on {port} knows {others} other sentinels up, not 2"
                ));
            }
        }
        (!waiting.is_empty()).then(|| waiting.join("; "))
    }

    /// What every sentinel reports as the master's port now.
    fn reports(&self) -> Vec<Report> {
        self.sentinels
            .iter()
            .map(|sentinel| {
                let port = sentinel.port();
                // A paused sentinel would hold redis-cli: ping it first.
                let answer = ping(port, &Kind::Sentinel).then(|| reported_master(port));
                Report { port, answer }
            })
            .collect()
    }

    /// `PORT: ROLE` of each distinct live data node the sentinels report,
    /// for a failure message.
    fn roles_of(&self, reports: &[Report]) -> String {
        let mut ports: Vec<u16> = reports.iter().filter_map(|r| r.answer.flatten()).collect();
        ports.sort_unstable();
        ports.dedup();
        let roles: Vec<String> = ports
            .into_iter()
            .map(|port| {
                let role = if !self.nodes.iter().any(|n| n.port() == port) {
                    "not a node of the group".to_owned()
                } else if ping(port, &Kind::Plain) {
                    self.role(port)
                } else {
                    "does not answer".to_owned()
                };
                format!("{port}: {role}")
            })
            .collect();
        if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        }
    }
}

/// What one sentinel reports as the master's port.
struct Report {
    /// The sentinel's port.
    port: u16,
    /// `None` when the sentinel does not answer; `Some(None)` when it
    /// answers no port.
    answer: Option<Option<u16>>,
}

/// Each sentinel and what it reports, for a failure message.
fn describe(reports: &[Report]) -> String {
    let mut text = String::new();
    for (i, report) in reports.iter().enumerate() {
        let said = match report.answer {
            None => "does not answer".to_owned(),
            Some(None) => "reports no master".to_owned(),
            Some(Some(port)) => format!("reports the master at {port}"),
        };
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(text, "{separator}the sentinel on {} {said}", report.port);
    }
    text
}

/// The master's port as the sentinel on `port` reports it
/// (`SENTINEL get-master-addr-by-name`: the address, then the port).
fn reported_master(port: u16) -> Option<u16> {
    redis_cli(
        port,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelGroup::MASTER],
    )
    .lines()
    .nth(1)?
    .trim()
    .parse()
    .ok()
}

/// How many entries of a `SENTINEL replicas` or `SENTINEL sentinels` reply
/// are up: their `flags` name none of `s_down`, `o_down`, `disconnected`.
/// `redis-cli` prints such a reply one field name or value a line, every
/// entry a list of name/value pairs, so the pairs line up across entries.
fn count_up(reply: &str) -> usize {
    let lines: Vec<&str> = reply.lines().collect();
    lines
        .chunks(2)
        .filter(|pair| {
            let [name, flags] = pair else { return false };
            *name == "flags"
                && !flags
                    .split(',')
                    .any(|flag| matches!(flag, "s_down" | "o_down" | "disconnected"))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long a write may take to reach a replica.
    const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

    #[test]
    fn a_group_starts_with_one_master_and_two_replicas() {
        let group = SentinelGroup::start();
        let primary = group.primary_port();
        assert_eq!(group.nodes().len(), 3);
        for node in group.nodes() {
            let expected = if node.port() == primary {
                "master"
            } else {
                "slave"
            };
            assert_eq!(group.role(node.port()), expected, "node {}", node.port());
        }
        let urls = group.sentinel_urls();
        assert_eq!(urls.len(), 3);
        assert!(urls.iter().all(|url| url.starts_with("redis://127.0.0.1:")));
        assert_eq!(group.sentinels().len(), 3);
    }

    #[test]
    fn a_key_set_on_the_primary_reaches_a_replica() {
        let group = SentinelGroup::start();
        let primary = group.primary_port();
        let reply = redis_cli(primary, &["SET", "sentinel:replicated", "yes"]);
        assert_eq!(reply.trim(), "OK");
        let replica = group
            .nodes()
            .iter()
            .map(RedisServer::port)
            .find(|&port| port != primary)
            .expect("a replica");
        let deadline = Instant::now() + REPLICATION_TIMEOUT;
        while redis_cli(replica, &["GET", "sentinel:replicated"]).trim() != "yes" {
            assert!(
                Instant::now() < deadline,
                "the key set on {primary} did not reach the replica on {replica} \
                 within {REPLICATION_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_replica_takes_over_when_the_primary_is_killed() {
        let group = SentinelGroup::start();
        let replicas: Vec<u16> = group
            .nodes()
            .iter()
            .map(RedisServer::port)
            .filter(|&port| group.role(port) == "slave")
            .collect();
        let old = group.kill_primary();
        assert!(!replicas.contains(&old), "killed a replica, {old}");
        assert!(!ping(old, &Kind::Plain), "the killed primary still answers");
        let new = group.wait_for_failover(old);
        assert!(
            replicas.contains(&new),
            "the new primary {new} is not one of the replicas {replicas:?}"
        );
        assert_eq!(group.role(new), "master");
        assert_eq!(group.primary_port(), new);
        let reply = redis_cli(new, &["SET", "sentinel:after-failover", "yes"]);
        assert_eq!(reply.trim(), "OK", "SET on the new primary {new}");
    }
}
