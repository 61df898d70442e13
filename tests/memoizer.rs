//! Memoizer behaviour that does not depend on a backend: failing stores,
//! unencodable arguments, the reference's entry points, other codecs. The
//! shared behaviour suite runs on every backend's own tests (the memory
//! store's in crates/backend-memory/tests).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache::codec::{Codec, JsonZlib};
use memocache::health::{BreakerPolicy, BreakerState};
use memocache::store::{BlockingStore, KeyTtl, Store};
use memocache::testing::FailingStore;
use memocache::{
    Args, Memoizer, MemoryStore, acache_data, acache_function, cache_data, cache_function,
};

#[tokio::test(flavor = "current_thread")]
async fn a_store_that_always_fails_still_gives_correct_results_and_logs() {
    let (events, _guard) = support::logs::capture();
    let store = Arc::new(FailingStore::default());
    let memo = Memoizer::builder(store.clone()).namespace("down").build();
    let runs = AtomicUsize::new(0);
    for i in 0..3 {
        let value = memo
            .call(&Args::new().arg(&i), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                i * 10
            })
            .await;
        assert_eq!(value, i * 10);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        store.calls(),
        3,
        "each call tries one read, and no write after it failed"
    );

    let events = events.all();
    let reads: Vec<_> = events
        .iter()
        .filter(|e| e.field("subject") == Some("Error on get cached data"))
        .collect();
    let writes: Vec<_> = events
        .iter()
        .filter(|e| e.field("subject") == Some("Error on writing cache"))
        .collect();
    assert_eq!((reads.len(), writes.len()), (3, 0), "{events:#?}");
    let first = reads[0];
    assert_eq!(first.level, tracing::Level::ERROR);
    assert_eq!(first.field("controller"), Some("memocache::Memoizer::call"));
    assert_eq!(
        first.field("redis_key"),
        Some(memo.key(&Args::new().arg(&0)).unwrap().as_str())
    );
    assert!(first.field("error").unwrap().contains("connection refused"));
}

#[test]
fn the_blocking_path_survives_a_failing_store_too() {
    let (events, _guard) = support::logs::capture();
    let memo = Memoizer::builder(FailingStore::default()).build();
    let ok: Result<u8, String> = memo.try_call_blocking(&Args::new().arg(&1), || Ok(5));
    assert_eq!(ok, Ok(5));
    assert_eq!(
        memo.call_blocking(&Args::new(), || "fresh".to_owned()),
        "fresh"
    );
    assert_eq!(events.all().len(), 2);
    let stats = memo.stats();
    assert_eq!((stats.misses, stats.store_errors, stats.hits), (2, 2, 0));
}

#[test]
fn an_unencodable_argument_bypasses_the_cache_and_is_logged() {
    let (events, _guard) = support::logs::capture();
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone()).namespace("ns").build();
    let mut bad = std::collections::BTreeMap::new();
    bad.insert((1, 2), "tuple keys are not JSON");
    let runs = AtomicUsize::new(0);
    for _ in 0..2 {
        memo.call_blocking(&Args::new().arg(&bad), || {
            runs.fetch_add(1, Ordering::SeqCst)
        });
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(store.is_empty());
    let events = events.all();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].field("subject"),
        Some("Error on building cache key")
    );
}

#[test]
fn reference_cache_data_and_cache_function() {
    let store = MemoryStore::new();
    let value = cache_data(
        vec![1, 2, 3],
        "report:1",
        store.clone(),
        Some(Duration::from_secs(30)),
    );
    assert_eq!(value, vec![1, 2, 3]);
    let stored = BlockingStore::get(&store, "report:1").unwrap().unwrap();
    assert_eq!(
        JsonZlib::default().decode::<Vec<i32>>(&stored).unwrap(),
        [1, 2, 3]
    );
    assert!(matches!(
        BlockingStore::ttl(&store, "report:1").unwrap(),
        KeyTtl::Expires(_)
    ));
    cache_data("forever", "report:2", store.clone(), None);
    assert_eq!(
        BlockingStore::ttl(&store, "report:2").unwrap(),
        KeyTtl::Persistent
    );

    let memo = Memoizer::builder(store).namespace("math:fib").build();
    let runs = AtomicUsize::new(0);
    let fib = |n: u64| {
        cache_function(&memo, &Args::new().kwarg("n", &n), || {
            runs.fetch_add(1, Ordering::SeqCst);
            (1..=n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0
        })
    };
    assert_eq!(fib(35), 9_227_465);
    assert_eq!(fib(35), 9_227_465);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn reference_async_entry_points() {
    let store = MemoryStore::new();
    acache_data("v", "k", store.clone(), None).await;
    assert!(Store::get(&store, "k").await.unwrap().is_some());
    let memo = Memoizer::builder(store)
        .namespace("api:user")
        .expire_secs(1800)
        .build();
    let runs = AtomicUsize::new(0);
    for _ in 0..2 {
        let user = acache_function(&memo, &Args::new().kwarg("user_id", &123), || async {
            runs.fetch_add(1, Ordering::SeqCst);
            ("User 123".to_owned(), 123)
        })
        .await;
        assert_eq!(user, ("User 123".to_owned(), 123));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn clearing_an_empty_namespace_is_refused() {
    let memo = Memoizer::builder(MemoryStore::new()).build();
    memo.call_blocking(&Args::new().arg(&1), || 1);
    let err = memo.clear_namespace_blocking().unwrap_err();
    assert!(err.to_string().contains("empty namespace"), "{err}");
}

#[cfg(all(feature = "zstd", feature = "msgpack", feature = "blake3"))]
#[test]
fn other_codecs_and_hashers_plug_in() {
    use memocache::codec::{JsonZstd, MsgpackZstd};
    use memocache::key::Blake3;
    let store = MemoryStore::new();
    let json_zstd = Memoizer::builder(store.clone())
        .namespace("a")
        .codec(JsonZstd::default())
        .hasher(Blake3)
        .build();
    let msgpack = Memoizer::builder(store.clone())
        .namespace("b")
        .codec(MsgpackZstd::default())
        .build();
    let args = Args::new().arg(&"x");
    for _ in 0..2 {
        assert_eq!(
            json_zstd.call_blocking(&args, || vec![1.5f64; 100]),
            vec![1.5; 100]
        );
        assert_eq!(
            msgpack.call_blocking(&args, || (1u8, "two".to_owned())),
            (1, "two".to_owned())
        );
    }
    let key = json_zstd.key(&args).unwrap();
    let mut blake = String::new();
    memocache::key::KeyHasher::write_hex_digest(&Blake3, b"[\"x\"]", &mut blake);
    assert_eq!(key, format!("a:{blake}"));
    let stored = BlockingStore::get(&store, &key).unwrap().unwrap();
    assert_eq!(
        JsonZstd::default().decode::<Vec<f64>>(&stored).unwrap(),
        vec![1.5; 100]
    );
    assert!(JsonZlib::default().decode::<Vec<f64>>(&stored).is_err());
    // Two memoizers with different codecs over one store don't misread each
    // other: a value in the wrong format is a miss, then overwritten.
    let cross = Memoizer::builder(store).namespace("b").build();
    let runs = AtomicUsize::new(0);
    let v = cross.call_blocking(&args, || {
        runs.fetch_add(1, Ordering::SeqCst);
        (1u8, "two".to_owned())
    });
    assert_eq!(v, (1, "two".to_owned()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_breaker_stops_calling_a_dead_store_and_logs_each_transition_once() {
    let store = Arc::new(FailingStore::default());
    let memo = Memoizer::builder(store.clone())
        .namespace("dead")
        .circuit_breaker(Some(
            BreakerPolicy::new()
                .failure_threshold(5)
                .cool_down(Duration::from_secs(3600)),
        ))
        .build();
    let (events, _guard) = support::logs::capture();
    for i in 0..50u32 {
        assert_eq!(
            memo.call(&Args::new().arg(&i), || async move { i + 1 })
                .await,
            i + 1
        );
    }
    assert_eq!(
        store.calls(),
        5,
        "the store was called after the breaker opened"
    );
    let stats = memo.stats();
    assert_eq!(stats.breaker, BreakerState::Open);
    assert_eq!(stats.store_errors, 5);
    assert_eq!(stats.skipped_by_breaker, 45);
    assert_eq!(stats.misses, 50);
    let events = events.all();
    let opened = events
        .iter()
        .filter(|e| {
            e.field("message")
                .is_some_and(|m| m.contains("circuit breaker open"))
        })
        .count();
    assert_eq!(opened, 1, "{events:#?}");
    assert_eq!(
        events.len(),
        6,
        "5 failed reads and one transition: {events:#?}"
    );
}

/// A store that never answers, as a paused server.
struct Stalled;

impl memocache::store::Backend for Stalled {
    fn backend(&self) -> &'static str {
        "stalled"
    }
}

#[memocache::store::async_trait]
impl Store for Stalled {
    async fn read(
        &self,
        _: &str,
        _: &memocache::store::ReadOptions,
    ) -> memocache::Result<Option<memocache::store::Entry>> {
        std::future::pending().await
    }
    async fn write(
        &self,
        _: &str,
        _: memocache::store::Bytes,
        _: &memocache::store::WriteOptions,
    ) -> memocache::Result<()> {
        std::future::pending().await
    }
    async fn remove(
        &self,
        _: &str,
        _: &memocache::store::RemoveOptions,
    ) -> memocache::Result<bool> {
        std::future::pending().await
    }
    async fn delete_matching(&self, _: &memocache::key::KeyMatch) -> memocache::Result<u64> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_stalled_store_costs_one_timeout_per_call_until_the_breaker_opens() {
    let memo = Memoizer::builder(Stalled)
        .op_timeout(Some(Duration::from_millis(20)))
        .build();
    for i in 0..20u32 {
        assert_eq!(
            memo.call(&Args::new().arg(&i), || async move { i }).await,
            i
        );
    }
    memo.flush().await;
    let stats = memo.stats();
    assert_eq!(stats.timeouts, 5);
    assert_eq!(stats.skipped_by_breaker, 15);
    assert_eq!(stats.breaker, BreakerState::Open);
}

// On paused time, the leader's 100 ms pass only once every other caller
// waits: the 19 merges do not depend on the machine's speed.
#[tokio::test(start_paused = true)]
async fn single_flight_merges_concurrent_callers_and_can_be_turned_off() {
    for single_flight in [true, false] {
        let memo = Memoizer::builder(MemoryStore::new())
            .namespace("flight")
            .single_flight(single_flight)
            .build();
        let runs = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (memo, runs, barrier) = (memo.clone(), runs.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    memo.call(&Args::new().arg(&1), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        7
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        let stats = memo.stats();
        if single_flight {
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert_eq!(stats.merged, 19);
        } else {
            assert_eq!(stats.merged, 0);
            assert!(runs.load(Ordering::SeqCst) > 1);
        }
    }
}

#[tokio::test]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("cancel")
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (memo, runs) = (memo.clone(), runs.clone());
        tokio::spawn(async move {
            memo.call(&Args::new().arg(&1), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<u32>().await
            })
            .await
        })
    };
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = {
        let (memo, runs) = (memo.clone(), runs.clone());
        tokio::spawn(async move {
            memo.call(&Args::new().arg(&1), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                3
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    leader.abort();
    assert_eq!(waiter.await.unwrap(), 3);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_panicking_leader_hands_over_to_a_waiter() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("panic")
        .build();
    let started = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (memo, started) = (memo.clone(), started.clone());
        tokio::spawn(async move {
            memo.call::<u32, _, _>(&Args::new().arg(&1), || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("the computation panicked")
            })
            .await
        })
    };
    started.notified().await;
    let waiter = {
        let memo = memo.clone();
        tokio::spawn(async move { memo.call(&Args::new().arg(&1), || async { 4u32 }).await })
    };
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(waiter.await.unwrap(), 4);
}

/// Counts the executions of a computation.
fn counted<T>(runs: &AtomicUsize, value: T) -> T {
    runs.fetch_add(1, Ordering::SeqCst);
    value
}

#[test]
fn cache_if_caches_only_the_results_it_accepts() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("cache-if")
        .cache_if(|found: &Vec<u32>| !found.is_empty())
        .build();
    let runs = AtomicUsize::new(0);
    let empty = Args::new().kwarg("q", &"nothing");
    for _ in 0..2 {
        let found: Vec<u32> = memo.call_blocking(&empty, || counted(&runs, vec![]));
        assert!(found.is_empty());
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a rejected result was cached"
    );
    let stored = BlockingStore::get(memo.store(), &memo.key(&empty).unwrap()).unwrap();
    assert!(stored.is_none(), "a rejected result was written");

    let some = Args::new().kwarg("q", &"something");
    for _ in 0..2 {
        let found: Vec<u32> = memo.call_blocking(&some, || counted(&runs, vec![7]));
        assert_eq!(found, [7]);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "an accepted result was not cached"
    );

    // try_call: the rule sees the Ok value.
    let failing = Args::new().kwarg("q", &"ok but empty");
    for _ in 0..2 {
        let found: Result<Vec<u32>, String> =
            memo.try_call_blocking(&failing, || Ok(counted(&runs, vec![])));
        assert_eq!(found, Ok(vec![]));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 5);

    // Results of another type are cached as without a rule.
    let other = Args::new().kwarg("q", &"a string");
    for _ in 0..2 {
        let name: String = memo.call_blocking(&other, || counted(&runs, String::new()));
        assert_eq!(name, "");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn expire_with_gives_each_result_its_own_expiry() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("expire-with")
        .expire(Duration::from_secs(3600))
        .write_behind(false)
        .expire_with(|orders: &Vec<u32>| orders.is_empty().then(|| Duration::from_secs(5)))
        .build();
    let ttl = |args: &Args| {
        let key = memo.key(args).unwrap();
        match BlockingStore::ttl(memo.store(), &key).unwrap() {
            KeyTtl::Expires(left) => left,
            other => panic!("{other:?}"),
        }
    };
    let empty = Args::new().kwarg("user", &1);
    let none: Vec<u32> = memo.call(&empty, || async { vec![] }).await;
    assert!(none.is_empty());
    assert!(ttl(&empty) <= Duration::from_secs(5), "{:?}", ttl(&empty));
    let full = Args::new().kwarg("user", &2);
    let some: Vec<u32> = memo.call(&full, || async { vec![1, 2] }).await;
    assert_eq!(some, [1, 2]);
    assert!(ttl(&full) > Duration::from_secs(3000), "{:?}", ttl(&full));
}

#[tokio::test]
async fn get_data_reads_what_cache_data_wrote() {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone()).namespace("data").build();
    let written = memo.cache_data("data:report", vec![3_u32, 4]).await;
    assert_eq!(written, [3, 4]);
    assert_eq!(
        memo.get_data::<Vec<u32>>("data:report").await,
        Some(vec![3, 4])
    );
    assert_eq!(
        memo.get_data_blocking::<Vec<u32>>("data:report"),
        Some(vec![3, 4])
    );
    assert_eq!(memo.get_data::<Vec<u32>>("data:absent").await, None);
    assert_eq!(
        memo.get_data::<String>("data:report").await,
        None,
        "a value of another shape is none"
    );
    // The reference-style functions, over the store itself.
    cache_data("free", "data:free", store.clone(), None);
    assert_eq!(
        memocache::get_data::<String, _>("data:free", store.clone()),
        Some("free".to_owned())
    );
    assert_eq!(
        memocache::aget_data::<String, _>("data:free", store).await,
        Some("free".to_owned())
    );
}

/// A `Write` into a shared buffer, for a plain `fmt` subscriber's output.
#[derive(Clone, Default)]
struct Output(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_plain_fmt_subscriber_at_memocache_debug_prints_each_call() {
    let output = Output::default();
    let writer = output.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("memocache=debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("logged")
        .build();
    let args = Args::new().kwarg("user_id", &7);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..2 {
            let name: String = memo.call_blocking(&args, || "Ada".to_owned());
            assert_eq!(name, "Ada");
        }
    });
    let printed = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = printed.lines().filter(|l| l.contains(" call ")).collect();
    assert_eq!(lines.len(), 2, "{printed}");
    let key = memo.key(&args).unwrap();
    for (line, outcome) in lines.iter().zip(["miss", "hit"]) {
        assert!(line.contains("DEBUG"), "{line}");
        assert!(line.contains("namespace=\"logged\""), "{line}");
        assert!(line.contains(&format!("key=\"{key}\"")), "{line}");
        assert!(line.contains(&format!("outcome=\"{outcome}\"")), "{line}");
        assert!(line.contains("micros="), "{line}");
    }
}
