//! The local tier over a tracked `FredStore` (a RESP2 listener subscribed
//! to `__redis__:invalidate`, every tier-filling read redirected to it),
//! against real redis-server processes: copies dropped when another
//! connection writes or removes the key and on FLUSHALL; a flush, then
//! tracking again, when the listener's or the pool's connection is lost;
//! the store's own writes served; a server that refuses the listener
//! cached on untracked; and the blocking adapter. On a Redis Cluster too (a listener
//! per primary): writes and removals from elsewhere and from another
//! memocache, the store's own writes and cleared namespaces, a lazy store,
//! the blocking adapter, and, on a cluster of the test's own, FLUSHALL on
//! the key's primary, the key's slot moved, and its primary failed over.
//!
//! A change is reported asynchronously, so after a write from elsewhere
//! the checks poll for the new value within a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, Backend, BlockingStore, Codec, Error, JsonZlib, LocalTier, Memoizer, Store,
};
use memocache_fred::fred::types::Value;
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::{RedisCluster, RedisServer};
use support::{Peer, WINDOW, served_within};

mod support;

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url()).client_tracking(true)
}

fn memo<S: Backend>(store: S) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(unique_prefix("tier-fred"))
        .write_behind(false)
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build()
}

fn args() -> Args {
    Args::new().kwarg("user_id", &7)
}

/// Another process's store: its own, untracked connection.
async fn other(server: &RedisServer) -> Peer {
    Peer::connect(&server.url()).await
}

/// Sends `command args..` on `peer`'s connection.
async fn command(peer: &Peer, command: &'static str, args: Vec<&str>) -> Value {
    peer.command(command, args.into_iter().map(Value::from).collect())
        .await
}

/// Writes `value` at `key` as another process would.
async fn write_elsewhere(other: &FredStore, key: &str, value: &str) {
    let bytes = JsonZlib::default().encode(&value).unwrap();
    other.set(key, bytes.into(), None).await.unwrap();
}

/// The call answered from the cache: computing it fails the check.
async fn cached(memo: &Memoizer<FredStore>, args: &Args) -> String {
    memo.call(args, || async {
        panic!("computed, not served from the cache")
    })
    .await
}

/// The local tier's hits so far.
fn local_hits<S>(memo: &Memoizer<S>) -> u64 {
    memo.stats().tier.expect("a tier").hits
}

/// The local tier's flushes so far.
fn flushes<S>(memo: &Memoizer<S>) -> u64 {
    memo.stats().tier.expect("a tier").flushes
}

/// The value is in the store: a read keeps the copy, and the next call is
/// a local hit.
async fn fill_again(memo: &Memoizer<FredStore>, args: &Args, value: &str) {
    assert_eq!(cached(memo, args).await, value);
    let hits = local_hits(memo);
    assert_eq!(cached(memo, args).await, value);
    assert_eq!(local_hits(memo), hits + 1, "not a local hit");
}

/// Fills the tier: a miss (written), then a read that keeps the copy, then
/// a local hit.
async fn fill(memo: &Memoizer<FredStore>, args: &Args, value: &str) {
    let computed: String = memo.call(args, || async { value.to_owned() }).await;
    assert_eq!(computed, value);
    fill_again(memo, args, value).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_removals_from_elsewhere_drop_the_copy() {
    let server = RedisServer::start();
    let store = FredStore::connect(&config(&server)).await.unwrap();
    assert!(store.capabilities().tracks_changes);
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    let other = other(&server).await;
    fill(&memo, &args(), "old").await;
    assert!(memo.stats().tier.unwrap().live);

    write_elsewhere(&other, &key, "new").await;
    served_within(&memo, &args(), "new").await;
    fill_again(&memo, &args(), "new").await;

    assert!(other.delete(&key).await.unwrap());
    served_within(&memo, &args(), "computed").await;
    assert!(memo.stats().tier.unwrap().invalidations >= 2);

    // The listener goes with the last clone of the store.
    assert_eq!(pubsub_clients(&other).await, 1);
    drop(memo);
    let start = Instant::now();
    while pubsub_clients(&other).await > 0 {
        assert!(start.elapsed() < WINDOW, "the listener outlived the store");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many pub/sub connections the server has.
async fn pubsub_clients(other: &Peer) -> usize {
    let Value::String(list) = command(other, "CLIENT", vec!["LIST", "TYPE", "pubsub"]).await else {
        panic!("CLIENT LIST answered something else than a string");
    };
    list.lines().filter(|line| !line.is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_tracks_once_its_listener_is_up() {
    let server = RedisServer::start();
    a_lazy_store_tracks_once_listening(&config(&server), &*other(&server).await).await;
}

/// A store made by `connect_lazy` with `tracked` serves, once its
/// listeners are up, what `other` writes, and then each change of it.
async fn a_lazy_store_tracks_once_listening(tracked: &RedisConfig, other: &FredStore) {
    let store = FredStore::connect_lazy(tracked).unwrap();
    assert!(store.capabilities().tracks_changes);
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    write_elsewhere(other, &key, "old").await;
    served_within(&memo, &args(), "old").await;
    fill_again(&memo, &args(), "old").await;
    write_elsewhere(other, &key, "new").await;
    served_within(&memo, &args(), "new").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_from_elsewhere_drops_copies() {
    let server = RedisServer::start();
    let store = FredStore::connect(&config(&server)).await.unwrap();
    let memo = memo(store);
    let other = other(&server).await;
    fill(&memo, &args(), "v").await;
    let before = flushes(&memo);
    assert_eq!(command(&other, "FLUSHALL", vec![]).await, Value::from("OK"));
    served_within(&memo, &args(), "computed").await;
    assert!(flushes(&memo) > before, "FLUSHALL did not flush the tier");
}

/// Loses a connection with `lose`, writes "while away" from elsewhere (a
/// write tracking cannot have reported), and checks that the tier flushed,
/// that no copy from before is served, that the write is seen, and that
/// tracking works again.
async fn a_loss_flushes_and_tracking_comes_back(
    server: &RedisServer,
    lose: impl AsyncFnOnce(&Peer),
) {
    let store = FredStore::connect(&config(server)).await.unwrap();
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    fill(&memo, &args(), "before").await;
    let before = flushes(&memo);
    let killer = other(server).await;
    lose(&killer).await;
    let other = other(server).await;
    write_elsewhere(&other, &key, "while away").await;
    let start = Instant::now();
    while flushes(&memo) == before {
        assert!(start.elapsed() < WINDOW, "the loss was never noticed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    loop {
        let got: String = memo.call(&args(), || async { "computed".to_owned() }).await;
        assert_ne!(got, "before", "a copy from before the loss was served");
        if got == "while away" {
            break;
        }
        assert!(start.elapsed() < WINDOW, "never tracked again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fill_again(&memo, &args(), "while away").await;
    write_elsewhere(&other, &key, "after").await;
    served_within(&memo, &args(), "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_flushes_and_tracking_comes_back() {
    let server = RedisServer::start();
    a_loss_flushes_and_tracking_comes_back(&server, async |killer: &Peer| {
        let killed = command(killer, "CLIENT", vec!["KILL", "TYPE", "pubsub"]).await;
        assert_eq!(killed, Value::Integer(1), "the listener was not killed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pool_connection_flushes_and_tracking_comes_back() {
    let server = RedisServer::start();
    a_loss_flushes_and_tracking_comes_back(&server, async |killer: &Peer| {
        // Every normal connection but the killer's: the tracked store's.
        let killed = command(killer, "CLIENT", vec!["KILL", "TYPE", "normal"]).await;
        assert_eq!(
            killed,
            Value::Integer(1),
            "the pool's connection was not killed"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_flushes_and_tracking_comes_back() {
    let server = RedisServer::start();
    a_loss_flushes_and_tracking_comes_back(&server, async |_: &Peer| server.restart()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_the_listener_is_cached_on_untracked() {
    // What only fred's tracking needs (`CLIENT TRACKING` refused, and
    // `CLIENT` renamed away: the testkit's `refused` suite): the listener's
    // `CLIENT ID`, and its invalidation channel.
    let server = RedisServer::start();
    let admin = other(&server).await;
    let users = [
        (
            "no-id",
            vec!["~*", "&*", "+@all", "-client|id"],
            "CLIENT ID",
        ),
        (
            "no-channel",
            vec!["~*", "resetchannels", "+@all"],
            "SUBSCRIBE",
        ),
    ];
    for (name, rules, refused) in users {
        let acl = [vec!["SETUSER", name, "on", ">s3cret"], rules].concat();
        assert_eq!(command(&admin, "ACL", acl).await, Value::from("OK"));
        let user = RedisConfig::new()
            .url(server.url())
            .username(name)
            .password("s3cret")
            .client_tracking(true);
        let store = FredStore::connect(&user)
            .await
            .unwrap_or_else(|e| panic!("a refusal is an error at connect: {}", e.report()));
        assert!(!store.capabilities().tracks_changes);
        let nothing: std::sync::Weak<dyn memocache_core::Invalidations> =
            std::sync::Weak::<memocache_core::TrackedTiers>::new();
        let error = store.track_changes(nothing).expect_err("refused");
        let report = error.report().to_string();
        println!("{refused} refused: {report}");
        assert!(matches!(error, Error::Config(_)), "{report}");
        assert!(report.contains("refused client tracking"), "{report}");
        assert!(report.contains(refused), "{report}");
        assert!(report.contains("client|id"), "{report}");
        assert!(report.contains("&__redis__:invalidate"), "{report}");
        assert!(
            report.contains(&format!("127.0.0.1:{}", server.port())),
            "{report}"
        );
        assert!(!report.contains("s3cret"), "{report}");

        // The store caches on Redis; the tier over it stays off.
        let memo = memo(store);
        let computed: String = memo.call(&args(), || async { "v".to_owned() }).await;
        assert_eq!(computed, "v");
        assert_eq!(cached(&memo, &args()).await, "v");
        assert_eq!(cached(&memo, &args()).await, "v");
        let stats = memo.stats();
        let tier = stats.tier.unwrap();
        assert!(!tier.live && tier.hits == 0, "{tier:?}");
        assert_eq!((stats.hits, stats.store_errors), (2, 0), "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_s_own_write_after_a_miss_is_served_locally() {
    let server = RedisServer::start();
    let store = FredStore::connect(&config(&server)).await.unwrap();
    let memo = memo(store);
    let other = other(&server).await;
    // A miss (the read tracks the missing key), this store's write, then
    // a read that keeps the copy, then local hits.
    let written: String = memo.call(&args(), || async { "mine".to_owned() }).await;
    assert_eq!(written, "mine");
    assert_eq!(cached(&memo, &args()).await, "mine");
    let hits = local_hits(&memo);
    assert_eq!(cached(&memo, &args()).await, "mine");
    assert_eq!(local_hits(&memo), hits + 1, "not a local hit");
    // A change elsewhere to another tracked key, reported after anything
    // the server sent about this store's own write: once it is seen, a
    // report of the own write (there must be none: NOLOOP) would have
    // dropped the copy.
    let sentinel = Args::new().kwarg("user_id", &8);
    fill(&memo, &sentinel, "s0").await;
    write_elsewhere(&other, &memo.key(&sentinel).unwrap(), "s1").await;
    served_within(&memo, &sentinel, "s1").await;
    let hits = local_hits(&memo);
    assert_eq!(cached(&memo, &args()).await, "mine");
    assert_eq!(
        local_hits(&memo),
        hits + 1,
        "the own write dropped the copy"
    );
    // Reported: the two own writes, by the store itself, and the write
    // elsewhere, by the server; not the own writes again.
    assert_eq!(memo.stats().tier.unwrap().invalidations, 3);
}

#[test]
fn the_blocking_adapter_tracks_changes() {
    let server = RedisServer::start();
    the_blocking_adapter_tracks_changes_on(&config(&server), &RedisConfig::new().url(server.url()));
}

/// A blocking adapter connected with `tracked` serves what it wrote until
/// another adapter, connected with `untracked`, writes and then removes
/// the key.
fn the_blocking_adapter_tracks_changes_on(tracked: &RedisConfig, untracked: &RedisConfig) {
    let store = FredBlockingStore::connect(tracked).unwrap();
    assert!(Backend::capabilities(&store).tracks_changes);
    let other = FredBlockingStore::connect(untracked).unwrap();
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    let call = |computed: &str| memo.call_blocking(&args(), || computed.to_owned());
    assert_eq!(call("old"), "old");
    assert_eq!(call("computed"), "old", "the store read keeps the copy");
    let hits = local_hits(&memo);
    assert_eq!(call("computed"), "old");
    assert_eq!(local_hits(&memo), hits + 1, "not a local hit");

    let bytes = JsonZlib::default().encode(&"new").unwrap();
    BlockingStore::set(&other, &key, bytes.into(), None).unwrap();
    let start = Instant::now();
    loop {
        let got = call("computed");
        if got == "new" {
            break;
        }
        assert_eq!(got, "old");
        assert!(start.elapsed() < WINDOW, "never served the new value");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(call("computed"), "new", "the store read keeps the copy");
    let hits = local_hits(&memo);
    assert_eq!(call("computed"), "new");
    assert_eq!(local_hits(&memo), hits + 1, "not a local hit");
    assert!(BlockingStore::delete(&other, &key).unwrap());
    let start = Instant::now();
    loop {
        let got = call("computed");
        if got == "computed" {
            break;
        }
        assert_eq!(got, "new");
        assert!(start.elapsed() < WINDOW, "the removal was never seen");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn cluster_config(cluster: &RedisCluster) -> RedisConfig {
    cluster.config().client_tracking(true)
}

/// Another process's store on a cluster: its own, untracked connections,
/// following the cluster's slots.
async fn other_on_cluster(config: &RedisConfig) -> FredStore {
    FredStore::connect(config)
        .await
        .expect("another connection to the cluster")
}

/// A plain connection to the cluster node on `port`, for commands of that
/// node (FLUSHALL, CLIENT LIST).
async fn node(cluster: &RedisCluster, port: u16) -> Peer {
    Peer::connect(&cluster.node(port).url()).await
}

/// Writes `value` at `key` from `other`, once more after each failure
/// within [`WINDOW`]: right after a failover a store may still send the
/// key's commands to a node that has not yet learned who serves its slot.
async fn write_on_cluster(other: &FredStore, key: &str, value: &str) {
    let bytes = memocache_core::Bytes::from(JsonZlib::default().encode(&value).unwrap());
    let start = Instant::now();
    while let Err(error) = other.set(key, bytes.clone(), None).await {
        assert!(start.elapsed() < WINDOW, "cannot write {key}: {error}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes `value` at `key` as the Python reference does: `DEL`, then
/// `SETEX`.
async fn del_setex(other: &Peer, key: &str, value: &str) {
    let bytes = JsonZlib::default().encode(&value).unwrap();
    other.command("DEL", vec![Value::from(key)]).await;
    let set = other
        .command(
            "SETEX",
            vec![
                Value::from(key),
                Value::Integer(600),
                Value::Bytes(bytes.into()),
            ],
        )
        .await;
    assert_eq!(set, Value::from("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_writes_and_removals_from_elsewhere_drop_the_copy() {
    let cluster = RedisCluster::shared();
    let store = FredStore::connect(&cluster_config(cluster)).await.unwrap();
    assert!(store.capabilities().tracks_changes);
    // A listener on every primary.
    for primary in cluster.primaries() {
        let listeners = pubsub_clients(&node(cluster, primary).await).await;
        assert!(listeners >= 1, "no listener on the primary {primary}");
    }
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    let other = other_on_cluster(&cluster.config()).await;
    fill(&memo, &args(), "old").await;
    assert!(memo.stats().tier.unwrap().live);

    write_elsewhere(&other, &key, "new").await;
    served_within(&memo, &args(), "new").await;
    fill_again(&memo, &args(), "new").await;

    assert!(other.delete(&key).await.unwrap());
    served_within(&memo, &args(), "computed").await;
    fill_again(&memo, &args(), "computed").await;

    // On the node serving the key, as Python's cluster client sends it.
    let serving = node(cluster, cluster.primary_of(&key).0).await;
    del_setex(&serving, &key, "as python writes").await;
    served_within(&memo, &args(), "as python writes").await;
    fill_again(&memo, &args(), "as python writes").await;

    // Another memocache process writes and invalidates.
    let twin = Memoizer::builder(other.clone())
        .namespace(memo.namespace().to_owned())
        .write_behind(false)
        .build();
    twin.cache_data(&key, "from a twin".to_owned()).await;
    served_within(&memo, &args(), "from a twin").await;
    fill_again(&memo, &args(), "from a twin").await;
    assert!(twin.invalidate(&args()).await.unwrap());
    served_within(&memo, &args(), "computed").await;
    assert!(memo.stats().tier.unwrap().invalidations >= 5);

    // This store's own write, right after it read the key as missing, is
    // what the next calls are served, locally.
    assert!(memo.invalidate(&args()).await.unwrap());
    let written: String = memo
        .call(&args(), || async { "written here".to_owned() })
        .await;
    assert_eq!(written, "written here");
    fill_again(&memo, &args(), "written here").await;
}

/// Waits, within a minute, until every primary's `CLUSTER NODES` lists
/// exactly the primaries serving slots as masters: a node that has not yet
/// heard that another is a replica lists it as a master without slots,
/// which `delete_matching` would scan (redis-plumbing's
/// `topology::primaries` keeps masters without slots) though fred has no
/// connection to it.
async fn converged(cluster: &RedisCluster) {
    let start = Instant::now();
    loop {
        let primaries = cluster.primaries();
        let mut agreed = true;
        for &primary in &primaries {
            let Value::String(nodes) =
                command(&node(cluster, primary).await, "CLUSTER", vec!["NODES"]).await
            else {
                panic!("CLUSTER NODES answered something else than a string");
            };
            let masters = nodes
                .lines()
                .filter(|line| {
                    let flags = line.split_whitespace().nth(2).unwrap_or_default();
                    flags.contains("master") && !flags.contains("fail")
                })
                .count();
            agreed &= masters == primaries.len();
        }
        if agreed {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the cluster's nodes never agreed on its primaries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_cleared_namespace_drops_the_copies_of_every_tier() {
    let cluster = RedisCluster::shared();
    converged(cluster).await;
    let store = FredStore::connect(&cluster_config(cluster)).await.unwrap();
    let memo = memo(store.clone());
    // Another memoizer over the same store and namespace clears it: the
    // server does not report the store's own removals (NOLOOP), so the
    // store must.
    let clearing = Memoizer::builder(store)
        .namespace(memo.namespace().to_owned())
        .write_behind(false)
        .build();
    let calls: Vec<Args> = (0..24).map(|i| Args::new().kwarg("user_id", &i)).collect();
    for args in &calls {
        fill(&memo, args, "kept").await;
    }
    let flushes_before = flushes(&memo);
    let invalidations_before = memo.stats().tier.unwrap().invalidations;
    assert_eq!(clearing.clear_namespace().await.unwrap(), 24);
    let reported = memo.stats().tier.unwrap().invalidations - invalidations_before;
    // The 24 keys unlinked, and the namespace's own key deleted.
    assert!(reported >= 24, "{reported} removals reported");
    for args in &calls {
        let got: String = memo.call(args, || async { "computed".to_owned() }).await;
        assert_eq!(got, "computed", "a removed key's copy was served");
    }
    assert_eq!(
        flushes(&memo),
        flushes_before,
        "dropped by a flush, not by reports"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_user_without_cluster_myid_is_cached_on_untracked() {
    let cluster = RedisCluster::shared();
    // ACL users are per node: the same user on each.
    let user = format!("nomyid{}", std::process::id());
    for server in cluster.nodes() {
        let admin = node(cluster, server.port()).await;
        let acl = vec![
            "SETUSER",
            &user,
            "on",
            ">s3cret",
            "~*",
            "&*",
            "+@all",
            "-cluster|myid",
        ];
        assert_eq!(command(&admin, "ACL", acl).await, Value::from("OK"));
    }
    let seed = cluster.seed_urls()[0].replacen("redis://", &format!("redis://{user}:s3cret@"), 1);
    let seeded = RedisConfig::new().cluster([seed]);
    let store = FredStore::connect(&seeded.clone().client_tracking(true))
        .await
        .expect("a refusal is no error at connect");
    assert!(!store.capabilities().tracks_changes);
    let nothing: std::sync::Weak<dyn memocache_core::Invalidations> =
        std::sync::Weak::<memocache_core::TrackedTiers>::new();
    let error = store.track_changes(nothing).expect_err("refused");
    let report = error.report().to_string();
    println!("CLUSTER MYID refused: {report}");
    assert!(matches!(error, Error::Config(_)), "{report}");
    assert!(report.contains("refused client tracking"), "{report}");
    assert!(report.contains("cluster|myid"), "{report}");
    assert!(!report.contains("s3cret"), "{report}");
    // The store caches on the cluster; the tier over it stays off.
    let memo = memo(store);
    let computed: String = memo.call(&args(), || async { "v".to_owned() }).await;
    assert_eq!(computed, "v");
    assert_eq!(cached(&memo, &args()).await, "v");
    let tier = memo.stats().tier.unwrap();
    assert!(!tier.live && tier.hits == 0, "{tier:?}");
    assert_eq!(memo.stats().store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_lazy_store_tracks_once_its_listeners_are_up() {
    let cluster = RedisCluster::shared();
    let other = other_on_cluster(&cluster.config()).await;
    a_lazy_store_tracks_once_listening(&cluster_config(cluster), &other).await;
}

#[test]
fn on_a_cluster_the_blocking_adapter_tracks_changes() {
    let cluster = RedisCluster::shared();
    the_blocking_adapter_tracks_changes_on(&cluster_config(cluster), &cluster.config());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_flushes_moved_slots_and_failovers_drop_copies() {
    let cluster = Arc::new(RedisCluster::start());
    let store = FredStore::connect(&cluster_config(&cluster)).await.unwrap();
    for primary in cluster.primaries() {
        let listeners = pubsub_clients(&node(&cluster, primary).await).await;
        assert_eq!(listeners, 1, "listeners on the primary {primary}");
    }
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    let other = other_on_cluster(&cluster.config()).await;

    // FLUSHALL on the primary serving the key.
    fill(&memo, &args(), "v").await;
    let (primary, _) = cluster.primary_of(&key);
    let before = flushes(&memo);
    let flushed = command(&node(&cluster, primary).await, "FLUSHALL", vec![]).await;
    assert_eq!(flushed, Value::from("OK"));
    served_within(&memo, &args(), "computed").await;
    assert!(flushes(&memo) > before, "FLUSHALL did not flush the tier");

    // The key's slot moves to another primary; a write there is seen.
    fill_again(&memo, &args(), "computed").await;
    let moving = Arc::clone(&cluster);
    let moved = key.clone();
    let (from, to) = tokio::task::spawn_blocking(move || moving.move_slot_of(&moved))
        .await
        .unwrap();
    assert_ne!(from, to);
    assert_eq!(cluster.primary_of(&key).0, to);
    // Sent to the old primary first: answered MOVED, and sent once more
    // to the new one.
    write_elsewhere(&other, &key, "after the move").await;
    served_within(&memo, &args(), "after the move").await;
    fill_again(&memo, &args(), "after the move").await;
    write_elsewhere(&other, &key, "moved and tracked").await;
    served_within(&memo, &args(), "moved and tracked").await;
    fill_again(&memo, &args(), "moved and tracked").await;

    // A slot being migrated: a key its old primary no longer holds is
    // answered with ASK. The read fails (nothing is kept), and both stores
    // go on working.
    let asked = Args::new().kwarg("user_id", &8);
    let asked_key = memo.key(&asked).unwrap();
    let (source, slot) = cluster.primary_of(&asked_key);
    let target = *cluster
        .primaries()
        .iter()
        .find(|port| **port != source)
        .expect("another primary");
    let (source_node, target_node) = (node(&cluster, source).await, node(&cluster, target).await);
    let id = |reply: Value| reply.as_string().expect("a node id");
    let source_id = id(command(&source_node, "CLUSTER", vec!["MYID"]).await);
    let target_id = id(command(&target_node, "CLUSTER", vec!["MYID"]).await);
    let slot = slot.to_string();
    let setslot = |state: &'static str, id: &str| {
        let mut parts = vec!["SETSLOT".to_owned(), slot.clone(), state.to_owned()];
        parts.extend((!id.is_empty()).then(|| id.to_owned()));
        parts
    };
    let cluster_command = async |node: &Peer, parts: Vec<String>| {
        let parts = parts.iter().map(String::as_str).collect();
        assert_eq!(command(node, "CLUSTER", parts).await, Value::from("OK"));
    };
    cluster_command(&target_node, setslot("IMPORTING", &source_id)).await;
    cluster_command(&source_node, setslot("MIGRATING", &target_id)).await;
    let computed: String = memo.call(&asked, || async { "asked".to_owned() }).await;
    assert_eq!(computed, "asked");
    assert!(other.get(&asked_key).await.is_err(), "ASK was followed");
    fill_again(&memo, &args(), "moved and tracked").await;
    assert!(
        other.get(&key).await.unwrap().is_some(),
        "the other store stopped"
    );
    for node in [&source_node, &target_node] {
        cluster_command(node, setslot("STABLE", "")).await;
    }
    let computed: String = memo.call(&asked, || async { "stable".to_owned() }).await;
    assert_eq!(computed, "stable");
    fill_again(&memo, &asked, "stable").await;

    // Its primary fails over: the tier is flushed, and the promoted
    // replica gets a listener and tracks the key once read from it.
    let before = flushes(&memo);
    let failing_over = to;
    let killer = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || killer.kill_primary(failing_over))
        .await
        .unwrap();
    assert!(
        flushes(&memo) > before,
        "the lost primary did not flush the tier"
    );
    let (promoted, _) = cluster.primary_of(&key);
    assert_ne!(promoted, failing_over);
    // Seeded by a live primary: the first seed may be the one killed.
    let live = cluster.node(cluster.primaries()[0]).url();
    let other = other_on_cluster(&RedisConfig::new().cluster([live])).await;
    write_on_cluster(&other, &key, "after the failover").await;
    served_within(&memo, &args(), "after the failover").await;
    fill_again(&memo, &args(), "after the failover").await;
    let listeners = pubsub_clients(&node(&cluster, promoted).await).await;
    assert_eq!(listeners, 1, "listeners on the promoted primary {promoted}");
    write_on_cluster(&other, &key, "tracked again").await;
    served_within(&memo, &args(), "tracked again").await;
    fill_again(&memo, &args(), "tracked again").await;

    // The listeners go with the last clone of the store, the one started
    // after the failover included.
    drop(memo);
    let start = Instant::now();
    for primary in cluster.primaries() {
        let node = node(&cluster, primary).await;
        while pubsub_clients(&node).await > 0 {
            assert!(
                start.elapsed() < WINDOW,
                "a listener on {primary} outlived the store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
