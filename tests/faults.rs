//! How memocache behaves when Redis is down, dies, hangs or holds garbage,
//! against real redis-server processes the tests kill, pause and restart.
//!
//! The counters of each memoizer assert what happened; the measured
//! latencies are printed (`cargo test --test faults -- --nocapture`) for the
//! README, never asserted: this machine is shared and noisy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memocache::{
    Args, BlockingStore, BreakerPolicy, BreakerState, Codec, Compression, JsonZlib, Memoizer,
    RedisBlockingStore, RedisConfig, RedisStore, Stats, Store, Zlib,
};
use memocache_testkit::RedisServer;

const OP_TIMEOUT: Duration = Duration::from_millis(200);
const COOL_DOWN: Duration = Duration::from_millis(500);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT)
        .connect_timeout(OP_TIMEOUT)
}

fn memoizer<S>(store: S, namespace: &str) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(namespace)
        .op_timeout(Some(OP_TIMEOUT))
        .circuit_breaker(Some(BreakerPolicy {
            failure_threshold: 5,
            cool_down: COOL_DOWN,
        }))
        .build()
}

/// Polls `done` every 20 ms for at most 20 s; answers how long it took.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: still not after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_not_running_at_start_costs_function_time_only() {
    let server = RedisServer::start();
    server.kill();
    let memo = memoizer(
        RedisStore::connect_lazy(&config(&server)).unwrap(),
        "faults:down",
    );
    let blocking = memoizer(
        RedisBlockingStore::connect_lazy(&config(&server)).unwrap(),
        "faults:down",
    );
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
    println!("200 calls with Redis down: {:?}", start.elapsed());
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

/// Many concurrent callers, each checking every value it gets, until told
/// to stop; answers how many calls they made.
fn load(
    memo: Memoizer<RedisStore>,
    blocking: Memoizer<RedisBlockingStore>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    let mut tasks = Vec::new();
    for t in 0..24u64 {
        let (memo, stop) = (memo.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                let n = (t + calls) % 40;
                let v = memo
                    .call(&Args::new().arg(&n), || async move {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        n * 7
                    })
                    .await;
                assert_eq!(v, n * 7, "a wrong value reached a caller");
                calls += 1;
            }
            calls
        }));
    }
    for t in 0..8u64 {
        let (blocking, stop) = (blocking.clone(), stop.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                let n = (t + calls) % 40;
                let v = blocking.call_blocking(&Args::new().arg(&n), || {
                    std::thread::sleep(Duration::from_millis(2));
                    n * 7
                });
                assert_eq!(v, n * 7, "a wrong value reached a caller");
                calls += 1;
            }
            calls
        }));
    }
    tasks
}

async fn finish(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    for task in tasks {
        calls += task.await.expect("a caller panicked");
    }
    calls
}

fn hits(a: &Memoizer<RedisStore>, b: &Memoizer<RedisBlockingStore>) -> u64 {
    a.stats().hits + b.stats().hits + a.stats().merged + b.stats().merged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_load_then_restarted() {
    let server = RedisServer::start();
    let memo = memoizer(
        RedisStore::connect(&config(&server)).await.unwrap(),
        "faults:kill",
    );
    let blocking = memoizer(
        RedisBlockingStore::connect(&config(&server)).unwrap(),
        "faults:kill",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(memo.clone(), blocking.clone(), stop.clone());

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hits(&memo, &blocking) > 0, "caching works before the kill");
    server.kill();
    let errors_before = memo.stats().store_errors + blocking.stats().store_errors;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = (memo.stats(), blocking.stats());
    server.restart();
    let restarted = Instant::now();
    let hits_at_restart = hits(&memo, &blocking);
    let resumed = eventually("caching resumes after the restart", || {
        memo.stats().breaker == BreakerState::Closed
            && blocking.stats().breaker == BreakerState::Closed
            && hits(&memo, &blocking) > hits_at_restart + 100
    })
    .await;
    let calls = finish(&stop, tasks).await;

    println!(
        "kill: {calls} calls, all correct; caching resumed {resumed:?} after the restart \
         (breaker cool-down {COOL_DOWN:?}); during the outage {:?} / {:?}",
        during.0, during.1
    );
    for stats in [during.0, during.1] {
        assert!(
            stats.store_errors + stats.timeouts > 0,
            "the outage was not seen: {stats:?}"
        );
        assert_eq!(stats.breaker, BreakerState::Open, "{stats:?}");
    }
    assert!(during.0.store_errors + during.1.store_errors >= errors_before);
    assert!(restarted.elapsed() >= resumed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_paused_under_load_then_resumed() {
    let server = RedisServer::start();
    let memo = memoizer(
        RedisStore::connect(&config(&server)).await.unwrap(),
        "faults:pause",
    );
    let blocking = memoizer(
        RedisBlockingStore::connect(&config(&server)).unwrap(),
        "faults:pause",
    );
    // A probe caller measuring its own calls while the server hangs.
    let slowest = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(memo.clone(), blocking.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.pause();
    let probe = {
        let (memo, slowest) = (memo.clone(), slowest.clone());
        tokio::spawn(async move {
            for i in 0..40u64 {
                let start = Instant::now();
                let v = memo
                    .call(&Args::new().arg(&(1000 + i)), || async move { i })
                    .await;
                assert_eq!(v, i);
                let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                slowest.fetch_max(micros, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    probe.await.unwrap();
    let during = (memo.stats(), blocking.stats());
    server.resume();
    let hits_at_resume = hits(&memo, &blocking);
    let resumed = eventually("caching resumes after SIGCONT", || {
        memo.stats().breaker == BreakerState::Closed
            && blocking.stats().breaker == BreakerState::Closed
            && hits(&memo, &blocking) > hits_at_resume + 100
    })
    .await;
    let calls = finish(&stop, tasks).await;

    println!(
        "pause: {calls} calls, all correct; slowest probe call while paused {:?} \
         (op timeout {OP_TIMEOUT:?}); caching resumed {resumed:?} after SIGCONT; \
         during the pause {:?} / {:?}",
        Duration::from_micros(slowest.load(Ordering::Relaxed)),
        during.0,
        during.1
    );
    for stats in [during.0, during.1] {
        assert!(stats.timeouts > 0, "no operation timed out: {stats:?}");
        assert!(
            stats.skipped_by_breaker > 0,
            "the breaker never skipped the hung store: {stats:?}"
        );
    }
}

#[tokio::test]
async fn corrupt_values_in_redis_are_misses_and_get_overwritten() {
    let server = RedisServer::shared();
    let store = RedisStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .unwrap();
    let memo = Memoizer::builder(store.clone())
        .namespace("faults:corrupt")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_on_a_cold_key_run_the_function_once() {
    let server = RedisServer::shared();
    let store = RedisStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .unwrap();
    let memo = Memoizer::builder(store)
        .namespace(format!("faults:stampede:{}", std::process::id()))
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

#[test]
fn the_blocking_path_merges_concurrent_threads_too() {
    let server = RedisServer::shared();
    let memo = Memoizer::builder(
        RedisBlockingStore::connect(&RedisConfig::new().url(server.url())).unwrap(),
    )
    .namespace(format!("faults:stampede-blocking:{}", std::process::id()))
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
