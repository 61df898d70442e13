//! The local tier over a tracked `FredStore` (a RESP2 listener subscribed
//! to `__redis__:invalidate`, every tier-filling read redirected to it),
//! against real redis-server processes: copies dropped when another
//! connection writes or removes the key and on FLUSHALL; a flush, then
//! tracking again, when the listener's or the pool's connection is lost;
//! the store's own writes served; clear errors from a server that refuses
//! tracking and for a cluster; and the blocking adapter.
//!
//! A change is reported asynchronously, so after a write from elsewhere
//! the checks poll for the new value within a deadline.

use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, BlockingStore, Codec, Error, JsonZlib, LocalTier, Memoizer, RedisConfig, Store,
};
use memocache_fred::fred::interfaces::ClientLike;
use memocache_fred::fred::types::{ClusterHash, CustomCommand, Value};
use memocache_fred::{FredBlockingStore, FredStore};
use memocache_testkit::RedisServer;

/// Longest a report may take to arrive before a check fails.
const WINDOW: Duration = Duration::from_secs(5);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url()).client_tracking(true)
}

fn memo<S>(store: S) -> Memoizer<S> {
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
async fn other(server: &RedisServer) -> FredStore {
    FredStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .expect("another connection")
}

/// Sends `command args..` on `store`'s connection.
async fn command(store: &FredStore, command: &'static str, args: Vec<&str>) -> Value {
    store
        .pool()
        .custom(
            CustomCommand::new_static(command, ClusterHash::FirstKey, false),
            args,
        )
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
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

/// Calls until the answer is `want`, within [`WINDOW`].
async fn served_within(memo: &Memoizer<FredStore>, args: &Args, want: &str) {
    let start = Instant::now();
    loop {
        let got: String = memo.call(args, || async { "computed".to_owned() }).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < WINDOW,
            "still served {got:?} {WINDOW:?} after the change, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
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
async fn pubsub_clients(other: &FredStore) -> usize {
    let Value::String(list) = command(other, "CLIENT", vec!["LIST", "TYPE", "pubsub"]).await else {
        panic!("CLIENT LIST answered something else than a string");
    };
    list.lines().filter(|line| !line.is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_tracks_once_its_listener_is_up() {
    let server = RedisServer::start();
    let store = FredStore::connect_lazy(&config(&server)).unwrap();
    assert!(store.capabilities().tracks_changes);
    let memo = memo(store);
    let key = memo.key(&args()).unwrap();
    let other = other(&server).await;
    write_elsewhere(&other, &key, "old").await;
    served_within(&memo, &args(), "old").await;
    fill_again(&memo, &args(), "old").await;
    write_elsewhere(&other, &key, "new").await;
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
    lose: impl AsyncFnOnce(&FredStore),
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
    a_loss_flushes_and_tracking_comes_back(&server, async |killer: &FredStore| {
        let killed = command(killer, "CLIENT", vec!["KILL", "TYPE", "pubsub"]).await;
        assert_eq!(killed, Value::Integer(1), "the listener was not killed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pool_connection_flushes_and_tracking_comes_back() {
    let server = RedisServer::start();
    a_loss_flushes_and_tracking_comes_back(&server, async |killer: &FredStore| {
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
    a_loss_flushes_and_tracking_comes_back(&server, async |_: &FredStore| server.restart()).await;
}

/// The `Error::Config` report of a failed connection.
fn config_error(result: memocache_core::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(error @ Error::Config(_)) => error.report().to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_tracking_is_an_error_at_connect() {
    let server = RedisServer::start();
    let admin = other(&server).await;
    let user = |name: &str| {
        RedisConfig::new()
            .url(server.url())
            .username(name)
            .password("s3cret")
            .client_tracking(true)
    };
    // Allowed the invalidation channel, refused CLIENT TRACKING.
    let acl = vec!["SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all"];
    command(
        &admin,
        "ACL",
        [acl.clone(), vec!["-client|tracking"]].concat(),
    )
    .await;
    let report = config_error(FredStore::connect(&user("app")).await);
    println!("CLIENT TRACKING refused: {report}");
    assert!(report.contains("refused client tracking"), "{report}");
    assert!(report.contains("client|tracking"), "{report}");
    assert!(
        report.contains(&format!("127.0.0.1:{}", server.port())),
        "{report}"
    );
    assert!(!report.contains("s3cret"), "{report}");
    // Allowed CLIENT TRACKING, refused the invalidation channel.
    let acl = vec![
        "SETUSER",
        "listener",
        "on",
        ">s3cret",
        "~*",
        "resetchannels",
        "+@all",
    ];
    command(&admin, "ACL", acl).await;
    let report = config_error(FredStore::connect(&user("listener")).await);
    println!("the invalidation channel refused: {report}");
    assert!(report.contains("refused client tracking"), "{report}");
    assert!(report.contains("SUBSCRIBE"), "{report}");
    assert!(!report.contains("s3cret"), "{report}");

    // Without tracking the same user works, and a tier over it stays off.
    let plain = FredStore::connect(&user("app").client_tracking(false))
        .await
        .unwrap();
    assert!(!plain.capabilities().tracks_changes);
    let memo = memo(plain);
    let computed: String = memo.call(&args(), || async { "v".to_owned() }).await;
    assert_eq!(computed, "v");
    assert_eq!(cached(&memo, &args()).await, "v");
    assert!(!memo.stats().tier.unwrap().live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_on_a_cluster_is_a_config_error() {
    let cluster = RedisConfig::new()
        .cluster(["redis://127.0.0.1:1"])
        .client_tracking(true);
    for report in [
        config_error(FredStore::connect(&cluster).await),
        config_error(FredStore::connect_lazy(&cluster)),
        config_error(tokio::task::block_in_place(|| {
            FredBlockingStore::connect(&cluster)
        })),
    ] {
        assert!(report.contains("not yet by FredStore"), "{report}");
        assert!(report.contains("client_tracking off"), "{report}");
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
    let store = FredBlockingStore::connect(&config(&server)).unwrap();
    assert!(BlockingStore::capabilities(&store).tracks_changes);
    let other = FredBlockingStore::connect(&RedisConfig::new().url(server.url())).unwrap();
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
}
