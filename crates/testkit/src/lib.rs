//! Throwaway `redis-server` processes for memocache's tests: plain, TLS
//! (certificates made in-process) and ACL-restricted, each on a free port
//! of 127.0.0.1 and never the shared 6379.
//!
//! A server dies with the test process even when no destructor runs (a
//! server kept in a `static`, a panic that aborts): `redis-server` is
//! launched by a small `sh` wrapper that reads the test process' pipe and
//! SIGKILLs the server when it sees end-of-file, which the kernel delivers
//! as soon as the test process is gone. Dropping a [`RedisServer`] kills it
//! at once.
//!
//! Servers keep no data on disk (`save ""`, `appendonly no`, a temporary
//! `dir`). When `redis-server` is not installed, starting one panics with
//! the command that installs it.
//!
//! ```no_run
//! use memocache_testkit::RedisServer;
//!
//! let server = RedisServer::start();
//! println!("connect to {}", server.url());
//! server.pause(); // SIGSTOP: the server stops answering
//! server.resume(); // SIGCONT
//! server.kill(); // SIGKILL
//! server.restart(); // a fresh, empty server on the same port
//! ```
//!
//! The rest is what memocache's test suites share:
//!
//! - [`callers`]: the stores a backend offers, the memoizers a check calls
//!   on either path, and a counter of real computations;
//! - [`behaviour`]: the Memoizer behaviour suite every store runs;
//! - [`load`]: concurrent callers on both paths, for fault tests;
//! - [`logs`]: what the test process logs, captured once;
//! - [`sentinel`]: a primary with two replicas watched by three
//!   sentinels ([`SentinelGroup`]), and their failover;
//! - [`suites`]: what every Redis client backend runs (conformance and
//!   behaviour on a real server, faults, TLS, ACL users, cluster failover);
//! - [`python`]: the Python reference, installed into a virtualenv, and the
//!   machine's `python3`.
#![warn(missing_docs)]

pub mod behaviour;
pub mod callers;
pub mod load;
pub mod logs;
pub mod python;
pub mod resident;
pub mod sentinel;
pub mod suites;

pub use sentinel::SentinelGroup;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// How long a cluster node waits for another before calling it failed.
const CLUSTER_NODE_TIMEOUT_MS: u64 = 1500;

/// How long a cluster may take to reach `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How many free ports to try when another process takes the one picked.
const PORT_ATTEMPTS: usize = 10;

/// Launches `redis-server "$@"` in the background, prints its pid, then
/// waits for end-of-file on stdin (the test process' pipe) to SIGKILL it.
const WRAPPER: &str = r#"redis-server "$@" >/dev/null 2>&1 & c=$!; echo "$c"; read _; kill -9 "$c" 2>/dev/null; wait "$c""#;

/// A `redis-server` process owned by a test.
pub struct RedisServer {
    port: u16,
    kind: Kind,
    dir: tempfile::TempDir,
    process: Mutex<Option<Process>>,
}

/// What sort of server this is.
enum Kind {
    Plain,
    Tls {
        ca_pem: String,
    },
    Acl,
    /// A node of a [`RedisCluster`].
    ClusterNode,
    /// A sentinel of a [`SentinelGroup`] (`redis-server CONF --sentinel`).
    Sentinel,
}

impl Kind {
    /// A port to try: any free one, or for a cluster node one whose bus
    /// port (port + 10000) is free too.
    fn free_port(&self) -> u16 {
        match self {
            Kind::ClusterNode => free_cluster_port(),
            _ => free_port(),
        }
    }
}

/// A running server: the `sh` wrapper (our child, whose stdin we hold) and
/// the pid of the `redis-server` it launched.
struct Process {
    wrapper: Child,
    pid: libc::pid_t,
}

impl RedisServer {
    /// Starts a plain server (no TLS, no password).
    pub fn start() -> Self {
        Self::launch(Kind::Plain, String::new())
    }

    /// Starts a plain server with `config` (lines of `redis.conf`, e.g.
    /// `rename-command CLIENT ""` or a `user` line) after the test
    /// settings.
    pub fn start_with_config(config: &str) -> Self {
        Self::launch(Kind::Plain, config.to_owned())
    }

    /// A plain server shared by the whole test process, started on first
    /// use; tests sharing it must use their own key prefixes and must not
    /// kill, pause or restart it.
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    /// Starts a server that speaks only TLS, with a certificate for
    /// `127.0.0.1` and `localhost` signed by a fresh CA (see
    /// [`ca_pem`](Self::ca_pem)); clients need no certificate.
    pub fn start_tls() -> Self {
        let dir = temp_dir();
        let (config, ca_pem) = tls_config(dir.path());
        Self::launch_in(dir, Kind::Tls { ca_pem }, config)
    }

    /// Starts a server whose only usable account is `user` with `password`,
    /// allowed every command on keys matching `key_pattern` (a Redis glob,
    /// e.g. `cache:*`) and no other key; the default user is disabled.
    pub fn start_with_acl(user: &str, password: &str, key_pattern: &str) -> Self {
        let config = format!(
            "user default off\nuser {} on {} {} +@all\n",
            quote(user),
            quote(format!(">{password}")),
            quote(format!("~{key_pattern}"))
        );
        Self::launch(Kind::Acl, config)
    }

    /// A PEM CA certificate that signed nothing any test server uses, for
    /// checking that a client refuses a server it should not trust.
    pub fn unrelated_ca_pem() -> String {
        CertifiedIssuer::self_signed(ca_params("memocache unrelated CA"), key_pair())
            .expect("cannot sign the unrelated CA")
            .pem()
    }

    /// The CA that signed a TLS server's certificate (PEM); `None` for a
    /// server without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        match &self.kind {
            Kind::Tls { ca_pem } => Some(ca_pem),
            Kind::Plain | Kind::Acl | Kind::ClusterNode | Kind::Sentinel => None,
        }
    }

    /// The file holding [`ca_pem`](Self::ca_pem), for settings that take a
    /// path; `None` for a server without TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca_pem().map(|_| self.dir.path().join("ca.pem"))
    }

    /// The server's URL without credentials: `redis://127.0.0.1:PORT`, or
    /// `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem().is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (its TLS port for a TLS server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL and waits until it is gone; a no-op
    /// when it is not running.
    pub fn kill(&self) {
        if let Some(process) = self.process().take() {
            process.kill();
        }
    }

    /// Stops the server with SIGSTOP: connections stay open but nothing is
    /// answered until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a [paused](Self::pause) server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the server and starts a fresh, empty one on the same port,
    /// with the same settings; returns once it answers.
    pub fn restart(&self) {
        let mut process = self.process();
        if let Some(old) = process.take() {
            old.kill();
        }
        // The port was ours a moment ago; wait out a brief reuse by others.
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match spawn(&self.config_path(), self.dir.path(), self.port, &self.kind) {
                Ok(started) => {
                    *process = Some(started);
                    return;
                }
                Err(failure) => last_failure = failure,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "cannot restart redis-server on port {}: {last_failure}",
            self.port
        );
    }

    fn launch(kind: Kind, extra_config: String) -> Self {
        Self::launch_in(temp_dir(), kind, extra_config)
    }

    fn launch_in(dir: tempfile::TempDir, kind: Kind, extra_config: String) -> Self {
        check_installed();
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = kind.free_port();
            let config_path = dir.path().join("redis.conf");
            let config = base_config(dir.path(), port, &kind) + &extra_config;
            std::fs::write(&config_path, config).expect("cannot write redis.conf");
            match spawn(&config_path, dir.path(), port, &kind) {
                Ok(process) => {
                    return RedisServer {
                        port,
                        kind,
                        dir,
                        process: Mutex::new(Some(process)),
                    };
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("cannot start redis-server after {PORT_ATTEMPTS} attempts: {last_failure}");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("redis.conf")
    }

    fn process(&self) -> MutexGuard<'_, Option<Process>> {
        self.process
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn signal(&self, signal: libc::c_int) {
        let process = self.process();
        let process = process.as_ref().expect("the redis-server was killed");
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our
        // wrapper's unreaped child, so it cannot have been reused.
        let rc = unsafe { libc::kill(process.pid, signal) };
        assert_eq!(
            rc,
            0,
            "cannot signal redis-server: {}",
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Process {
    /// SIGKILLs the server through the wrapper and reaps both.
    fn kill(mut self) {
        // SAFETY: as in `signal`; SIGKILL also ends a stopped process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        // End-of-file lets the wrapper go on to `kill -9` and `wait`, which
        // reaps the server; then we reap the wrapper.
        drop(self.wrapper.stdin.take());
        let _ = self.wrapper.wait();
    }

    /// Whether the server process has exited.
    fn has_exited(&self) -> bool {
        // An exited but unreaped process is a zombie (`Z`).
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).map_or(true, |stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, fields)| fields.starts_with('Z') || fields.starts_with('X'))
        })
    }
}

/// Launches the server and waits until it answers PING; on failure kills
/// what was started and says why.
fn spawn(config: &Path, dir: &Path, port: u16, kind: &Kind) -> Result<Process, String> {
    // What the server's log held before: a restart appends to it.
    let log = dir.join("redis.log");
    let logged = std::fs::metadata(&log).map_or(0, |meta| meta.len());
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg("sh")
        .arg(config)
        // After the config file, as `redis-server` wants it.
        .args(matches!(kind, Kind::Sentinel).then_some("--sentinel"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh to launch redis-server: {e}"));
    let mut pid_line = String::new();
    BufReader::new(wrapper.stdout.take().expect("piped stdout"))
        .read_line(&mut pid_line)
        .expect("cannot read the redis-server pid");
    let pid = pid_line.trim().parse().expect("the wrapper printed no pid");
    let process = Process { wrapper, pid };

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        // The answer must come from this server: one that could not bind
        // the port (another test process took it meanwhile) says nothing
        // in its own log, and another's server answers the PING.
        if ping(port, kind) && ready_since(&log, logged) {
            return Ok(process);
        }
        if process.has_exited() || Instant::now() > deadline {
            process.kill();
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            let mut reason =
                format!("redis-server on port {port} did not start; its log ends with:");
            for line in tail.iter().rev() {
                let _ = write!(reason, "\n  {line}");
            }
            return Err(reason);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the server logging to `log` said it is ready (a sentinel, that
/// it runs), after the first `logged` bytes of the log (what earlier runs
/// wrote).
fn ready_since(log: &Path, logged: u64) -> bool {
    std::fs::read(log).is_ok_and(|text| {
        let fresh = text
            .get(usize::try_from(logged).unwrap_or(usize::MAX)..)
            .unwrap_or(&[]);
        let fresh = String::from_utf8_lossy(fresh);
        fresh.contains("Ready to accept connections") || fresh.contains("Sentinel ID is")
    })
}

/// Whether a server answers PING on `port` (an ACL server answers NOAUTH,
/// which is an answer too).
fn ping(port: u16, kind: &Kind) -> bool {
    let Ok(tcp) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(2)));
    let reply = match kind {
        Kind::Tls { ca_pem } => exchange(tls_stream(tcp, ca_pem)),
        Kind::Plain | Kind::Acl | Kind::ClusterNode | Kind::Sentinel => exchange(tcp),
    };
    reply.is_some_and(|line| line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
}

/// Sends PING and reads the first reply line.
fn exchange(mut stream: impl Read + Write) -> Option<String> {
    stream.write_all(b"PING\r\n").ok()?;
    stream.flush().ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line)
}

fn tls_stream(
    tcp: TcpStream,
    ca_pem: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("test CA PEM")).expect("test CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    rustls::StreamOwned::new(connection, tcp)
}

/// The settings every test server shares.
fn base_config(dir: &Path, port: u16, kind: &Kind) -> String {
    let ports = match kind {
        Kind::Tls { .. } => format!("port 0\ntls-port {port}\n"),
        Kind::Plain | Kind::Acl | Kind::Sentinel => format!("port {port}\n"),
        Kind::ClusterNode => format!(
            "port {port}\ncluster-enabled yes\ncluster-config-file nodes.conf\n\
             cluster-node-timeout {CLUSTER_NODE_TIMEOUT_MS}\nrepl-diskless-sync-delay 0\n"
        ),
    };
    format!(
        "bind 127.0.0.1\n{ports}save \"\"\nappendonly no\ndaemonize no\ndir {}\nlogfile {}\n",
        quote(dir),
        quote(dir.join("redis.log"))
    )
}

/// A fresh CA and a certificate it signed for `127.0.0.1` and `localhost`,
/// written to `dir` (`ca.pem`, `server.pem`, `server.key`): the server
/// settings that use them (clients need no certificate), and the CA's PEM.
pub(crate) fn tls_config(dir: &Path) -> (String, String) {
    let ca = CertifiedIssuer::self_signed(ca_params("memocache test CA"), key_pair())
        .expect("cannot sign the test CA");
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server certificate parameters");
    let server_key = key_pair();
    let server_cert = server_params
        .signed_by(&server_key, &ca)
        .expect("cannot sign the server certificate");
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    };
    let ca_file = write("ca.pem", &ca.pem());
    let cert_file = write("server.pem", &server_cert.pem());
    let key_file = write("server.key", &server_key.serialize_pem());
    let config = format!(
        "tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\n",
        quote(&cert_file),
        quote(&key_file),
        quote(&ca_file)
    );
    (config, ca.pem())
}

/// A port nothing listens on right now (the OS' pick for port 0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("cannot find a free port")
        .port()
}

/// A port below 55536 that is free, and whose cluster bus port (port +
/// 10000) is free too.
fn free_cluster_port() -> u16 {
    let mut seed = std::process::id()
        ^ SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    loop {
        // xorshift: a different candidate each turn.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let port = 20_000 + u16::try_from(seed % 25_000).expect("below 25000");
        let bindable = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if bindable(port) && bindable(port + 10_000) {
            return port;
        }
    }
}

pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("memocache-redis-")
        .tempdir()
        .expect("cannot create a temporary directory")
}

/// Panics with how to install `redis-server` when it is not on PATH.
fn check_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed =
        INSTALLED.get_or_init(
            || match Command::new("redis-server").arg("--version").output() {
                Ok(output) if output.status.success() => Ok(()),
                Ok(output) => Err(format!(
                    "`redis-server --version` failed: {}",
                    output.status
                )),
                Err(e) => Err(e.to_string()),
            },
        );
    if let Err(e) = installed {
        panic!(
            "the Redis tests need redis-server on PATH ({e}); install it, e.g. with \
             `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)"
        );
    }
}

/// A config-file argument in double quotes, as redis.conf reads them.
fn quote(value: impl AsRef<std::ffi::OsStr>) -> String {
    let value = value.as_ref().to_string_lossy();
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn key_pair() -> KeyPair {
    KeyPair::generate().expect("cannot generate a key pair")
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A local Redis Cluster of six `redis-server` processes: three primaries
/// with one replica each, built with `redis-cli --cluster create` and
/// ready (`cluster_state:ok` on every node) when [`start`](Self::start)
/// returns. Its nodes die with the test process, like any [`RedisServer`].
///
/// ```no_run
/// use memocache_testkit::RedisCluster;
///
/// let cluster = RedisCluster::start();
/// let seeds = cluster.seed_urls(); // one is enough for a client
/// let primary = cluster.primaries()[0];
/// cluster.kill_primary(primary); // returns once its replica took over
/// ```
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes, joins them into a cluster with one replica per
    /// primary, and waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        check_redis_cli();
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| RedisServer::launch(Kind::ClusterNode, String::new()))
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// A cluster shared by the whole test process, started on first use;
    /// tests sharing it must use their own key prefixes and must not kill
    /// its nodes (those start their own).
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    /// Settings for this cluster through one seed node (the clients find
    /// the others).
    pub fn config(&self) -> memocache_redis_plumbing::config::RedisConfig {
        memocache_redis_plumbing::config::RedisConfig::new().cluster([self.nodes[0].url()])
    }

    /// Every node's URL (`redis://127.0.0.1:PORT`); any one is a seed.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The six nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The node listening on `port`.
    ///
    /// # Panics
    ///
    /// If no node of this cluster has that port.
    pub fn node(&self, port: u16) -> &RedisServer {
        node_on(&self.nodes, port, "cluster node")
    }

    /// The ports of the primaries that hold slots, as a live node sees them
    /// now (a failed primary is left out).
    pub fn primaries(&self) -> Vec<u16> {
        let nodes = self.ask_any(&["CLUSTER", "NODES"]);
        nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                let serves_slots = fields.len() > 8;
                (flags.contains("master") && !flags.contains("fail") && serves_slots)
                    .then(|| {
                        fields[1]
                            .split(['@', ','])
                            .next()?
                            .rsplit_once(':')?
                            .1
                            .parse()
                            .ok()
                    })
                    .flatten()
            })
            .collect()
    }

    /// Waits until every live node reports `cluster_state:ok` and knows
    /// three primaries serving all 16384 slots, and every live replica is in
    /// sync with its primary (after a start, or a failover).
    ///
    /// # Panics
    ///
    /// If that does not happen within a minute.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            let live: Vec<&RedisServer> = self
                .nodes
                .iter()
                .filter(|n| ping(n.port(), &Kind::ClusterNode))
                .collect();
            // A replica that has not finished its first sync cannot take
            // over, so the cluster is ready only once every replica is.
            let all_ok = !live.is_empty()
                && live.iter().all(|n| {
                    let info = redis_cli(n.port(), &["CLUSTER", "INFO"]);
                    let replication = redis_cli(n.port(), &["INFO", "replication"]);
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && (replication.contains("role:master")
                            || replication.contains("master_link_status:up"))
                });
            if all_ok && self.primaries().len() == 3 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok within {CLUSTER_TIMEOUT:?}; \
                 primaries {:?}; nodes:\n{}",
                self.primaries(),
                self.ask_any(&["CLUSTER", "NODES"])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the primary on `port` (SIGKILL) and waits until its replica
    /// has taken over and the cluster is `ok` again.
    ///
    /// # Panics
    ///
    /// If `port` is not a primary, or the failover takes over a minute.
    pub fn kill_primary(&self, port: u16) {
        assert!(self.primaries().contains(&port), "{port} is not a primary");
        self.node(port).kill();
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        while self.primaries().contains(&port) {
            assert!(
                Instant::now() < deadline,
                "no replica took over from {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_until_ok();
    }

    /// The port of the primary serving `key`'s slot, and the slot.
    ///
    /// # Panics
    ///
    /// If no live primary serves it.
    pub fn primary_of(&self, key: &str) -> (u16, u16) {
        let slot: u16 = self
            .ask_any(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        let port = self
            .primary_nodes()
            .into_iter()
            .find(|node| node.serves(slot))
            .unwrap_or_else(|| panic!("no primary serves slot {slot}"))
            .port;
        (port, slot)
    }

    /// Moves the slot holding `key`, with its keys, from the primary
    /// serving it to another one, as a resharding does (`IMPORTING`,
    /// `MIGRATING`, `MIGRATE`, `SETSLOT NODE`); answers the ports it moved
    /// from and to.
    ///
    /// # Panics
    ///
    /// If a step fails, or the cluster is not `ok` within a minute after.
    pub fn move_slot_of(&self, key: &str) -> (u16, u16) {
        let (from, slot) = self.primary_of(key);
        let primaries = self.primary_nodes();
        let source = primaries
            .iter()
            .find(|n| n.port == from)
            .expect("the source");
        let target = primaries
            .iter()
            .find(|n| n.port != from)
            .expect("another primary");
        let slot = slot.to_string();
        let run = |port: u16, args: &[&str]| {
            let reply = redis_cli(port, args);
            assert!(
                !reply.starts_with("ERR") && !reply.is_empty(),
                "{args:?} on {port}: {reply}"
            );
            reply
        };
        run(
            target.port,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source.id],
        );
        run(
            source.port,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target.id],
        );
        let keys = run(source.port, &["CLUSTER", "GETKEYSINSLOT", &slot, "1000"]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        if !keys.is_empty() {
            let target_port = target.port.to_string();
            let mut migrate = vec![
                "MIGRATE",
                "127.0.0.1",
                &target_port,
                "",
                "0",
                "5000",
                "KEYS",
            ];
            migrate.extend(keys);
            run(source.port, &migrate);
        }
        for node in &primaries {
            run(
                node.port,
                &["CLUSTER", "SETSLOT", &slot, "NODE", &target.id],
            );
        }
        self.wait_until_ok();
        (from, target.port)
    }

    /// The live primaries that serve slots: id, port and slot ranges.
    fn primary_nodes(&self) -> Vec<ClusterNode> {
        self.ask_any(&["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let port = fields[1]
                    .split(['@', ','])
                    .next()?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()?;
                let slots = fields
                    .iter()
                    .skip(8)
                    .filter(|range| !range.starts_with('['))
                    .filter_map(|range| {
                        let (low, high) = range.split_once('-').unwrap_or((range, range));
                        Some((low.parse().ok()?, high.parse().ok()?))
                    })
                    .collect();
                Some(ClusterNode {
                    id: fields[0].to_owned(),
                    port,
                    slots,
                })
            })
            // A primary without slots is not one yet (or no longer) for
            // every node: a replica not yet known as one, say.
            .filter(|node| !node.slots.is_empty())
            .collect()
    }

    /// A command's reply from the first node that answers.
    fn ask_any(&self, args: &[&str]) -> String {
        self.nodes
            .iter()
            .filter(|n| ping(n.port(), &Kind::ClusterNode))
            .map(|n| redis_cli(n.port(), args))
            .find(|reply| !reply.is_empty())
            .expect("no cluster node answers")
    }
}

/// A primary of a cluster, as `CLUSTER NODES` shows it.
struct ClusterNode {
    id: String,
    port: u16,
    /// Inclusive slot ranges.
    slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    fn serves(&self, slot: u16) -> bool {
        self.slots
            .iter()
            .any(|&(low, high)| (low..=high).contains(&slot))
    }
}

/// The server of `nodes` listening on `port`; panics naming `what` it is
/// when there is none.
pub(crate) fn node_on<'a>(nodes: &'a [RedisServer], port: u16, what: &str) -> &'a RedisServer {
    nodes
        .iter()
        .find(|n| n.port() == port)
        .unwrap_or_else(|| panic!("no {what} on port {port}"))
}

/// `redis-cli -p PORT args...`'s output, empty if it failed.
pub(crate) fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Panics with how to install `redis-cli` when it is not on PATH.
fn check_redis_cli() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        panic!(
            "the cluster and sentinel tests need redis-cli on PATH; install it, e.g. with \
             `apt-get install redis-tools` (Debian/Ubuntu) or `brew install redis` (macOS)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_answers_and_dies_when_killed() {
        let server = RedisServer::start();
        assert!(ping(server.port(), &Kind::Plain));
        assert!(server.url().starts_with("redis://127.0.0.1:"));
        server.kill();
        assert!(
            !ping(server.port(), &Kind::Plain),
            "killed server still answers"
        );
    }

    #[test]
    fn restart_keeps_the_port() {
        let server = RedisServer::start();
        let port = server.port();
        server.restart();
        assert_eq!(server.port(), port);
        assert!(ping(port, &Kind::Plain));
    }

    #[test]
    fn a_paused_server_does_not_answer_until_resumed() {
        let server = RedisServer::start();
        server.pause();
        let mut tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port())).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        tcp.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        assert!(tcp.read(&mut buf).is_err(), "a paused server answered");
        server.resume();
        tcp.set_read_timeout(None).unwrap();
        tcp.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
    }

    #[test]
    fn dropping_a_server_kills_it() {
        let server = RedisServer::start();
        let port = server.port();
        drop(server);
        assert!(!ping(port, &Kind::Plain));
    }

    #[test]
    fn a_tls_server_answers_only_with_its_ca() {
        let server = RedisServer::start_tls();
        let ca = server.ca_pem().unwrap().to_owned();
        assert!(server.url().starts_with("rediss://"));
        assert!(ping(server.port(), &Kind::Tls { ca_pem: ca }));
        let unrelated = Kind::Tls {
            ca_pem: RedisServer::unrelated_ca_pem(),
        };
        assert!(!ping(server.port(), &unrelated), "a wrong CA was accepted");
        assert!(
            !ping(server.port(), &Kind::Plain),
            "the TLS server spoke plain text"
        );
    }

    #[test]
    fn an_acl_server_refuses_the_default_user() {
        let server = RedisServer::start_with_acl("app", "p@ss:w/rd \"q\"", "cache:*");
        let mut tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port())).unwrap();
        tcp.write_all(b"GET cache:x\r\n").unwrap();
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("-NOAUTH"), "{line}");
        let auth = "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$13\r\np@ss:w/rd \"q\"\r\n";
        tcp.write_all(auth.as_bytes()).unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "+OK\r\n");
        tcp.write_all(b"GET other:x\r\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("-NOPERM"), "{line}");
    }

    #[test]
    fn a_cluster_starts_with_three_primaries_and_fails_over() {
        let cluster = RedisCluster::start();
        let primaries = cluster.primaries();
        assert_eq!(primaries.len(), 3);
        assert_eq!(cluster.seed_urls().len(), 6);
        cluster.kill_primary(primaries[0]);
        let after = cluster.primaries();
        assert_eq!(after.len(), 3);
        assert!(
            !after.contains(&primaries[0]),
            "the killed primary is still listed"
        );
    }
}
