//! The local tier over a client's stores with
//! [`RedisConfig::client_tracking`], against real redis-server processes
//! and clusters: a copy is dropped when another connection, another
//! memocache or the Python reference writes or removes its key, on
//! `FLUSHALL`, on expiry, when a connection whose reads were tracked is
//! lost (a restart, the server closing it), when the key's slot moves or
//! its primary fails over; the store's own write after a miss is what the
//! next call is served; and a soak of rewrites never serves a value
//! older than the invalidation window. (A server that refuses tracking:
//! [`refused`](super::refused).)
//!
//! A change is reported asynchronously (an invalidation), so after a
//! change elsewhere the checks poll for the new value, for at most five
//! seconds, and print how long it took: the invalidation window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use memocache_core::testing::{ShortLife, unique_prefix};
use memocache_core::{Args, Backend, Bytes, Error, LocalTier, Memoizer, Store};
use memocache_core::{Codec, JsonZlib};
use memocache_redis_plumbing::config::RedisConfig;

use super::{Client, connect_blocking};
use crate::python::Reference;
use crate::{RedisCluster, RedisServer, SentinelGroup, redis_cli};

/// Longest a report may take to arrive before a check fails.
const WINDOW: Duration = Duration::from_secs(20);

/// The tier every check uses: big enough, and copies that live long.
fn tier() -> LocalTier {
    LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600))
}

/// A memoizer with a tier over `store`, writing at once.
fn memo<S: Store + 'static>(store: S) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(unique_prefix("tier"))
        .write_behind(false)
        .local_tier(tier())
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

/// Fills the tier: a miss (written), then a read that keeps the copy, then
/// a local hit.
async fn fill<S: Store + 'static>(memo: &Memoizer<S>, value: &str) {
    let computed: String = memo.call(&args(), || async { value.to_owned() }).await;
    assert_eq!(computed, value);
    fill_again(memo, value).await;
}

/// After the tier dropped a copy, the store is read once more and the copy
/// is local again: the next call is a local hit, unless the tier was told
/// of a change or a flush since the read began (a topology change, say,
/// which a client may report a while after the new value is served), in
/// which case the copy is rightly gone and the two reads are made again.
async fn fill_again<S: Store + 'static>(memo: &Memoizer<S>, value: &str) {
    let tier = |memo: &Memoizer<S>| memo.stats().tier.expect("a tier");
    loop {
        let before = tier(memo);
        assert_eq!(cached(memo).await, value);
        let hits = tier(memo).hits;
        assert_eq!(cached(memo).await, value);
        let after = tier(memo);
        if after.hits == hits + 1 {
            return;
        }
        assert!(
            after.flushes > before.flushes || after.invalidations > before.invalidations,
            "not a local hit, though nothing dropped the copy: {before:?} then {after:?}"
        );
    }
}

fn flushes<S>(memo: &Memoizer<S>) -> u64 {
    memo.stats().tier.expect("a tier").flushes
}

/// Another process: the same client's store without tracking, writing the
/// reference's format.
struct Elsewhere<S>(S);

impl<S: Store> Elsewhere<S> {
    async fn set(&self, key: &str, value: &str) {
        let bytes = Bytes::from(JsonZlib::default().encode(&value).expect("encode"));
        self.0.set(key, bytes, None).await.expect("write elsewhere");
    }

    /// Writes as the Python reference's `cache_data` does: `DEL`, then
    /// `SETEX`.
    async fn set_as_the_reference(&self, key: &str, value: &str) {
        let bytes = Bytes::from(JsonZlib::default().encode(&value).expect("encode"));
        self.0.delete(key).await.expect("delete elsewhere");
        let expire = Some(Duration::from_secs(600));
        self.0
            .set(key, bytes, expire)
            .await
            .expect("write elsewhere");
    }

    async fn delete(&self, key: &str) {
        self.0.delete(key).await.expect("delete elsewhere");
    }
}

async fn elsewhere<C: Client>(config: &RedisConfig) -> Elsewhere<C::Async> {
    let untracked = config.clone().client_tracking(false);
    Elsewhere(C::connect(&untracked).await.expect("connect elsewhere"))
}

/// On the single node or cluster of `config` (without tracking): another
/// connection's `SET` and `DEL`, the reference's `DEL` + `SETEX`, and
/// another memocache's write and invalidation drop the copy; this store's
/// own write after reading the key as missing is served locally.
pub async fn changes_from_elsewhere_drop_the_copy<C: Client>(config: &RedisConfig) {
    let store = C::connect(&config.clone().client_tracking(true))
        .await
        .expect("connect the tracked store");
    assert!(store.capabilities().tracks_changes);
    let memo = memo(store);
    let key = memo.key(&args()).expect("a key");
    let other = elsewhere::<C>(config).await;
    fill(&memo, "old").await;
    assert!(memo.stats().tier.expect("a tier").live);

    other.set(&key, "new").await;
    let window = served_within(&memo, "new").await;
    println!(
        "{}: another connection's SET seen after {window:?}",
        C::BACKEND
    );
    fill_again(&memo, "new").await;

    other.delete(&key).await;
    let window = served_within(&memo, "computed").await;
    println!(
        "{}: another connection's DEL seen after {window:?}",
        C::BACKEND
    );
    fill_again(&memo, "computed").await;

    other.set_as_the_reference(&key, "as python writes").await;
    served_within(&memo, "as python writes").await;
    fill_again(&memo, "as python writes").await;

    let twin = Memoizer::builder(other.0.clone())
        .namespace(memo.namespace().to_owned())
        .write_behind(false)
        .build();
    twin.cache_data(&key, "from a twin".to_owned()).await;
    served_within(&memo, "from a twin").await;
    fill_again(&memo, "from a twin").await;
    assert!(twin.invalidate(&args()).await.expect("invalidate"));
    served_within(&memo, "computed").await;
    assert!(memo.stats().tier.expect("a tier").invalidations >= 5);

    // This store's own write right after it read the key as missing is
    // what the next calls are served, locally.
    assert!(memo.invalidate(&args()).await.expect("invalidate"));
    let written: String = memo
        .call(&args(), || async { "written here".to_owned() })
        .await;
    assert_eq!(written, "written here");
    fill_again(&memo, "written here").await;
}

/// [`changes_from_elsewhere_drop_the_copy`] on the binary's shared
/// cluster; a client that does not track on a cluster must refuse instead.
pub async fn on_a_cluster_changes_from_elsewhere_drop_the_copy<C: Client>() {
    on_the_shared_cluster::<C, _>(changes_from_elsewhere_drop_the_copy::<C>).await;
}

/// Runs `check` with the binary's shared cluster's config if `C` tracks
/// on a cluster; else checks that `C` refuses to.
async fn on_the_shared_cluster<C: Client, F>(check: impl FnOnce(&'static RedisConfig) -> F)
where
    F: std::future::Future<Output = ()>,
{
    static CONFIG: std::sync::OnceLock<RedisConfig> = std::sync::OnceLock::new();
    if C::TRACKS_CLUSTERS {
        check(CONFIG.get_or_init(|| RedisCluster::shared().config())).await;
    } else {
        tracking_on_a_cluster_is_refused::<C>().await;
    }
}

/// The Python reference's `cache_data`, run by CPython, drops the copy.
pub async fn the_python_reference_s_write_drops_the_copy<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url()).client_tracking(true);
    let memo = memo(C::connect(&config).await.expect("connect"));
    let key = memo.key(&args()).expect("a key");
    fill(&memo, "from rust").await;
    let url = server.url();
    assert!(!key.contains(['"', '\\']), "{key}");
    let key_json = format!("\"{key}\"");
    let printed = tokio::task::spawn_blocking(move || {
        Reference::get().run(
            &url,
            "key = json.load(sys.stdin)\n\
             cache_data('from python', key, REDIS.get_redis_client(), 60)\n\
             print('written')",
            &key_json,
        )
    })
    .await
    .expect("the reference ran");
    assert_eq!(printed.trim(), "written");
    let window = served_within(&memo, "from python").await;
    println!(
        "{}: the reference's cache_data seen after {window:?}",
        C::BACKEND
    );
}

/// `FLUSHALL` from another connection drops every copy; a copy never
/// outlives its Redis entry.
pub async fn flushall_and_expiry_drop_copies<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url()).client_tracking(true);
    let store = C::connect(&config).await.expect("connect");
    let memo = memo(store.clone());
    fill(&memo, "v").await;
    let before = flushes(&memo);
    redis_cli(server.port(), &["FLUSHALL"]);
    served_within(&memo, "computed").await;
    assert!(flushes(&memo) > before, "FLUSHALL did not flush");

    let mut life = ShortLife::new(Duration::from_millis(500));
    let (short, landed, computed, kept) = loop {
        life.begin();
        let short = Memoizer::builder(store.clone())
            .namespace(unique_prefix("tier-expiry"))
            .write_behind(false)
            .expire(life.life())
            .local_tier(tier())
            .build();
        let computed: String = short.call(&args(), || async { "short".to_owned() }).await;
        let landed = Instant::now();
        let kept: String = short
            .call(&args(), || async { "computed".to_owned() })
            .await;
        if life.fitted() {
            break (short, landed, computed, kept);
        }
    };
    assert_eq!(computed, "short");
    assert_eq!(kept, "short", "computed, not served from the cache");
    tokio::time::sleep(life.until_expired(landed)).await;
    let after: String = short
        .call(&args(), || async { "recomputed".to_owned() })
        .await;
    assert_eq!(after, "recomputed", "a copy outlived its Redis entry");
}

/// The server restarts, losing every connection, and a write is made
/// while the store could not hear of it: the tier is flushed, the write is
/// served, and tracking works on the new connections.
pub async fn a_lost_connection_flushes_and_tracking_comes_back<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    let memo = memo(
        C::connect(&config.clone().client_tracking(true))
            .await
            .expect("connect"),
    );
    let key = memo.key(&args()).expect("a key");
    fill(&memo, "before").await;
    let before = flushes(&memo);
    let restarting = Arc::new(server);
    let server = Arc::clone(&restarting);
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .expect("restarted");
    elsewhere::<C>(&config).await.set(&key, "while away").await;
    let start = Instant::now();
    while flushes(&memo) == before {
        assert!(start.elapsed() < WINDOW, "the loss was never noticed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let back = loop {
        // The first calls after the loss may fail (and compute); a copy
        // from before it is never served.
        let got: String = memo.call(&args(), || async { "computed".to_owned() }).await;
        assert_ne!(got, "before", "a copy from before the loss was served");
        if got == "while away" {
            break start.elapsed();
        }
        assert!(start.elapsed() < WINDOW, "never reconnected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "{}: served again {back:?} after the restart was noticed",
        C::BACKEND
    );
    fill_again(&memo, "while away").await;
    elsewhere::<C>(&config).await.set(&key, "after").await;
    served_within(&memo, "after").await;
    drop(server);
}

/// The server closes the stores' connections (as its idle `timeout`
/// would; here `CLIENT KILL TYPE normal`): the keys read through them go
/// untracked with them, so the tiers let go of their copies.
pub async fn a_connection_the_server_closes_flushes_the_tier<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    let tracked = config.clone().client_tracking(true);
    let memo = memo(C::connect(&tracked).await.expect("connect"));
    let key = memo.key(&args()).expect("a key");
    let blocking = Arc::new(
        Memoizer::builder(connect_blocking::<C>(&tracked).await.expect("connect"))
            .namespace(unique_prefix("tier-closed"))
            .local_tier(tier())
            .build(),
    );
    let blocking_key = blocking.key(&args()).expect("a key");
    fill(&memo, "before").await;
    let filling = Arc::clone(&blocking);
    tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            assert_eq!(
                filling.call_blocking(&args(), || "before".to_owned()),
                "before"
            );
        }
    })
    .await
    .expect("filled");

    let killed = redis_cli(server.port(), &["CLIENT", "KILL", "TYPE", "normal"]);
    let killed: u64 = killed.trim().parse().expect("a count");
    assert!(killed >= 2, "killed {killed} connections");
    let other = elsewhere::<C>(&config).await;
    other.set(&key, "after").await;
    other.set(&blocking_key, "after").await;
    let window = served_within(&memo, "after").await;
    println!(
        "{}: a write after the server closed the connections seen after {window:?}",
        C::BACKEND
    );
    let window = tokio::task::spawn_blocking(move || {
        blocking_until("after", || {
            blocking.call_blocking(&args(), || "computed".to_owned())
        })
    })
    .await
    .expect("served");
    println!("{}: the blocking store saw it after {window:?}", C::BACKEND);
}

/// The blocking store on the single node or cluster of `config` (without
/// tracking): copies are local hits, and another connection's write and
/// removal drop them.
pub async fn the_blocking_store_tracks_changes<C: Client>(config: &RedisConfig) {
    let store = connect_blocking::<C>(&config.clone().client_tracking(true))
        .await
        .expect("connect the blocking store");
    assert!(Backend::capabilities(&store).tracks_changes);
    let memo = Arc::new(
        Memoizer::builder(store)
            .namespace(unique_prefix("tier-blocking"))
            .local_tier(tier())
            .build(),
    );
    let key = memo.key(&args()).expect("a key");
    let calling = Arc::clone(&memo);
    tokio::task::spawn_blocking(move || {
        let call = |computed: &str| calling.call_blocking(&args(), || computed.to_owned());
        let local_hits = || calling.stats().tier.expect("a tier").hits;
        assert_eq!(call("old"), "old");
        assert_eq!(call("computed"), "old", "the store read keeps the copy");
        let hits = local_hits();
        assert_eq!(call("computed"), "old");
        assert_eq!(local_hits(), hits + 1, "not a local hit");
    })
    .await
    .expect("filled");
    let other = elsewhere::<C>(config).await;
    other.set(&key, "new").await;
    let calling = Arc::clone(&memo);
    let window = tokio::task::spawn_blocking(move || {
        blocking_until("new", || {
            calling.call_blocking(&args(), || "computed".to_owned())
        })
    })
    .await
    .expect("served");
    println!(
        "{}: the blocking store saw another connection's SET after {window:?}",
        C::BACKEND
    );
    other.delete(&key).await;
    tokio::task::spawn_blocking(move || {
        blocking_until("computed", || {
            memo.call_blocking(&args(), || "computed".to_owned())
        })
    })
    .await
    .expect("served");
}

/// [`the_blocking_store_tracks_changes`] on the binary's shared cluster;
/// a client that does not track on a cluster must refuse instead.
pub async fn on_a_cluster_the_blocking_store_tracks_changes<C: Client>() {
    on_the_shared_cluster::<C, _>(the_blocking_store_tracks_changes::<C>).await;
}

/// A cluster of its own: `FLUSHALL` on the key's primary, the key's slot
/// moved to another primary, and that primary failed over all drop what
/// may be stale, and tracking goes on after each. A client that does not
/// track on a cluster must refuse instead.
pub async fn on_a_cluster_flushes_moved_slots_and_failovers_drop_copies<C: Client>() {
    if !C::TRACKS_CLUSTERS {
        return tracking_on_a_cluster_is_refused::<C>().await;
    }
    let cluster = Arc::new(RedisCluster::start());
    let memo = memo(
        C::connect(&cluster.config().client_tracking(true))
            .await
            .expect("connect"),
    );
    let key = memo.key(&args()).expect("a key");
    let other = elsewhere::<C>(&cluster.config()).await;

    fill(&memo, "v").await;
    let (primary, _) = cluster.primary_of(&key);
    let before = flushes(&memo);
    redis_cli(primary, &["FLUSHALL"]);
    served_within(&memo, "computed").await;
    assert!(flushes(&memo) > before, "FLUSHALL did not flush");

    fill_again(&memo, "computed").await;
    let moving = Arc::clone(&cluster);
    let moved_key = key.clone();
    let (from, to) = tokio::task::spawn_blocking(move || moving.move_slot_of(&moved_key))
        .await
        .expect("moved");
    assert_ne!(from, to);
    other.set(&key, "after the move").await;
    let window = served_within(&memo, "after the move").await;
    println!(
        "{}: a write after the slot moved seen after {window:?}",
        C::BACKEND
    );
    fill_again(&memo, "after the move").await;

    let before = flushes(&memo);
    let failing_over = cluster.primary_of(&key).0;
    let killer = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || killer.kill_primary(failing_over))
        .await
        .expect("failed over");
    assert!(
        flushes(&memo) > before,
        "the lost primary did not flush the tier"
    );
    // Seeded by a live primary: the first seed may be the one killed.
    let live = cluster.node(cluster.primaries()[0]).url();
    let other = elsewhere::<C>(&RedisConfig::new().cluster([live])).await;
    other.set(&key, "after the failover").await;
    let window = served_within(&memo, "after the failover").await;
    println!(
        "{}: a write after the failover seen after {window:?}",
        C::BACKEND
    );
    fill_again(&memo, "after the failover").await;
    other.set(&key, "tracked again").await;
    served_within(&memo, "tracked again").await;
}

/// On a primary found through Sentinel: a failover (the primary
/// SIGKILLed) flushes the tier, and tracking is on at the promoted
/// replica, whose changes drop the copies made from it.
pub async fn on_sentinel_a_failover_flushes_and_tracking_resumes<C: Client>() {
    let group = tokio::task::spawn_blocking(|| Arc::new(SentinelGroup::start()))
        .await
        .expect("starting the sentinel group panicked");
    let config = group.config();
    let memo = memo(
        C::connect(&config.clone().client_tracking(true))
            .await
            .expect("connect"),
    );
    let key = memo.key(&args()).expect("a key");
    fill(&memo, "v").await;

    let before = flushes(&memo);
    let failing_over = Arc::clone(&group);
    let promoted = tokio::task::spawn_blocking(move || {
        let old = failing_over.kill_primary();
        failing_over.wait_for_failover(old)
    })
    .await
    .expect("the failover panicked");
    // The change is reported once the store notices: poll for it.
    let start = Instant::now();
    while flushes(&memo) == before {
        assert!(
            start.elapsed() < WINDOW * 6,
            "the failover did not flush the tier"
        );
        let _: String = memo.call(&args(), || async { "computed".to_owned() }).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = elsewhere::<C>(&RedisConfig::new().url(group.node(promoted).url())).await;
    other.set(&key, "after the failover").await;
    let window = served_within(&memo, "after the failover").await;
    println!(
        "{}: on Sentinel, a write after the failover seen after {window:?}",
        C::BACKEND
    );
    fill_again(&memo, "after the failover").await;
    other.set(&key, "tracked again").await;
    served_within(&memo, "tracked again").await;
}

/// Tracking asked for on a cluster, by a client that cannot: a clear
/// error at connect, async and blocking.
async fn tracking_on_a_cluster_is_refused<C: Client>() {
    let config = RedisConfig::new()
        .cluster(["redis://127.0.0.1:1"])
        .client_tracking(true);
    let error = C::connect(&config).await.expect_err("refused");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert!(
        error.to_string().to_lowercase().contains("cluster"),
        "{error}"
    );
    let error = connect_blocking::<C>(&config).await.expect_err("refused");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}

/// A soak: another connection rewrites random keys with rising versions
/// while 32 callers read them through one tracked store and its tier. The
/// writer waits after each write until the memoizer serves the new version
/// (printing how long that took: the coherence window); from then on, no
/// read begun later may return an older one.
pub async fn a_soak_of_rewrites_never_serves_a_value_older_than_the_window<C: Client>() {
    const KEYS: u64 = 50;
    const CALLERS: u64 = 32;
    const WRITES: u64 = 300;

    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    let memo = memo(
        C::connect(&config.clone().client_tracking(true))
            .await
            .expect("connect"),
    );
    let key_of = |k: u64| memo.key(&Args::new().kwarg("key", &k)).expect("a key");
    let keys: Vec<String> = (0..KEYS).map(key_of).collect();
    let writer = elsewhere::<C>(&config).await;
    let encode = |version: u64| Bytes::from(JsonZlib::default().encode(&version).expect("encode"));
    for key in &keys {
        writer.0.set(key, encode(1), None).await.expect("seed");
    }
    let done = Arc::new(AtomicBool::new(false));
    // Every write: key, version, and when the memoizer first served it.
    let writing = {
        let (memo, done) = (memo.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            // The readers stop when the writer ends, even by a failed
            // check: they would otherwise read (and keep every read) on.
            let _stop = StopOnDrop(Arc::clone(&done));
            let mut writes = Vec::new();
            let mut windows = Vec::new();
            let mut rng = 0x9e37_79b9_u64;
            for version in 2..WRITES + 2 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = rng % KEYS;
                let key = &keys[usize::try_from(k).expect("small")];
                writer
                    .0
                    .set(key, encode(version), None)
                    .await
                    .expect("rewrite");
                let written = Instant::now();
                while version_of(&memo, k).await < version {
                    assert!(
                        written.elapsed() < WINDOW,
                        "version {version} of key {k} not served {WINDOW:?} after its write"
                    );
                    tokio::task::yield_now().await;
                }
                windows.push(written.elapsed());
                writes.push((k, version, Instant::now()));
            }
            done.store(true, Ordering::SeqCst);
            (writes, windows)
        })
    };
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (memo, done) = (memo.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut reads = Vec::new();
                let mut k = c;
                while !done.load(Ordering::SeqCst) {
                    k = (k * 7 + 3) % KEYS;
                    let began = Instant::now();
                    reads.push((k, version_of(&memo, k).await, began));
                    tokio::task::yield_now().await;
                }
                reads
            })
        })
        .collect();
    let mut reads = Vec::new();
    for caller in callers {
        reads.extend(caller.await.expect("a caller"));
    }
    let (writes, mut windows) = writing.await.expect("the writer");
    let stale = reads
        .iter()
        .filter(|&&(k, seen, began)| {
            let served = writes
                .iter()
                .filter(|&&(wk, _, at)| wk == k && at <= began)
                .map(|&(_, version, _)| version)
                .max()
                .unwrap_or(1);
            seen < served
        })
        .count();
    windows.sort();
    let tier = memo.stats().tier.expect("a tier");
    println!(
        "{} soak: {} reads ({} local), {} writes, {} invalidations, {stale} older than a \
         version served before they began; served after a write: median {:?}, slowest {:?}",
        C::BACKEND,
        reads.len(),
        tier.hits,
        writes.len(),
        tier.invalidations,
        windows[windows.len() / 2],
        windows[windows.len() - 1],
    );
    assert_eq!(stale, 0, "reads older than a version already served");
    assert!(tier.hits > 0, "the tier served nothing");
    assert!(writes.len() > 100, "the writer barely wrote");
}

/// The version the soak's key `k` holds, through `memo`.
/// Sets its flag when dropped, however its owner ends.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn version_of<S: Store + 'static>(memo: &Memoizer<S>, k: u64) -> u64 {
    let read: Result<u64, &str> = memo
        .try_call(&Args::new().kwarg("key", &k), || async { Err("missing") })
        .await;
    read.expect("every key exists")
}
