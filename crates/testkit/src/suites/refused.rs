//! A server that refuses change tracking ([`RedisConfig::client_tracking`]
//! with `CLIENT` renamed away, or an ACL user without `client|tracking`):
//! the store caches on Redis all the same, untracked; a memoizer's local
//! tier over it is off (turned off and flushed when it was registered
//! before a lazy store learned of the refusal) and serves nothing; the
//! circuit breaker counts no failure; and the refusal is logged once per
//! store, with the fix. On a single node and a Sentinel primary, async and
//! blocking, built by `connect` and `connect_lazy`, and on a cluster.
//!
//! No check waits a set time: a lazy store is read (directly, not through
//! the memoizer) until it answers, and every other step follows from the
//! one before.

use std::sync::{Arc, Weak};
use std::time::Duration;

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, Backend, BlockingStore, BreakerState, Capabilities, Error, Invalidations, LocalTier,
    Memoizer, ReadOptions, Result, Stats, Store, TrackedTiers,
};
use memocache_redis_plumbing::config::RedisConfig;

use super::Client;
use crate::callers::{Caller, Path, Runs};
use crate::logs::{Events, captured_events, lock, names_port};
use crate::{RedisCluster, RedisServer, SentinelGroup, redis_cli};

/// How the server refuses tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `CLIENT` renamed away (`rename-command CLIENT ""`): every `CLIENT`
    /// command is unknown.
    ClientRenamed,
    /// The store logs in as an ACL user allowed everything but
    /// `client|tracking` (`NOPERM`).
    AclWithoutTracking,
}

/// How the store is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `connect`: the refusal is learned before it returns.
    Connect,
    /// `connect_lazy`: the refusal is learned once the store connects, after
    /// a memoizer's tier was registered over it.
    ConnectLazy,
}

/// The ACL user without `client|tracking`.
const USER: &str = "no-tracking";
/// Its password.
const PASSWORD: &str = "s3cret";
/// The ACL rules of [`USER`], after its name.
const RULES: [&str; 6] = ["on", ">s3cret", "~*", "&*", "+@all", "-client|tracking"];

/// How the store's log line of a refusal begins.
const REFUSAL_LOGGED: &str = "memocache: the server refused client tracking";

impl Refusal {
    /// A server that refuses tracking this way (its default user may
    /// still do anything, for the checks' own connections).
    fn start(self) -> RedisServer {
        match self {
            Refusal::ClientRenamed => {
                RedisServer::start_with_config("rename-command CLIENT \"\"\n")
            }
            Refusal::AclWithoutTracking => {
                RedisServer::start_with_config(&format!("user {USER} {}\n", RULES.join(" ")))
            }
        }
    }

    /// `config` with tracking asked for, and the credentials this refusal
    /// logs in with.
    fn tracked(self, config: RedisConfig) -> RedisConfig {
        let config = config.client_tracking(true);
        match self {
            Refusal::ClientRenamed => config,
            Refusal::AclWithoutTracking => config.username(USER).password(PASSWORD),
        }
    }
}

/// A store of either path, as the checks use it.
enum Refused {
    Async(Arc<dyn Store>),
    Blocking(Arc<dyn BlockingStore>),
}

impl Refused {
    /// `C`'s store on `path` for `config`, made as `build` says.
    async fn build<C: Client>(config: &RedisConfig, path: Path, build: Build) -> Self {
        match (path, build) {
            (Path::Async, Build::Connect) => Refused::Async(Arc::new(
                C::connect(config)
                    .await
                    .expect("a refused server is no error at connect"),
            )),
            (Path::Async, Build::ConnectLazy) => Refused::Async(Arc::new(
                C::connect_lazy(config).expect("a lazy store builds"),
            )),
            (Path::Blocking, build) => {
                let config = config.clone();
                let store = tokio::task::spawn_blocking(move || match build {
                    Build::Connect => C::connect_blocking(&config),
                    Build::ConnectLazy => C::connect_blocking_lazy(&config),
                })
                .await
                .expect("building the blocking store panicked")
                .expect("a refused server is no error at connect");
                Refused::Blocking(Arc::new(store))
            }
        }
    }

    /// A memoizer with a local tier over the store, in a namespace of its
    /// own, writing before a call returns.
    fn caller(&self) -> Caller {
        fn memoizer<S: Backend>(store: S) -> Memoizer<S> {
            Memoizer::builder(store)
                .namespace(unique_prefix("refused"))
                .write_behind(false)
                .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
                .build()
        }
        match self {
            Refused::Async(store) => Caller::Async(memoizer(Arc::clone(store))),
            Refused::Blocking(store) => Caller::Blocking(memoizer(Arc::clone(store))),
        }
    }

    /// Reads `key` as a call that may fill a tier does (with its remaining
    /// life), straight from the store: not counted by any memoizer.
    async fn read(&self, key: &str) -> Result<()> {
        let options = ReadOptions::new().with_ttl(true);
        match self {
            Refused::Async(store) => store.read(key, &options).await.map(drop),
            Refused::Blocking(store) => {
                let (store, key) = (Arc::clone(store), key.to_owned());
                tokio::task::spawn_blocking(move || store.read(&key, &options).map(drop))
                    .await
                    .expect("a blocking read panicked")
            }
        }
    }

    /// Reads `key` until the store answers: at once for a store made by
    /// `connect`; once a lazy one has connected, its invalidation listener
    /// (if any) settled, and its first tracked read learned a refusal of
    /// `CLIENT TRACKING`.
    async fn until_it_answers(&self, key: &str) {
        while self.read(key).await.is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self {
            Refused::Async(store) => store.capabilities(),
            Refused::Blocking(store) => store.capabilities(),
        }
    }

    fn track_changes(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        match self {
            Refused::Async(store) => store.track_changes(tier),
            Refused::Blocking(store) => store.track_changes(tier),
        }
    }
}

/// On a single node refusing tracking as `refusal` says, `C`'s store on
/// `path` made as `build` says caches on Redis with a memoizer's local
/// tier off, counts no failure, and logs the refusal once.
pub async fn a_refused_server_is_cached_on_with_the_tier_off<C: Client>(
    refusal: Refusal,
    path: Path,
    build: Build,
) {
    let events = captured_events();
    let server = refusal.start();
    let config = refusal.tracked(RedisConfig::new().url(server.url()));
    let store = Refused::build::<C>(&config, path, build).await;
    caches_untracked(&store, build, &[server.port()]).await;
    assert_eq!(
        refusals_logged(&events, &[server.port()]),
        1,
        "the refusal was not logged exactly once"
    );
}

/// On a cluster whose nodes refuse tracking to an ACL user, `C`'s stores
/// made by `connect` (async and blocking) cache on Redis with a
/// memoizer's local tier off, count no failure, and log the refusal once
/// each.
pub async fn on_a_cluster_a_refused_server_is_cached_on_with_the_tier_off<C: Client>() {
    let events = captured_events();
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("starting the cluster panicked");
    for node in cluster.nodes() {
        let user = [&["ACL", "SETUSER", USER][..], &RULES[..]].concat();
        assert_eq!(redis_cli(node.port(), &user).trim(), "OK");
    }
    let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    let config = Refusal::AclWithoutTracking.tracked(cluster.config());
    for (stores, path) in [Path::Async, Path::Blocking].into_iter().enumerate() {
        let store = Refused::build::<C>(&config, path, Build::Connect).await;
        caches_untracked(&store, Build::Connect, &ports).await;
        assert_eq!(
            refusals_logged(&events, &ports),
            stores + 1,
            "the refusal was not logged exactly once per store"
        );
    }
}

/// On a primary found through Sentinel, whose data nodes refuse tracking
/// to an ACL user, `C`'s stores (async and blocking, made by `connect`
/// and `connect_lazy`) cache on Redis with a memoizer's local tier off,
/// count no failure, and log the refusal once each.
pub async fn on_sentinel_a_refused_server_is_cached_on_with_the_tier_off<C: Client>() {
    let events = captured_events();
    // The same user on every sentinel (allowed everything) and data node.
    let group = tokio::task::spawn_blocking(|| {
        SentinelGroup::start_with_users((USER, PASSWORD), (USER, PASSWORD))
    })
    .await
    .expect("starting the sentinel group panicked");
    for node in group.nodes() {
        let refused = ["ACL", "SETUSER", USER, "-client|tracking"];
        assert_eq!(redis_cli(node.port(), &refused).trim(), "OK");
    }
    let sentinels = group
        .sentinels()
        .iter()
        .map(|s| format!("redis://{USER}:{PASSWORD}@127.0.0.1:{}", s.port()));
    let config = Refusal::AclWithoutTracking
        .tracked(RedisConfig::new().sentinel(SentinelGroup::MASTER, sentinels));
    let ports: Vec<u16> = group
        .nodes()
        .iter()
        .chain(group.sentinels())
        .map(RedisServer::port)
        .collect();
    let mut stores = 0;
    for path in [Path::Async, Path::Blocking] {
        for build in [Build::Connect, Build::ConnectLazy] {
            let store = Refused::build::<C>(&config, path, build).await;
            caches_untracked(&store, build, &ports).await;
            stores += 1;
            assert_eq!(
                refusals_logged(&events, &ports),
                stores,
                "the refusal was not logged exactly once per store"
            );
        }
    }
}

/// The checks on a store whose server (on one of `ports`: a single node,
/// or every node of a cluster or a Sentinel group) refused tracking.
async fn caches_untracked(store: &Refused, build: Build, ports: &[u16]) {
    let memo = store.caller();
    let args = Args::new().arg(&3);
    let key = memo.key(&args);
    let probe = format!("{key}:probe");
    // The first use registers the tier: over a lazy store, before it has
    // connected and learned of the refusal.
    let _: Option<Vec<u32>> = memo.get_data(&probe).await;
    store.until_it_answers(&probe).await;
    let before = memo.stats();

    let runs = Runs::default();
    for _ in 0..3 {
        let r = runs.clone();
        let value: Vec<u32> = memo.call(args.clone(), move || r.run(vec![9, 2])).await;
        assert_eq!(value, vec![9, 2], "the computed value was not returned");
    }
    let stats = memo.stats();
    assert_eq!(
        runs.count(),
        1,
        "the function ran again: not cached on Redis"
    );
    assert_eq!(
        stats.hits - before.hits,
        2,
        "the calls after the first read Redis"
    );
    // Read by a plain connection (the node of a cluster that holds the
    // key answers 1, the others MOVED; a replica has it too).
    assert!(
        ports
            .iter()
            .any(|&port| redis_cli(port, &["EXISTS", &key]).trim() == "1"),
        "the value is not in Redis"
    );
    let tier = stats.tier.expect("a tier");
    assert!(!tier.live, "the tier says it is live: {tier:?}");
    assert_eq!((tier.hits, tier.entries), (0, 0), "the tier kept a copy");
    // The refusal is no store failure; a lazy store's reads before it
    // connected are (as for any lazy store), so count from there.
    assert_eq!(failures(&stats), failures(&before), "{stats:?}");
    if build == Build::Connect {
        assert_eq!(failures(&stats), (0, 0, 0), "{stats:?}");
    }
    assert_eq!(stats.breaker, BreakerState::Closed);

    // The store says it does not track, and why, to a tier registered
    // from now on, which is then off from the start.
    assert!(!store.capabilities().tracks_changes);
    let nothing: Weak<dyn Invalidations> = Weak::<TrackedTiers>::new();
    let error = store
        .track_changes(nothing)
        .expect_err("tracking was refused");
    let report = error.report().to_string();
    assert!(matches!(error, Error::Config(_)), "{report}");
    assert!(report.contains("refused client tracking"), "{report}");
    assert!(
        report.contains("RedisConfig::client_tracking off"),
        "{report}"
    );
    assert!(!report.contains(PASSWORD), "{report}");
    let later = store.caller();
    let _: Vec<u32> = later.call(args, || vec![9, 2]).await;
    let later = later.stats().tier.expect("a tier");
    assert!(!later.live && later.hits == 0, "{later:?}");
}

/// The store operations that failed, timed out, or were skipped by the
/// circuit breaker.
fn failures(stats: &Stats) -> (u64, u64, u64) {
    (stats.store_errors, stats.timeouts, stats.skipped_by_breaker)
}

/// How many times a store logged a refusal of tracking by a server on one
/// of `ports`.
fn refusals_logged(events: &Events, ports: &[u16]) -> usize {
    lock(events)
        .iter()
        .filter(|event| {
            event
                .field("message")
                .is_some_and(|message| message.starts_with(REFUSAL_LOGGED))
        })
        .filter(|event| {
            event
                .field("server")
                .is_some_and(|server| ports.iter().any(|&port| names_port(server, port)))
        })
        .count()
}
