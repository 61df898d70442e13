//! Faults: Redis not running at start, killed (SIGKILL) and restarted
//! under load, paused (SIGSTOP) under load, corrupt values in Redis, and a
//! thousand callers on one cold key, against real redis-server processes
//! the checks kill, pause and restart.
//!
//! The counters of each memoizer assert what happened; the measured
//! latencies are printed (run with `--nocapture` to see them), never
//! asserted: the machines the tests run on are shared and noisy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, BlockingStore, BreakerPolicy, Codec, Compression, JsonZlib, Memoizer, Stats, Store, Zlib,
};
use memocache_redis_plumbing::config::RedisConfig;

use super::{Client, connect_blocking, shared_config};
use crate::RedisServer;
use crate::callers::{Policy, Stores};
use crate::load::Load;

/// The memoizers' operation timeout, and the stores' socket and connect
/// timeouts.
const OP_TIMEOUT: Duration = Duration::from_millis(200);

/// How long an open breaker waits before it lets a probe through.
const COOL_DOWN: Duration = Duration::from_millis(500);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT)
        .connect_timeout(OP_TIMEOUT)
}

/// The fault checks' policy: [`OP_TIMEOUT`], and a breaker that opens
/// after 5 failures for [`COOL_DOWN`].
fn policy(namespace: &str) -> Policy {
    Policy {
        namespace: namespace.to_owned(),
        op_timeout: Some(OP_TIMEOUT),
        breaker: Some(
            BreakerPolicy::new()
                .failure_threshold(5)
                .cool_down(COOL_DOWN),
        ),
        ..Policy::default()
    }
}

/// Both of `C`'s stores, connected to `server`.
async fn stores<C: Client>(server: &RedisServer) -> Stores {
    Stores {
        async_store: Arc::new(
            C::connect(&config(server))
                .await
                .expect("connect the async store"),
        ),
        blocking_store: Some(Arc::new(
            connect_blocking::<C>(&config(server))
                .await
                .expect("connect the blocking store"),
        )),
    }
}

/// Whether a memoizer's counters show an outage as [`assert_outage_seen`]
/// asks.
fn outage_seen(stats: &Stats) -> bool {
    stats.store_errors + stats.timeouts >= 5 && stats.skipped_by_breaker > 0
}

/// What every outage must show in each memoizer's counters: it was seen,
/// and the breaker kept the store from being called for every call.
fn assert_outage_seen(during: &[Stats]) {
    for stats in during {
        assert!(
            stats.store_errors + stats.timeouts >= 5,
            "the outage was not seen: {stats:?}"
        );
        assert!(
            stats.skipped_by_breaker > 0,
            "the breaker never skipped the store: {stats:?}"
        );
    }
}

/// Lazy stores on a server that is not running: 100 calls on each path
/// all compute, the failures are counted, and the breaker opens so that
/// most calls do not try the store at all.
pub async fn redis_not_running_at_start_costs_function_time_only<C: Client>() {
    let server = RedisServer::start();
    server.kill();
    let memo = policy("faults:down")
        .build(C::connect_lazy(&config(&server)).expect("a lazy store needs no server"));
    let blocking = policy("faults:down")
        .build(C::connect_blocking_lazy(&config(&server)).expect("a lazy store needs no server"));
    let start = Instant::now();
    for i in 0..100u64 {
        assert_eq!(
            memo.call(&Args::new().arg(&i), || async move { i * 2 })
                .await,
            i * 2
        );
        let b = blocking.clone();
        let v =
            tokio::task::spawn_blocking(move || b.call_blocking(&Args::new().arg(&i), || i * 3))
                .await
                .unwrap();
        assert_eq!(v, i * 3);
    }
    println!(
        "{}: 200 calls with Redis down: {:?}",
        C::BACKEND,
        start.elapsed()
    );
    for stats in [memo.stats(), blocking.stats()] {
        assert_eq!(stats.misses, 100);
        assert_eq!(stats.hits, 0);
        assert!(stats.store_errors + stats.timeouts >= 5, "{stats:?}");
        assert!(
            stats.skipped_by_breaker > 50,
            "the breaker did not open: {stats:?}"
        );
    }
}

/// The server SIGKILLed under load, then restarted empty on the same
/// port: every caller gets the right value throughout, the outage shows
/// as store errors, and caching resumes on the same stores.
pub async fn redis_killed_under_load_then_restarted<C: Client>() {
    let server = RedisServer::start();
    let load = Load::start(&stores::<C>(&server).await, &policy("faults:kill"));
    load.wait_for_caching(Duration::from_secs(20)).await;
    assert!(load.served() > 0, "caching works before the kill");

    server.kill();
    let during = load
        .wait_for("the outage", Duration::from_secs(20), |stats| {
            stats.iter().all(|s| outage_seen(s) && s.store_errors > 0)
        })
        .await;
    server.restart();
    let resumed = load.wait_for_caching(Duration::from_secs(20)).await;
    let calls = load.finish().await;

    println!(
        "{} kill: {calls} calls, all correct; caching resumed {resumed:?} after the restart \
         (breaker cool-down {COOL_DOWN:?}); during the outage {during:?}",
        C::BACKEND
    );
    assert_outage_seen(&during);
    assert!(during.iter().all(|s| s.store_errors > 0), "{during:?}");
}

/// The server SIGSTOPped under load, then resumed: every caller gets the
/// right value, the hang shows as timeouts, a probe caller waits on the
/// hung store only until its breaker opens and then once per cool-down
/// (or, on a client that [replaces unresponsive
/// connections](Client::REPLACES_UNRESPONSIVE_CONNECTIONS), fails), and
/// caching resumes after SIGCONT.
pub async fn redis_paused_under_load_then_resumed<C: Client>() {
    let server = RedisServer::start();
    let stores = stores::<C>(&server).await;
    let load = Load::start(&stores, &policy("faults:pause"));
    load.wait_for_caching(Duration::from_secs(20)).await;

    server.pause();
    // A probe caller measuring its own calls while the server hangs.
    let probe = policy("faults:pause-probe").build(Arc::clone(&stores.async_store));
    let mut slowest = Duration::ZERO;
    let probing = Instant::now();
    for i in 0..40u64 {
        let start = Instant::now();
        assert_eq!(
            probe.call(&Args::new().arg(&i), || async move { i }).await,
            i
        );
        slowest = slowest.max(start.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let probing = probing.elapsed();
    let during = load
        .wait_for("the hang", Duration::from_secs(20), |stats| {
            stats.iter().all(|s| outage_seen(s) && s.timeouts > 0)
        })
        .await;
    server.resume();
    let resumed = load.wait_for_caching(Duration::from_secs(20)).await;
    let calls = load.finish().await;

    println!(
        "{} pause: {calls} calls, all correct; slowest probe call while paused {slowest:?} \
         (op timeout {OP_TIMEOUT:?}); caching resumed {resumed:?} after SIGCONT; \
         during the pause {during:?}",
        C::BACKEND
    );
    assert_outage_seen(&during);
    assert!(
        during.iter().all(|s| s.timeouts > 0),
        "a hung server must show as timeouts: {during:?}"
    );
    // The probe waits on the hung store only until its breaker opens (5
    // timeouts), then once per cool-down (the half-open probe).
    let probe = probe.stats();
    let cool_downs = u64::try_from(probing.as_millis() / COOL_DOWN.as_millis()).unwrap();
    assert!(
        probe.timeouts <= 5 + cool_downs,
        "the probe kept waiting on the hung store: {probe:?} in {probing:?}"
    );
    // Every probe call waited for the hung store or skipped it; a client
    // that replaces unresponsive connections fails some of them instead.
    let failed = if C::REPLACES_UNRESPONSIVE_CONNECTIONS {
        probe.store_errors
    } else {
        0
    };
    assert_eq!(
        probe.timeouts + failed + probe.skipped_by_breaker,
        40,
        "{probe:?}"
    );
}

/// Random bytes, truncated zlib, zlib of non-JSON, JSON of the wrong shape
/// and a zlib bomb stored at a call's key: each is a miss (counted as a
/// decode error), and the computed value overwrites it.
pub async fn corrupt_values_in_redis_are_misses_and_get_overwritten<C: Client>() {
    let store = C::connect(&shared_config())
        .await
        .expect("connect the async store");
    let memo = Memoizer::builder(store.clone())
        .namespace(unique_prefix("faults:corrupt"))
        .write_behind(false)
        .build();
    let codec = JsonZlib::default();
    let zlib = |bytes: &[u8]| Zlib::default().compress(bytes.to_vec()).unwrap();
    let good = codec.encode(&[1u32, 2, 3]).unwrap();
    let mut random = vec![0u8; 4096];
    let mut x = 0x2545_f491_u32;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random),
        ("truncated zlib", good[..good.len() / 2].to_vec()),
        ("zlib of non-JSON", zlib(b"\x00\x01 not json {")),
        (
            "JSON of the wrong shape",
            codec.encode(&"a string").unwrap(),
        ),
        // 200 MiB of spaces inflate past the 64 MiB bound.
        ("zlib bomb", zlib(&vec![b' '; 200 << 20])),
    ];
    for (i, (name, corrupt)) in cases.into_iter().enumerate() {
        let args = Args::new().arg(&i);
        let key = memo.key(&args).unwrap();
        store.set(&key, corrupt.into(), None).await.unwrap();
        let value: Vec<u32> = memo.call(&args, || async { vec![1, 2, 3] }).await;
        assert_eq!(value, [1, 2, 3], "{name}");
        let stored = store.get(&key).await.unwrap().expect("overwritten");
        assert_eq!(
            codec.decode::<Vec<u32>>(&stored).unwrap(),
            [1, 2, 3],
            "{name}"
        );
    }
    let stats: Stats = memo.stats();
    assert_eq!((stats.decode_errors, stats.misses, stats.hits), (5, 5, 0));
}

/// A thousand async callers released together on one cold key: the
/// function runs once, and every other caller is merged into it or hits.
pub async fn a_thousand_callers_on_a_cold_key_run_the_function_once<C: Client>() {
    let store = C::connect(&shared_config())
        .await
        .expect("connect the async store");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("faults:stampede"))
        .build();
    let runs = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (memo, runs, gate) = (memo.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                memo.call(&Args::new().arg(&"report"), || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "expensive".to_owned()
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "expensive");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = memo.stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.merged + stats.hits, 999, "{stats:?}");
}

/// 64 threads released together on one cold key through the blocking
/// path: the function runs once. Called outside any runtime.
pub fn the_blocking_path_merges_concurrent_threads_too<C: Client>() {
    let memo = Memoizer::builder(
        C::connect_blocking(&shared_config()).expect("connect the blocking store"),
    )
    .namespace(unique_prefix("faults:stampede-blocking"))
    .build();
    let runs = AtomicU64::new(0);
    let gate = std::sync::Barrier::new(64);
    std::thread::scope(|scope| {
        for _ in 0..64 {
            scope.spawn(|| {
                gate.wait();
                let v = memo.call_blocking(&Args::new().arg(&"report"), || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    42u32
                });
                assert_eq!(v, 42);
            });
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = memo.stats();
    assert_eq!(stats.merged + stats.hits, 63, "{stats:?}");
    let _: &dyn BlockingStore = memo.store();
}
