//! The cross-process stampede lock with real processes, on both Redis
//! clients: this test binary starts copies of itself as the processes of
//! a service (a child reads what to do from its environment), each with
//! many concurrent callers of one memoized function on a cold key.
//!
//! Every interleaving is forced, never hoped for: the function counts its
//! executions on a control server of the test's own and then waits there
//! for the parent's word, which comes only once the parent has seen what
//! the check needs (every other process waiting on the lock, the lock's
//! lease extended, the holder killed). The checks:
//!
//! - 8 processes × 64 callers: the function runs once, and every caller
//!   of every process gets its value (single node; 4 × 16 whose stores
//!   track changes under a local tier, waking at the holder's write; 2 × 16
//!   on a cluster and behind Sentinel);
//! - the holder SIGKILLed mid-computation: the other process computes once
//!   the lease has run out, and none of its callers gets an error;
//! - a computation three leases long: still one execution, the lease
//!   extended by its holder;
//! - Redis unreachable: the lock is skipped and calls compute.
//!
//! A plain binary (`harness = false`): it runs the checks in turn and
//! exits with an error when one fails.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use memocache::redis::redis_rs;
use memocache::store::Store;
use memocache::{Args, FredStore, LocalTier, Memoizer, MemoryStore, RedisConfig, RedisStore};
use memocache_testkit::{RedisCluster, RedisServer, SentinelGroup};
use redis_rs::Commands;

/// What a child process is told, in its environment.
const ROLE: &str = "MEMOCACHE_STAMPEDE_CHILD";
const CLIENT: &str = "MEMOCACHE_STAMPEDE_CLIENT";
const CONTROL: &str = "MEMOCACHE_STAMPEDE_CONTROL";
const NAMESPACE: &str = "MEMOCACHE_STAMPEDE_NAMESPACE";
const CALLERS: &str = "MEMOCACHE_STAMPEDE_CALLERS";
const LEASE_MS: &str = "MEMOCACHE_STAMPEDE_LEASE_MS";
/// `gate`: the function waits for the parent's word; `hang`: its first
/// execution never ends (the holder to be killed), later ones return.
const BEHAVIOUR: &str = "MEMOCACHE_STAMPEDE_BEHAVIOUR";
/// `1`: the store tracks changes and the memoizer has a local tier, so a
/// waiter wakes at the holder's write rather than at its next poll.
const TIER: &str = "MEMOCACHE_STAMPEDE_TIER";

/// The control server's keys: the executions, and the parent's word.
const EXECUTIONS: &str = "stampede:executions";
const RELEASE: &str = "stampede:release";

/// How long the parent waits for what must happen before it fails.
const GIVE_UP: Duration = Duration::from_secs(120);

fn main() {
    if std::env::var_os(ROLE).is_some() {
        child();
        return;
    }
    // `cargo test --test stampede -- WORD` runs the checks whose name has
    // WORD in it.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let mut failed = Vec::new();
    let mut passed = 0;
    let checks: [Check; 7] = [
        ("eight_processes_compute_a_cold_key_once", eight_processes),
        ("with_local_tiers_processes_compute_once", with_local_tiers),
        ("on_a_cluster_processes_compute_once", on_a_cluster),
        ("behind_sentinel_processes_compute_once", behind_sentinel),
        (
            "a_killed_holder_blocks_nobody_past_its_lease",
            killed_holder,
        ),
        (
            "a_computation_longer_than_the_lease_runs_once",
            longer_than_the_lease,
        ),
        ("redis_down_calls_compute", redis_down),
    ];
    for client in [Client::RedisRs, Client::Fred] {
        for (name, check) in checks {
            let name = format!("{name} ({})", client.name());
            if filter
                .as_ref()
                .is_some_and(|word| !name.contains(word.as_str()))
            {
                continue;
            }
            match std::panic::catch_unwind(|| check(client)) {
                Ok(()) => {
                    println!("test {name} ... ok");
                    passed += 1;
                }
                Err(_) => {
                    println!("test {name} ... FAILED");
                    failed.push(name);
                }
            }
        }
    }
    let result = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {result}. {passed} passed; {} failed; 0 ignored",
        failed.len()
    );
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// A check's name, and the check on one client.
type Check = (&'static str, fn(Client));

/// The Redis client a check runs on.
#[derive(Clone, Copy, Debug)]
enum Client {
    RedisRs,
    Fred,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::RedisRs => "redis-rs",
            Client::Fred => "fred",
        }
    }

    /// The store over `config`, as a child makes it.
    async fn connect(self, config: &RedisConfig) -> Arc<dyn Store> {
        match self {
            Client::RedisRs => Arc::new(RedisStore::connect(config).await.expect("connected")),
            Client::Fred => Arc::new(FredStore::connect(config).await.expect("connected")),
        }
    }
}

/// The key every process and caller asks for.
fn args() -> Args {
    Args::new().kwarg("report", &"quarterly")
}

// The parent's side.

/// A group of child processes and what they print, line by line.
struct Processes {
    children: Vec<(Child, ChildStdin)>,
    lines: Receiver<(usize, String)>,
    control: redis_rs::Client,
}

/// How a check starts its children.
struct Setup<'a> {
    client: Client,
    /// The Redis settings of the server under test, as environment
    /// variables (`REDIS_URL`, `REDIS_CLUSTER_URLS`, ...).
    redis: Vec<(&'static str, String)>,
    control: &'a RedisServer,
    processes: usize,
    callers: usize,
    lease: Duration,
    behaviour: &'static str,
    namespace: String,
    /// Each child's store tracks changes, under a local tier.
    tier: bool,
}

impl<'a> Setup<'a> {
    /// Two processes of 16 callers on the single node `server`.
    fn pair(
        client: Client,
        server: &RedisServer,
        control: &'a RedisServer,
        lease: Duration,
        behaviour: &'static str,
        namespace: String,
    ) -> Self {
        Setup {
            client,
            redis: vec![("REDIS_URL", server.url())],
            control,
            processes: 2,
            callers: 16,
            lease,
            behaviour,
            namespace,
            tier: false,
        }
    }
}

impl Processes {
    /// Starts the children, and waits until each is ready (connected).
    fn start(setup: &Setup<'_>) -> Processes {
        let control = redis_rs::Client::open(setup.control.url()).unwrap();
        let mut connection = control.get_connection().unwrap();
        let _: () = redis_rs::cmd("DEL")
            .arg(EXECUTIONS)
            .arg(RELEASE)
            .query(&mut connection)
            .unwrap();
        let (sender, lines) = channel();
        let exe = std::env::current_exe().unwrap();
        let children = (0..setup.processes)
            .map(|index| {
                let mut command = Command::new(&exe);
                command
                    .env(ROLE, "1")
                    .env(CLIENT, setup.client.name())
                    .env(CONTROL, setup.control.url())
                    .env(NAMESPACE, &setup.namespace)
                    .env(CALLERS, setup.callers.to_string())
                    .env(LEASE_MS, setup.lease.as_millis().to_string())
                    .env(BEHAVIOUR, setup.behaviour)
                    .env(TIER, if setup.tier { "1" } else { "0" })
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped());
                for (name, value) in &setup.redis {
                    command.env(name, value);
                }
                let mut child = command.spawn().expect("a child process");
                let stdin = child.stdin.take().unwrap();
                forward(index, child.stdout.take().unwrap(), sender.clone());
                (child, stdin)
            })
            .collect();
        let mut processes = Processes {
            children,
            lines,
            control,
        };
        processes.until(|events| events.count("ready") == setup.processes);
        processes
    }

    /// Tells every child to call.
    fn go(&mut self) {
        for (_, stdin) in &mut self.children {
            writeln!(stdin, "go").unwrap();
            stdin.flush().unwrap();
        }
    }

    /// Reads the children's lines until `done` holds of what they said.
    fn until(&mut self, done: impl Fn(&Events) -> bool) -> Events {
        let mut events = Events::default();
        let start = Instant::now();
        while !done(&events) {
            let left = GIVE_UP.saturating_sub(start.elapsed());
            let (child, line) = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("gave up waiting; the children said {events:?}"));
            events.0.push((child, line));
        }
        events
    }

    /// Lets `n` waiting executions of the function return.
    fn release(&self, n: usize) {
        let mut connection = self.control.get_connection().unwrap();
        for _ in 0..n {
            let _: () = connection.rpush(RELEASE, "go").unwrap();
        }
    }

    /// How many times the function ran, in every process.
    fn executions(&self) -> u64 {
        let mut connection = self.control.get_connection().unwrap();
        let executions: Option<u64> = connection.get(EXECUTIONS).unwrap();
        executions.unwrap_or(0)
    }

    /// Waits for every child still running to exit successfully.
    fn wait(mut self) {
        for (mut child, stdin) in std::mem::take(&mut self.children) {
            drop(stdin);
            let status = child.wait().unwrap();
            assert!(
                status.success() || status.code().is_none(),
                "a child failed: {status}"
            );
        }
    }
}

/// A check that failed leaves no process behind.
impl Drop for Processes {
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Forwards what a child prints to the parent, tagged with its index.
fn forward(index: usize, stdout: std::process::ChildStdout, lines: Sender<(usize, String)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send((index, line)).is_err() {
                return;
            }
        }
    });
}

/// What the children said so far.
#[derive(Debug, Default)]
struct Events(Vec<(usize, String)>);

impl Events {
    /// How many lines start with `word`.
    fn count(&self, word: &str) -> usize {
        self.0
            .iter()
            .filter(|(_, line)| line.split(' ').next() == Some(word))
            .count()
    }

    /// The children that said `word`.
    fn children(&self, word: &str) -> Vec<usize> {
        self.0
            .iter()
            .filter(|(_, line)| line.split(' ').next() == Some(word))
            .map(|(child, _)| *child)
            .collect()
    }

    /// The `done` lines: each process's value and counters.
    fn done(&self) -> Vec<Done> {
        self.0
            .iter()
            .filter_map(|(_, line)| {
                let mut words = line.strip_prefix("done ")?.split(' ');
                let value = words.next()?.to_owned();
                let mut number = || words.next()?.parse().ok();
                Some(Done {
                    value,
                    lock_waits: number()?,
                    lock_served: number()?,
                })
            })
            .collect()
    }
}

/// A process's last line: the value all its callers got, and its lock
/// counters.
#[derive(Debug)]
struct Done {
    value: String,
    lock_waits: u64,
    lock_served: u64,
}

/// `processes` × `callers` on a cold key of the server `redis` names: the
/// holder's function waits until every other process waits on the lock;
/// then it runs once, and every process answers its value.
fn one_execution(
    client: Client,
    redis: Vec<(&'static str, String)>,
    processes: usize,
    callers: usize,
    tier: bool,
) {
    let control = RedisServer::start();
    let setup = Setup {
        client,
        redis,
        control: &control,
        processes,
        callers,
        lease: Duration::from_secs(30),
        behaviour: "gate",
        namespace: memocache_core::testing::unique_prefix("stampede"),
        tier,
    };
    let mut group = Processes::start(&setup);
    group.go();
    let seen = group.until(|events| {
        assert!(events.count("computing") <= 1, "computed twice: {events:?}");
        events.count("computing") == 1 && events.count("waiting") == processes - 1
    });
    let holder = seen.children("computing")[0];
    assert!(
        !seen.children("waiting").contains(&holder),
        "the holder's process waited on its own lock"
    );
    // Enough for every execution there might be: none must hang.
    group.release(processes);
    let done = group.until(|events| events.count("done") == processes);
    let results = done.done();
    assert!(results.iter().all(|d| d.value == "value-1"), "{results:?}");
    let served: u64 = results.iter().map(|d| d.lock_served).sum();
    let waits: u64 = results.iter().map(|d| d.lock_waits).sum();
    assert_eq!(
        (waits, served),
        (processes as u64 - 1, processes as u64 - 1)
    );
    assert_eq!(group.executions(), 1);
    group.wait();
}

fn eight_processes(client: Client) {
    let server = RedisServer::start();
    one_execution(client, vec![("REDIS_URL", server.url())], 8, 64, false);
}

fn with_local_tiers(client: Client) {
    let server = RedisServer::start();
    one_execution(client, vec![("REDIS_URL", server.url())], 4, 16, true);
}

fn on_a_cluster(client: Client) {
    let cluster = RedisCluster::shared();
    let seeds = cluster.seed_urls().join(",");
    one_execution(client, vec![("REDIS_CLUSTER_URLS", seeds)], 2, 16, false);
}

fn behind_sentinel(client: Client) {
    let group = SentinelGroup::start();
    let redis = vec![
        ("REDIS_SENTINEL_URLS", group.sentinel_urls().join(",")),
        ("REDIS_SENTINEL_MASTER", SentinelGroup::MASTER.to_owned()),
    ];
    one_execution(client, redis, 2, 16, false);
}

fn killed_holder(client: Client) {
    let server = RedisServer::start();
    let control = RedisServer::start();
    let lease = Duration::from_secs(2);
    let namespace = memocache_core::testing::unique_prefix("stampede-kill");
    let setup = Setup::pair(client, &server, &control, lease, "hang", namespace);
    let mut group = Processes::start(&setup);
    group.go();
    let seen = group.until(|events| events.count("computing") == 1 && events.count("waiting") == 1);
    let holder = seen.children("computing")[0];
    group.children[holder].0.kill().unwrap();
    let killed = Instant::now();
    let done = group.until(|events| events.count("done") == 1);
    let took = killed.elapsed();
    let results = done.done();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].value, "value-2", "{results:?}");
    assert_eq!(group.executions(), 2);
    println!("the survivor computed {took:?} after the holder was killed (lease {lease:?})");
    group.wait();
}

fn longer_than_the_lease(client: Client) {
    let server = RedisServer::start();
    let control = RedisServer::start();
    let lease = Duration::from_millis(900);
    let namespace = memocache_core::testing::unique_prefix("stampede-long");
    let setup = Setup::pair(client, &server, &control, lease, "gate", namespace.clone());
    let mut group = Processes::start(&setup);
    group.go();
    group.until(|events| events.count("computing") == 1 && events.count("waiting") == 1);
    let computing = Instant::now();
    // Three extensions seen, and two leases gone by since the computation
    // began: it has outlived its lease.
    let entry = Memoizer::builder(MemoryStore::new())
        .namespace(namespace)
        .build()
        .key(&args())
        .unwrap();
    let lock = memocache_redis_plumbing::lock::key(&entry);
    let mut connection = redis_rs::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let (start, mut extended, mut last) = (Instant::now(), 0, i64::MAX);
    while extended < 3 || computing.elapsed() < 2 * lease {
        assert!(start.elapsed() < GIVE_UP, "the lease was never extended");
        let pttl: i64 = connection.pttl(&lock).unwrap();
        assert!(
            pttl > 0,
            "the lock is gone while its holder computes: {pttl}"
        );
        if pttl > last {
            extended += 1;
        }
        last = pttl;
        std::thread::sleep(Duration::from_millis(10));
    }
    group.release(2);
    let done = group.until(|events| events.count("done") == 2);
    let results = done.done();
    assert!(results.iter().all(|d| d.value == "value-1"), "{results:?}");
    assert_eq!(group.executions(), 1);
    group.wait();
}

fn redis_down(client: Client) {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    server.kill();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store: Arc<dyn Store> = match client {
            Client::RedisRs => Arc::new(RedisStore::connect_lazy(&config).unwrap()),
            Client::Fred => Arc::new(FredStore::connect_lazy(&config).unwrap()),
        };
        let memo = Memoizer::builder(store)
            .namespace("stampede-down")
            .distributed_lock(Duration::from_secs(30))
            .build();
        for n in 0..3u32 {
            let value: u32 = memo.call(&args(), || async move { n }).await;
            assert_eq!(value, n, "the call did not compute");
        }
        let stats = memo.stats();
        assert_eq!((stats.misses, stats.lock_waits), (3, 0), "{stats:?}");
    });
}

// The child's side.

/// One process of the service: connects, says `ready`, waits for `go`,
/// then runs its callers, says `waiting` if it waits on the lock and
/// `computing` when its function runs, and ends with `done`.
fn child() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let client = match var(CLIENT).as_str() {
        "redis-rs" => Client::RedisRs,
        _ => Client::Fred,
    };
    let callers: usize = var(CALLERS).parse().unwrap();
    let lease = Duration::from_millis(var(LEASE_MS).parse().unwrap());
    let hang = var(BEHAVIOUR) == "hang";
    let tier = var(TIER) == "1";
    let control = redis_rs::Client::open(var(CONTROL)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = RedisConfig::from_env().client_tracking(tier);
        let store = client.connect(&config).await;
        let mut builder = Memoizer::builder(store)
            .namespace(var(NAMESPACE))
            .distributed_lock(lease);
        if tier {
            builder = builder.local_tier(LocalTier::bytes(1 << 20));
        }
        let memo = builder.build();
        println!("ready");
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).unwrap();

        let watched = memo.clone();
        tokio::spawn(async move {
            while watched.stats().lock_waits == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            println!("waiting");
        });
        let calls: Vec<_> = (0..callers)
            .map(|_| {
                let (memo, control) = (memo.clone(), control.clone());
                tokio::spawn(async move { memo.call(&args(), || function(control, hang)).await })
            })
            .collect();
        let mut values = Vec::new();
        for call in calls {
            values.push(call.await.expect("a caller panicked"));
        }
        assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
        let stats = memo.stats();
        println!(
            "done {} {} {}",
            values[0], stats.lock_waits, stats.lock_served
        );
    });
}

/// The memoized function: counts its execution on the control server and
/// says `computing`, then waits for the parent's word (or, with `hang`,
/// never returns the first time).
async fn function(control: redis_rs::Client, hang: bool) -> String {
    let n = tokio::task::spawn_blocking(move || {
        let mut connection = control.get_connection().unwrap();
        let n: u64 = connection.incr(EXECUTIONS, 1).unwrap();
        println!("computing {n}");
        if !hang {
            let _: (String, String) = connection.blpop(RELEASE, 0.0).unwrap();
        }
        n
    })
    .await
    .unwrap();
    if hang && n == 1 {
        std::future::pending::<()>().await;
    }
    format!("value-{n}")
}
