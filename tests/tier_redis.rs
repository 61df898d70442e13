//! The local tier over a tracked `RedisStore` (RESP3 `CLIENT TRACKING`),
//! against real redis-server processes: copies dropped when another
//! connection, another memocache or the Python reference writes or
//! removes the key, on FLUSHALL, on expiry, and when the connection is
//! lost and comes back; and a clear error from a server that refuses
//! tracking. On a cluster too: there, also when the key's slot moves to
//! another primary and when its primary fails over.
//!
//! A change is reported asynchronously (an invalidation push), so after a
//! write from elsewhere the checks poll for the new value within a
//! deadline and print how long it took: the invalidation window.

use std::time::{Duration, Instant};

use memocache::codec::{Codec, JsonZlib};
use memocache::redis::redis_rs;
use memocache::store::Store;
use memocache::testing::unique_prefix;
use memocache::{Args, LocalTier, Memoizer, RedisConfig, RedisStore};
use memocache_testkit::python::Reference;
use memocache_testkit::{RedisCluster, RedisServer};

/// Longest a report may take to arrive before a check fails.
const WINDOW: Duration = Duration::from_secs(5);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url()).client_tracking(true)
}

async fn memo<S: Store + Clone + 'static>(store: &S) -> Memoizer<S> {
    Memoizer::builder(store.clone())
        .namespace(unique_prefix("tier-redis"))
        .write_behind(false)
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build()
}

fn args() -> Args {
    Args::new().kwarg("user_id", &7)
}

/// The call answered from the cache: computing it fails the check.
async fn cached<S: Store + 'static>(memo: &Memoizer<S>) -> String {
    memo.call(&args(), || async {
        panic!("computed, not served from the cache")
    })
    .await
}

/// Calls until the answer is `want`, within [`WINDOW`]; answers how long
/// it took.
async fn served_within<S: Store + 'static>(memo: &Memoizer<S>, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        let got: String = memo.call(&args(), || async { "computed".to_owned() }).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WINDOW,
            "still served {got:?} {WINDOW:?} after the change, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A plain connection of another process.
fn other(server: &RedisServer) -> redis_rs::Connection {
    redis_rs::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Writes `value` at the call's key as another process would.
fn write_elsewhere(server: &RedisServer, key: &str, value: &str) {
    let bytes = JsonZlib::default().encode(&value).unwrap();
    let () = redis_rs::cmd("SET")
        .arg(key)
        .arg(bytes)
        .query(&mut other(server))
        .unwrap();
}

/// Restarts the server and writes "while away" at `key`, a write the
/// store's tracking cannot have seen; returns once the loss was noticed
/// (the socket closing) and the tier flushed, from when no copy from
/// before may be served.
fn restart_unseen<S>(server: &RedisServer, memo: &Memoizer<S>, key: &str) -> Instant {
    let flushes = memo.stats().tier.unwrap().flushes;
    server.restart();
    write_elsewhere(server, key, "while away");
    let start = Instant::now();
    while memo.stats().tier.unwrap().flushes == flushes {
        assert!(
            start.elapsed() < WINDOW,
            "the lost connection was never noticed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    start
}

/// Fills the tier: a miss (written), then a read that keeps the copy, then
/// a local hit.
async fn fill<S: Store + 'static>(memo: &Memoizer<S>, value: &str) {
    let computed: String = memo.call(&args(), || async { value.to_owned() }).await;
    assert_eq!(computed, value);
    assert_eq!(cached(memo).await, value);
    let hits = memo.stats().tier.unwrap().hits;
    assert_eq!(cached(memo).await, value);
    assert_eq!(memo.stats().tier.unwrap().hits, hits + 1, "not a local hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_removals_from_elsewhere_drop_the_copy() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    assert!(store.capabilities().tracks_changes);
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();
    fill(&memo, "old").await;
    assert!(memo.stats().tier.unwrap().live);

    write_elsewhere(&server, &key, "new");
    let window = served_within(&memo, "new").await;
    println!("another connection's SET seen after {window:?}");
    fill_again(&memo, "new").await;

    let _: u64 = redis_rs::cmd("DEL")
        .arg(&key)
        .query(&mut other(&server))
        .unwrap();
    let window = served_within(&memo, "computed").await;
    println!("another connection's DEL seen after {window:?}");

    // Another memocache process (here: another store) writes and
    // invalidates.
    let elsewhere = RedisStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .unwrap();
    let twin = Memoizer::builder(elsewhere)
        .namespace(memo.namespace().to_owned())
        .write_behind(false)
        .build();
    twin.cache_data(&key, "from a twin".to_owned()).await;
    served_within(&memo, "from a twin").await;
    fill_again(&memo, "from a twin").await;
    assert!(twin.invalidate(&args()).await.unwrap());
    served_within(&memo, "computed").await;
    assert!(memo.stats().tier.unwrap().invalidations >= 4);
}

/// After the tier dropped a copy and the store was read again, the copy is
/// local again.
async fn fill_again<S: Store + 'static>(memo: &Memoizer<S>, value: &str) {
    assert_eq!(cached(memo).await, value);
    let hits = memo.stats().tier.unwrap().hits;
    assert_eq!(cached(memo).await, value);
    assert_eq!(memo.stats().tier.unwrap().hits, hits + 1, "not a local hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_reference_s_write_drops_the_copy() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();
    fill(&memo, "from rust").await;
    let printed = Reference::get().run(
        &server.url(),
        "key = json.load(sys.stdin)\ncache_data('from python', key, REDIS.get_redis_client(), 60)\nprint('written')",
        &serde_json::to_string(&key).unwrap(),
    );
    assert_eq!(printed.trim(), "written");
    let window = served_within(&memo, "from python").await;
    println!("the reference's cache_data seen after {window:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_and_expiry_drop_copies() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    let memo = memo(&store).await;
    fill(&memo, "v").await;
    let flushes = memo.stats().tier.unwrap().flushes;
    let () = redis_rs::cmd("FLUSHALL")
        .query(&mut other(&server))
        .unwrap();
    served_within(&memo, "computed").await;
    assert!(
        memo.stats().tier.unwrap().flushes > flushes,
        "FLUSHALL did not flush"
    );

    let short = Memoizer::builder(store.clone())
        .namespace(unique_prefix("tier-redis-expiry"))
        .write_behind(false)
        .expire(Duration::from_millis(500))
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build();
    let computed: String = short.call(&args(), || async { "short".to_owned() }).await;
    assert_eq!(computed, "short");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after: String = short
        .call(&args(), || async { "recomputed".to_owned() })
        .await;
    assert_eq!(after, "recomputed", "a copy outlived its Redis entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_flushes_and_tracking_comes_back() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();
    fill(&memo, "before").await;
    let start = restart_unseen(&server, &memo, &key);
    let back = loop {
        // The first call after the loss may fail on the old connection
        // (and compute); the tier is flushed before the new one serves.
        let got: String = memo.call(&args(), || async { "computed".to_owned() }).await;
        assert_ne!(got, "before", "a copy from before the loss was served");
        if got == "while away" {
            break start.elapsed();
        }
        assert!(start.elapsed() < WINDOW, "never reconnected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("served again {back:?} after the restart");
    // Tracking is on again on the new connection.
    fill_again(&memo, "while away").await;
    write_elsewhere(&server, &key, "after");
    served_within(&memo, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_tracking_is_an_error_at_connect() {
    let server = RedisServer::start();
    let () = redis_rs::cmd("ACL")
        .arg(
            &[
                "SETUSER",
                "app",
                "on",
                ">s3cret",
                "~*",
                "+@all",
                "-client|tracking",
            ][..],
        )
        .query(&mut other(&server))
        .unwrap();
    let refused = RedisConfig::new()
        .url(server.url())
        .username("app")
        .password("s3cret")
        .client_tracking(true);
    let error = RedisStore::connect(&refused).await.unwrap_err();
    let report = error.report().to_string();
    assert!(matches!(error, memocache::Error::Config(_)), "{report}");
    assert!(report.contains("refused client tracking"), "{report}");
    assert!(!report.contains("s3cret"), "{report}");
    // Without tracking the same user works, and a tier over it stays off.
    let plain = RedisStore::connect(&refused.client_tracking(false))
        .await
        .unwrap();
    assert!(!plain.capabilities().tracks_changes);
    let memo = memo(&plain).await;
    let computed: String = memo.call(&args(), || async { "v".to_owned() }).await;
    assert_eq!(computed, "v");
    assert_eq!(cached(&memo).await, "v");
    assert!(!memo.stats().tier.unwrap().live);
}

/// A soak: another connection rewrites random keys with rising versions
/// while 32 callers read them through one tracked store and its tier; no
/// read may return a version older than the latest one written more than
/// `SETTLED` before the read began.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_soak_of_rewrites_never_serves_a_value_older_than_the_window() {
    use std::sync::{Arc, Mutex};

    const KEYS: u64 = 50;
    const CALLERS: usize = 32;
    const RUN: Duration = Duration::from_secs(2);
    /// Generous for a loaded machine: the window measured above is a few
    /// milliseconds.
    const SETTLED: Duration = Duration::from_secs(1);

    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    let memo = memo(&store).await;
    let key_of = |k: u64| memo.key(&Args::new().kwarg("key", &k)).unwrap();
    let encode = |version: u64| JsonZlib::default().encode(&version).unwrap();
    let mut writer = other(&server);
    for k in 0..KEYS {
        let () = redis_rs::cmd("SET")
            .arg(key_of(k))
            .arg(encode(1))
            .query(&mut writer)
            .unwrap();
    }
    // Every write: key, version, when its reply came.
    let writes: Arc<Mutex<Vec<(u64, u64, Instant)>>> = Arc::default();
    let start = Instant::now();
    let writing = {
        let (writes, keys): (_, Vec<String>) =
            (Arc::clone(&writes), (0..KEYS).map(key_of).collect());
        std::thread::spawn(move || {
            let mut rng = 0x9e37_79b9_u64;
            let mut version = 1;
            while start.elapsed() < RUN {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = rng % KEYS;
                version += 1;
                let bytes = JsonZlib::default().encode(&version).unwrap();
                let () = redis_rs::cmd("SET")
                    .arg(&keys[usize::try_from(k).unwrap()])
                    .arg(bytes)
                    .query(&mut writer)
                    .unwrap();
                writes.lock().unwrap().push((k, version, Instant::now()));
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let memo = memo.clone();
            tokio::spawn(async move {
                let mut reads = Vec::new();
                let mut k = u64::try_from(c).unwrap();
                while start.elapsed() < RUN {
                    k = (k * 7 + 3) % KEYS;
                    let began = Instant::now();
                    let read: Result<u64, &str> = memo
                        .try_call(&Args::new().kwarg("key", &k), || async { Err("missing") })
                        .await;
                    reads.push((k, read.expect("every key exists"), began));
                    tokio::task::yield_now().await;
                }
                reads
            })
        })
        .collect();
    let mut reads = Vec::new();
    for caller in callers {
        reads.extend(caller.await.unwrap());
    }
    writing.join().unwrap();
    let writes = writes.lock().unwrap();
    let mut stale = 0;
    for &(k, seen, began) in &reads {
        let settled = writes
            .iter()
            .filter(|&&(wk, _, at)| wk == k && at + SETTLED <= began)
            .map(|&(_, version, _)| version)
            .max()
            .unwrap_or(1);
        if seen < settled {
            stale += 1;
        }
    }
    let tier = memo.stats().tier.unwrap();
    println!(
        "soak: {} reads ({} local), {} writes, {} invalidations, {stale} stale after {SETTLED:?}",
        reads.len(),
        tier.hits,
        writes.len(),
        tier.invalidations
    );
    assert_eq!(stale, 0, "reads older than the latest settled write");
    assert!(tier.hits > 0, "the tier served nothing");
    assert!(writes.len() > 100, "the writer barely wrote");
}

/// Calls `call` until it answers `want`, within [`WINDOW`], on this
/// thread; answers how long it took.
fn blocking_until(want: &str, call: impl Fn() -> String) -> Duration {
    let start = Instant::now();
    while call() != want {
        assert!(start.elapsed() < WINDOW, "never served {want:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    start.elapsed()
}

#[test]
fn the_blocking_store_tracks_changes() {
    use memocache::RedisBlockingStore;
    use memocache::store::BlockingStore;

    let server = RedisServer::start();
    let store = RedisBlockingStore::connect(&config(&server)).unwrap();
    assert!(BlockingStore::capabilities(&store).tracks_changes);
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tier-redis-blocking"))
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build();
    let key = memo.key(&args()).unwrap();
    let call = |computed: &str| memo.call_blocking(&args(), || computed.to_owned());
    let local_hits = || memo.stats().tier.unwrap().hits;
    assert_eq!(call("old"), "old");
    assert_eq!(call("computed"), "old", "the store read keeps the copy");
    let hits = local_hits();
    assert_eq!(call("computed"), "old");
    assert_eq!(local_hits(), hits + 1, "not a local hit");

    write_elsewhere(&server, &key, "new");
    let window = blocking_until("new", || call("computed"));
    println!("blocking store: another connection's SET seen after {window:?}");
    let () = redis_rs::cmd("FLUSHALL")
        .query(&mut other(&server))
        .unwrap();
    blocking_until("computed", || call("computed"));

    // The connection is lost with the server: the tier is flushed, and a
    // new connection tracks again.
    assert_eq!(call("computed"), "computed");
    restart_unseen(&server, &memo, &key);
    let back = blocking_until("while away", || {
        let got = call("failed");
        assert_ne!(got, "computed", "a copy from before the loss was served");
        got
    });
    println!("blocking store: served again {back:?} after the restart");
    assert_eq!(call("x"), "while away");
    write_elsewhere(&server, &key, "after");
    blocking_until("after", || call("computed"));
}

/// A connection to `cluster` of another process, following its slots.
fn other_on_cluster(cluster: &RedisCluster) -> redis_rs::cluster::ClusterConnection {
    redis_rs::cluster::ClusterClient::new(cluster.seed_urls())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Writes `value` at `key` on `cluster` as the Python reference does:
/// `DEL`, then `SETEX`.
fn write_on_cluster(cluster: &RedisCluster, key: &str, value: &str) {
    let bytes = JsonZlib::default().encode(&value).unwrap();
    let mut connection = other_on_cluster(cluster);
    let _: u64 = redis_rs::cmd("DEL")
        .arg(key)
        .query(&mut connection)
        .unwrap();
    let () = redis_rs::cmd("SETEX")
        .arg(key)
        .arg(600)
        .arg(bytes)
        .query(&mut connection)
        .unwrap();
}

fn cluster_config(cluster: &RedisCluster) -> RedisConfig {
    cluster.config().client_tracking(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_writes_and_removals_from_elsewhere_drop_the_copy() {
    let cluster = RedisCluster::shared();
    let store = RedisStore::connect(&cluster_config(cluster)).await.unwrap();
    assert!(store.capabilities().tracks_changes);
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();
    fill(&memo, "old").await;

    write_on_cluster(cluster, &key, "new");
    let window = served_within(&memo, "new").await;
    println!("cluster: another process's DEL + SETEX seen after {window:?}");
    fill_again(&memo, "new").await;

    let _: u64 = redis_rs::cmd("DEL")
        .arg(&key)
        .query(&mut other_on_cluster(cluster))
        .unwrap();
    served_within(&memo, "computed").await;

    // Another memocache process writes and invalidates.
    let elsewhere = RedisStore::connect(&cluster.config()).await.unwrap();
    let twin = Memoizer::builder(elsewhere)
        .namespace(memo.namespace().to_owned())
        .write_behind(false)
        .build();
    twin.cache_data(&key, "from a twin".to_owned()).await;
    served_within(&memo, "from a twin").await;
    fill_again(&memo, "from a twin").await;
    assert!(twin.invalidate(&args()).await.unwrap());
    served_within(&memo, "computed").await;

    // This store's own write, right after reading the key as missing, is
    // what the next call is served.
    assert!(memo.invalidate(&args()).await.unwrap());
    let missing: String = memo
        .call(&args(), || async { "written here".to_owned() })
        .await;
    assert_eq!(missing, "written here");
    fill_again(&memo, "written here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_flushes_moved_slots_and_failovers_drop_copies() {
    let cluster = RedisCluster::start();
    let store = RedisStore::connect(&cluster_config(&cluster))
        .await
        .unwrap();
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();

    // FLUSHALL on the primary serving the key.
    fill(&memo, "v").await;
    let (primary, _) = cluster.primary_of(&key);
    let flushes = memo.stats().tier.unwrap().flushes;
    let () = redis_rs::cmd("FLUSHALL")
        .query(
            &mut redis_rs::Client::open(cluster.node(primary).url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
    served_within(&memo, "computed").await;
    assert!(
        memo.stats().tier.unwrap().flushes > flushes,
        "FLUSHALL did not flush"
    );

    // The key's slot moves to another primary; a write there is seen.
    fill_again(&memo, "computed").await;
    let (from, to) = cluster.move_slot_of(&key);
    assert_ne!(from, to);
    write_on_cluster(&cluster, &key, "after the move");
    let window = served_within(&memo, "after the move").await;
    println!("cluster: a write after the slot moved {from} -> {to} seen after {window:?}");
    fill_again(&memo, "after the move").await;

    // Its primary fails over: what was read from it is dropped, and the
    // promoted replica tracks the key once read from it.
    let flushes = memo.stats().tier.unwrap().flushes;
    let failing_over = cluster.primary_of(&key).0;
    let cluster = std::sync::Arc::new(cluster);
    let killer = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || killer.kill_primary(failing_over))
        .await
        .unwrap();
    assert!(
        memo.stats().tier.unwrap().flushes > flushes,
        "the lost primary did not flush the tier"
    );
    write_on_cluster(&cluster, &key, "after the failover");
    let window = served_within(&memo, "after the failover").await;
    println!("cluster: a write after the failover seen after {window:?}");
    fill_again(&memo, "after the failover").await;
    write_on_cluster(&cluster, &key, "tracked again");
    served_within(&memo, "tracked again").await;
}

#[test]
fn on_a_cluster_the_blocking_store_tracks_changes() {
    use memocache::RedisBlockingStore;
    use memocache::store::BlockingStore;

    let cluster = RedisCluster::shared();
    let store = RedisBlockingStore::connect(&cluster_config(cluster)).unwrap();
    assert!(BlockingStore::capabilities(&store).tracks_changes);
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tier-cluster-blocking"))
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build();
    let key = memo.key(&args()).unwrap();
    let call = |computed: &str| memo.call_blocking(&args(), || computed.to_owned());
    let local_hits = || memo.stats().tier.unwrap().hits;
    assert_eq!(call("old"), "old");
    assert_eq!(call("computed"), "old", "the store read keeps the copy");
    let hits = local_hits();
    assert_eq!(call("computed"), "old");
    assert_eq!(local_hits(), hits + 1, "not a local hit");

    write_on_cluster(cluster, &key, "new");
    let window = blocking_until("new", || call("computed"));
    println!("cluster, blocking store: another process's write seen after {window:?}");
    let _: u64 = redis_rs::cmd("DEL")
        .arg(&key)
        .query(&mut other_on_cluster(cluster))
        .unwrap();
    blocking_until("computed", || call("computed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closes_flushes_the_tier() {
    use memocache::RedisBlockingStore;

    let server = RedisServer::start();
    let store = RedisStore::connect(&config(&server)).await.unwrap();
    let memo = memo(&store).await;
    let key = memo.key(&args()).unwrap();
    let blocking = Memoizer::builder(RedisBlockingStore::connect(&config(&server)).unwrap())
        .namespace(unique_prefix("tier-redis-killed"))
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build();
    let blocking_key = blocking.key(&args()).unwrap();
    fill(&memo, "before").await;
    let blocking = std::sync::Arc::new(blocking);
    let filling = std::sync::Arc::clone(&blocking);
    tokio::task::spawn_blocking(move || {
        for _ in 0..2 {
            let got = filling.call_blocking(&args(), || "before".to_owned());
            assert_eq!(got, "before");
        }
    })
    .await
    .unwrap();

    // The server closes every connection of the stores (as its idle
    // `timeout` would), and the keys they read go untracked with them: the
    // tiers must let go of their copies, or miss the next writes.
    let killed: u64 = redis_rs::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut other(&server))
        .unwrap();
    assert!(killed >= 2, "killed {killed} connections");
    write_elsewhere(&server, &key, "after");
    write_elsewhere(&server, &blocking_key, "after");
    let window = served_within(&memo, "after").await;
    println!("async store: a write after its connection was closed seen after {window:?}");
    let window = tokio::task::spawn_blocking(move || {
        blocking_until("after", || {
            blocking.call_blocking(&args(), || "computed".to_owned())
        })
    })
    .await
    .unwrap();
    println!("blocking store: a write after its connection was closed seen after {window:?}");
}
