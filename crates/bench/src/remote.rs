//! The Redis scenarios: memocache's hit and miss paths against a raw
//! redis-rs GET of the same stored bytes, the blocking store against a
//! plain blocking connection, and the peers (the `cached` crate, fred), all
//! on the same server, keys and values, interleaved round by round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memocache::codec::{Codec, JsonZlib, MsgpackPlain};
use memocache::key::KeyHasher;
use memocache::redis::redis_rs::aio::{ConnectionManager, ConnectionManagerConfig};
use memocache::redis::redis_rs::{self as redis, Client};
use memocache::store::Store;
use memocache::{
    Args, FredStore, LocalTier, Memoizer, RedisBlockingStore, RedisConfig, RedisStore, Stats,
};
use serde::Serialize;

use crate::peer;
use crate::sampling::{
    AsyncOp, BlockingOp, Latency, Throughput, async_latency, async_throughput, blocking_latency,
    round_order,
};
use crate::schedule::Schedule;
use crate::value::{ORDER_ID, Order, Size};

/// The namespace of the hit scenarios' keys (the reference's `namespace`).
pub const NAMESPACE: &str = "bench:order";
/// The namespace of the MessagePack-codec hit scenario's keys.
const MSGPACK_NAMESPACE: &str = "bench:order:msgpack";
/// The namespace of the miss scenarios' keys.
const MISS_NAMESPACE: &str = "bench:miss";
/// How long miss-path entries live: long enough for the run, short enough
/// that a `REDIS_URL` server is not left holding them.
const MISS_EXPIRE: Duration = Duration::from_secs(300);

/// The most concurrent callers of a scenario; each has a key of its own.
pub const MAX_CALLERS: usize = 64;
/// The concurrencies of the throughput scenarios.
pub const CONCURRENCIES: [usize; 3] = [1, 16, 64];

/// Subject names, as they appear in the tables and `results.json`.
pub mod subject {
    /// The floor: a raw redis-rs GET of the stored bytes, no decoding.
    pub const RAW: &str = "raw redis-rs GET";
    /// The floor with the decoding every reader of these bytes must do: a
    /// raw GET, then the same codec's decode.
    pub const RAW_DECODE: &str = "raw GET + decode";
    /// memocache's `Memoizer::call` over `RedisStore`.
    pub const MEMOCACHE: &str = "memocache";
    /// The `cached` crate with its Redis client-side caching on.
    pub const CACHED_CLIENT_SIDE: &str = "cached crate, client-side caching";
    /// The same with a local tier over a tracked `RedisStore`
    /// (`client_tracking`): hits on decoded copies, kept true by the
    /// server's invalidations.
    pub const TIER: &str = "memocache, local tier";
    /// memocache over fred (`FredStore` from a `RedisConfig`: one multiplexed connection).
    pub const FRED: &str = "memocache over fred";
    /// memocache with a MessagePack codec (uncompressed, like the
    /// `cached` crate's values): what the codec costs.
    pub const MSGPACK: &str = "memocache, MessagePack codec";
    /// The `cached` crate's `AsyncRedisCache`.
    pub const CACHED: &str = "cached crate";
    /// memocache with fail-safe and refresh-ahead on, through `call_owned`
    /// (entries far from their refresh: what the settings cost a hit).
    pub const FAIL_SAFE: &str = "memocache, fail-safe + refresh-ahead";
    /// The same over the local tier.
    pub const TIER_FAIL_SAFE: &str = "memocache, local tier, fail-safe + refresh-ahead";
    /// memocache with every caller on one key (single-flight merges reads).
    pub const HOT_KEY: &str = "memocache, one hot key";
    /// A raw blocking redis-rs connection's GET.
    pub const RAW_SYNC: &str = "raw redis-rs blocking GET";
    /// `Memoizer::call_blocking` over `RedisBlockingStore`.
    pub const MEMOCACHE_BLOCKING: &str = "memocache blocking";
    /// A raw miss: GET, encode, SET with expiry.
    pub const RAW_MISS: &str = "raw GET + encode + SET";
    /// memocache's miss, waiting for its write (the default).
    pub const MISS_WRITE_THROUGH: &str = "memocache miss (write-through, default)";
    /// memocache's miss with write-behind on.
    pub const MISS_WRITE_BEHIND: &str = "memocache miss (write-behind)";
}

/// The arguments of `caller`'s call on `size` values: the Python call
/// `f(order_id=caller, size="1k")`.
pub fn args(caller: usize, size: Size) -> Args {
    Args::new()
        .kwarg("order_id", &(caller as u64))
        .kwarg("size", &size.label())
}

/// Connections and memoizers on the server under test.
pub struct Remote {
    raw: ConnectionManager,
    client: Client,
    memo: Memoizer<RedisStore>,
    memo_tier: Memoizer<RedisStore>,
    memo_fail_safe: Memoizer<RedisStore>,
    memo_tier_fail_safe: Memoizer<RedisStore>,
    memo_msgpack: Memoizer<RedisStore, MsgpackPlain>,
    memo_blocking: Memoizer<RedisBlockingStore>,
    fred: Result<Memoizer<FredStore>, String>,
    miss_through: Memoizer<RedisStore>,
    miss_behind: Memoizer<RedisStore>,
    /// Failed raw or peer operations (memocache counts its own).
    errors: Arc<AtomicU64>,
    /// The next distinct miss key.
    miss_counter: Arc<AtomicU64>,
}

/// What the hit scenarios on one value found.
#[derive(Debug, Clone, Serialize)]
pub struct HitResults {
    /// Sequential latency at concurrency 1, by subject.
    pub latency_c1: BTreeMap<String, Latency>,
    /// Throughput by concurrency (`"c1"`, `"c16"`, `"c64"`), then subject.
    pub throughput: BTreeMap<String, BTreeMap<String, Throughput>>,
}

impl Remote {
    /// Connects every client to `url` with memocache's default settings;
    /// the raw connection manager gets the same settings `RedisStore` gives
    /// its own.
    pub async fn connect(url: &str) -> Remote {
        let config = RedisConfig::new().url(url);
        let client = Client::open(url).expect("a valid redis url");
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.settings().socket_timeout()))
            .set_connection_timeout(Some(config.settings().connect_timeout()))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let raw = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .expect("cannot connect the raw redis-rs client");
        let store = RedisStore::connect(&config)
            .await
            .expect("cannot connect RedisStore");
        let memo = Memoizer::builder(store.clone())
            .namespace(NAMESPACE)
            .expire_secs(3600)
            .build();
        let tracked = RedisStore::connect(&config.clone().client_tracking(true))
            .await
            .expect("cannot connect a tracked RedisStore");
        let memo_tier = Memoizer::builder(tracked.clone())
            .namespace(NAMESPACE)
            .expire_secs(3600)
            .local_tier(LocalTier::bytes(64 << 20))
            .build();
        let sick_source_ready = |builder: memocache::MemoizerBuilder<RedisStore>| {
            builder
                .namespace(NAMESPACE)
                .expire_secs(3600)
                .fail_safe(Duration::from_secs(600))
                .refresh_ahead(0.9)
        };
        let memo_fail_safe = sick_source_ready(Memoizer::builder(store.clone())).build();
        let memo_tier_fail_safe = sick_source_ready(Memoizer::builder(tracked))
            .local_tier(LocalTier::bytes(64 << 20))
            .build();
        let memo_msgpack = Memoizer::builder(store.clone())
            .namespace(MSGPACK_NAMESPACE)
            .expire_secs(3600)
            .codec(MsgpackPlain::default())
            .build();
        let blocking = RedisBlockingStore::connect(&config).expect("cannot connect the pool");
        let memo_blocking = Memoizer::builder(blocking)
            .namespace(NAMESPACE)
            .expire_secs(3600)
            .build();
        let fred = FredStore::connect(&config)
            .await
            .map(|store| {
                Memoizer::builder(store)
                    .namespace(NAMESPACE)
                    .expire_secs(3600)
                    .build()
            })
            .map_err(|e| e.to_string());
        let miss_memo = |write_behind: bool| {
            Memoizer::builder(store.clone())
                .namespace(MISS_NAMESPACE)
                .expire(MISS_EXPIRE)
                .write_behind(write_behind)
                .build()
        };
        peer::connect_to(url);
        Remote {
            raw,
            client,
            memo,
            memo_tier,
            memo_fail_safe,
            memo_tier_fail_safe,
            memo_msgpack,
            memo_blocking,
            fred,
            miss_through: miss_memo(false),
            miss_behind: miss_memo(true),
            errors: Arc::default(),
            miss_counter: Arc::default(),
        }
    }

    /// Why memocache over fred is not measured in this run, if it is not.
    pub fn fred_missing(&self) -> Option<&str> {
        self.fred.as_ref().err().map(String::as_str)
    }

    /// What the async memoizer of the hit scenarios has done so far.
    pub fn memocache_stats(&self) -> Stats {
        self.memo.stats()
    }

    /// What the blocking memoizer has done so far.
    pub fn blocking_stats(&self) -> Stats {
        self.memo_blocking.stats()
    }

    /// The key of caller 0's call on `size` values.
    pub fn memocache_key(&self, size: Size) -> String {
        self.memo.key(&args(0, size)).expect("a key")
    }

    /// memocache's async hit on `size` values (each caller on its own key).
    pub fn memocache_hit_op(&self, size: Size) -> AsyncOp {
        memo_hit_op(&self.memo, size, Hit::Own)
    }

    /// memocache's blocking hit on caller 0's key of `size` values.
    pub fn memocache_blocking_op(&self, size: Size) -> BlockingOp {
        let memo = self.memo_blocking.clone();
        let fallback = Order::new(size);
        Box::new(move || {
            let order: Order = memo.call_blocking(&args(0, size), || fallback.clone());
            debug_assert_eq!(order.id, ORDER_ID);
            std::hint::black_box(order);
        })
    }

    /// Failed raw and peer operations so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Stores `size`'s value under every caller's key with memocache's own
    /// `cache_data` (so the raw GETs read exactly what memocache hits
    /// decode), checks the bytes are the codec's, and primes the peer's
    /// entries; answers the stored length.
    pub async fn seed(&self, size: Size) -> usize {
        let order = Order::new(size);
        let expected = JsonZlib::default()
            .encode(&order)
            .expect("the order encodes");
        let mut raw = self.raw.clone();
        for caller in 0..MAX_CALLERS {
            let key = self.memo.key(&args(caller, size)).expect("a key");
            self.memo.cache_data(&key, order.clone()).await;
            let stored: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .expect("GET the seeded key");
            assert_eq!(
                stored.as_deref(),
                Some(&expected[..]),
                "the stored bytes are not the codec's"
            );
            for prime in [
                peer::cached_order(peer::id(size, caller)).await,
                peer::cached_order_client_side(peer::id(size, caller)).await,
            ] {
                if let Err(e) = prime {
                    panic!("cannot prime the cached crate's entry: {}", e.0);
                }
            }
        }
        expected.len()
    }

    /// The async subjects of the hit scenarios, baseline first.
    fn hit_subjects(&self, size: Size, with_hot_key: bool) -> Vec<(&'static str, AsyncOp)> {
        let mut subjects = vec![
            (subject::RAW, self.raw_get_op(size, false)),
            (subject::RAW_DECODE, self.raw_get_op(size, true)),
            (subject::MEMOCACHE, memo_hit_op(&self.memo, size, Hit::Own)),
            (subject::TIER, memo_hit_op(&self.memo_tier, size, Hit::Own)),
            (
                subject::FAIL_SAFE,
                memo_hit_op(&self.memo_fail_safe, size, Hit::Owned),
            ),
            (
                subject::TIER_FAIL_SAFE,
                memo_hit_op(&self.memo_tier_fail_safe, size, Hit::Owned),
            ),
        ];
        subjects.push((
            subject::MSGPACK,
            memo_hit_op(&self.memo_msgpack, size, Hit::Own),
        ));
        if let Ok(fred) = &self.fred {
            subjects.push((subject::FRED, memo_hit_op(fred, size, Hit::Own)));
        }
        subjects.push((subject::CACHED, self.cached_op(size, false)));
        subjects.push((subject::CACHED_CLIENT_SIDE, self.cached_op(size, true)));
        if with_hot_key {
            subjects.push((subject::HOT_KEY, memo_hit_op(&self.memo, size, Hit::HotKey)));
        }
        subjects
    }

    /// A raw GET of caller's key; with `decode`, followed by the codec's
    /// decode of the bytes.
    fn raw_get_op(&self, size: Size, decode: bool) -> AsyncOp {
        let keys: Arc<Vec<String>> = Arc::new(
            (0..MAX_CALLERS)
                .map(|caller| self.memo.key(&args(caller, size)).expect("a key"))
                .collect(),
        );
        let connection = self.raw.clone();
        let errors = Arc::clone(&self.errors);
        Arc::new(move |caller| {
            let mut connection = connection.clone();
            let keys = Arc::clone(&keys);
            let errors = Arc::clone(&errors);
            Box::pin(async move {
                let reply: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                    .arg(&keys[caller])
                    .query_async(&mut connection)
                    .await;
                match reply {
                    Ok(Some(bytes)) if decode => {
                        match JsonZlib::default().decode::<Order>(&bytes) {
                            Ok(order) => {
                                std::hint::black_box(order);
                            }
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok(Some(bytes)) => {
                        std::hint::black_box(bytes);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
    }

    /// The `cached` crate's hit on caller's id, with its client-side
    /// caching on or off.
    fn cached_op(&self, size: Size, client_side: bool) -> AsyncOp {
        let errors = Arc::clone(&self.errors);
        Arc::new(move |caller| {
            let errors = Arc::clone(&errors);
            Box::pin(async move {
                let id = peer::id(size, caller);
                let order = if client_side {
                    peer::cached_order_client_side(id).await
                } else {
                    peer::cached_order(id).await
                };
                match order {
                    Ok(order) => {
                        debug_assert_eq!(order.id, ORDER_ID);
                        std::hint::black_box(order);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
    }

    /// Hit latency at concurrency 1 and throughput at each concurrency, every
    /// subject in every round, in rotating order.
    /// One subject's hits alone at concurrency 64, for a profile: the
    /// 1 KiB value for `seconds`; answers hits per second.
    pub async fn profile(&self, subject: &str, seconds: u64) -> f64 {
        let subjects = self.hit_subjects(Size::Small, false);
        let (_, op) = subjects
            .iter()
            .find(|(name, _)| *name == subject)
            .unwrap_or_else(|| panic!("no subject {subject:?}"));
        async_throughput(op, MAX_CALLERS, Duration::from_secs(seconds)).await
    }

    pub async fn hits(&self, size: Size, schedule: &Schedule) -> HitResults {
        let subjects = self.hit_subjects(size, false);
        let samples_per_batch = schedule.latency_samples(size);
        for (_, op) in &subjects {
            async_latency(op, samples_per_batch / 4).await;
        }
        let mut samples: Vec<Vec<Vec<u64>>> = vec![Vec::new(); subjects.len()];
        for round in 0..schedule.rounds {
            for s in round_order(round, subjects.len()) {
                samples[s].push(async_latency(&subjects[s].1, samples_per_batch).await);
            }
        }
        let latency_c1 = subjects
            .iter()
            .zip(samples)
            .map(|((name, _), rounds)| ((*name).to_owned(), Latency::from_rounds(rounds)))
            .collect();

        let mut throughput = BTreeMap::new();
        for concurrency in CONCURRENCIES {
            let subjects = self.hit_subjects(size, concurrency == MAX_CALLERS);
            for (_, op) in &subjects {
                async_throughput(op, concurrency, schedule.warm_up).await;
            }
            let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
            for round in 0..schedule.rounds {
                for s in round_order(round, subjects.len()) {
                    rounds[s]
                        .push(async_throughput(&subjects[s].1, concurrency, schedule.batch).await);
                }
            }
            let by_subject = subjects
                .iter()
                .zip(rounds)
                .map(|((name, _), rounds)| ((*name).to_owned(), Throughput::from_rounds(rounds)))
                .collect();
            throughput.insert(format!("c{concurrency}"), by_subject);
        }
        HitResults {
            latency_c1,
            throughput,
        }
    }

    /// Sequential hits on the blocking paths: a raw blocking connection
    /// (with the pool's socket timeouts) against `call_blocking` over
    /// `RedisBlockingStore`; runs on the calling thread, outside any runtime.
    pub fn blocking_hits(&self, size: Size, schedule: &Schedule) -> BTreeMap<String, Latency> {
        let config = RedisConfig::default();
        let key = self.memo.key(&args(0, size)).expect("a key");
        let mut connection = self.client.get_connection().expect("a blocking connection");
        connection
            .set_read_timeout(Some(config.settings().socket_timeout()))
            .and_then(|()| connection.set_write_timeout(Some(config.settings().socket_timeout())))
            .expect("socket timeouts");
        let errors = Arc::clone(&self.errors);
        let raw: BlockingOp = Box::new(move || {
            match redis::cmd("GET")
                .arg(&key)
                .query::<Option<Vec<u8>>>(&mut connection)
            {
                Ok(Some(bytes)) => {
                    std::hint::black_box(bytes);
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        run_blocking_rounds(
            vec![
                (subject::RAW_SYNC, raw),
                (
                    subject::MEMOCACHE_BLOCKING,
                    self.memocache_blocking_op(size),
                ),
            ],
            schedule.latency_samples(size),
            schedule.rounds,
        )
    }

    /// The miss path on distinct keys: a raw GET + encode + SET against
    /// memocache's miss (GET, compute, encode, SET), waiting for the write
    /// (the default) and with write-behind.
    pub async fn misses(&self, size: Size, schedule: &Schedule) -> BTreeMap<String, Latency> {
        let order = Arc::new(Order::new(size));
        let subjects: Vec<(&str, AsyncOp, Option<&Memoizer<RedisStore>>)> = vec![
            (subject::RAW_MISS, self.raw_miss_op(size, &order), None),
            (
                subject::MISS_WRITE_THROUGH,
                self.memo_miss_op(&self.miss_through, size, &order),
                Some(&self.miss_through),
            ),
            (
                subject::MISS_WRITE_BEHIND,
                self.memo_miss_op(&self.miss_behind, size, &order),
                Some(&self.miss_behind),
            ),
        ];
        let samples_per_batch = schedule.miss_samples(size);
        for (_, op, memo) in &subjects {
            async_latency(op, samples_per_batch / 4).await;
            if let Some(memo) = memo {
                memo.flush().await;
            }
        }
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
        for round in 0..schedule.rounds {
            for s in round_order(round, subjects.len()) {
                let (_, op, memo) = &subjects[s];
                samples[s].extend(async_latency(op, samples_per_batch).await);
                // Pending background writes finish outside the timed batch.
                if let Some(memo) = memo {
                    memo.flush().await;
                }
            }
        }
        subjects
            .iter()
            .zip(samples)
            .map(|((name, _, _), samples)| ((*name).to_owned(), Latency::from_nanos(samples)))
            .collect()
    }

    fn raw_miss_op(&self, size: Size, order: &Arc<Order>) -> AsyncOp {
        let connection = self.raw.clone();
        let counter = Arc::clone(&self.miss_counter);
        let errors = Arc::clone(&self.errors);
        let order = Arc::clone(order);
        let expire_ms = MISS_EXPIRE.as_millis() as u64;
        Arc::new(move |_| {
            let mut connection = connection.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let errors = Arc::clone(&errors);
            let order = Arc::clone(&order);
            Box::pin(async move {
                let key = format!("{MISS_NAMESPACE}:raw:{}:{n}", size.label());
                let found: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await;
                let bytes = JsonZlib::default().encode(&*order).expect("encodes");
                let set: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(expire_ms)
                    .query_async(&mut connection)
                    .await;
                if !matches!(found, Ok(None)) || set.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
    }

    fn memo_miss_op(&self, memo: &Memoizer<RedisStore>, size: Size, order: &Arc<Order>) -> AsyncOp {
        let memo = memo.clone();
        let counter = Arc::clone(&self.miss_counter);
        let order = Arc::clone(order);
        Arc::new(move |_| {
            let memo = memo.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let order = Arc::clone(&order);
            Box::pin(async move {
                let args = args(n as usize, size);
                let value: Order = memo.call(&args, || async move { (*order).clone() }).await;
                std::hint::black_box(value);
            })
        })
    }
}

/// memocache's hit: build the call's arguments, look the key up, decode;
/// called as `hit` says.
fn memo_hit_op<S, C, H>(memo: &Memoizer<S, C, H>, size: Size, hit: Hit) -> AsyncOp
where
    S: Store + 'static,
    C: Codec,
    H: KeyHasher,
{
    let memo = memo.clone();
    let fallback = Arc::new(Order::new(size));
    Arc::new(move |caller| {
        let memo = memo.clone();
        let fallback = Arc::clone(&fallback);
        let caller = if matches!(hit, Hit::HotKey) {
            0
        } else {
            caller
        };
        Box::pin(async move {
            let compute = move || async move { (*fallback).clone() };
            let order: Order = if matches!(hit, Hit::Owned) {
                memo.call_owned(&args(caller, size), compute).await
            } else {
                memo.call(&args(caller, size), compute).await
            };
            debug_assert_eq!(order.id, ORDER_ID);
            std::hint::black_box(order);
        })
    })
}

/// How a hit scenario calls.
#[derive(Clone, Copy)]
enum Hit {
    /// `call`, each caller on its own key.
    Own,
    /// `call`, every caller on one key.
    HotKey,
    /// `call_owned` (what refresh-ahead needs), each caller on its own key.
    Owned,
}

/// Sequential batches of each blocking subject, in rotating order.
fn run_blocking_rounds(
    mut subjects: Vec<(&'static str, BlockingOp)>,
    samples_per_batch: usize,
    rounds: usize,
) -> BTreeMap<String, Latency> {
    for (_, op) in &mut subjects {
        blocking_latency(op, samples_per_batch / 4);
    }
    let mut samples: Vec<Vec<Vec<u64>>> = vec![Vec::new(); subjects.len()];
    for round in 0..rounds {
        for s in round_order(round, subjects.len()) {
            samples[s].push(blocking_latency(&mut subjects[s].1, samples_per_batch));
        }
    }
    subjects
        .iter()
        .zip(samples)
        .map(|((name, _), rounds)| ((*name).to_owned(), Latency::from_rounds(rounds)))
        .collect()
}
