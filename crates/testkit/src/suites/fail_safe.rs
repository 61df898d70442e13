//! Fail-safe on a real server, on either path: a computation that fails
//! serves the last good value of its key.
//!
//! - Under load: 32 callers over 100 keys seen before, the source failing
//!   while the entries expire (a second after their write), with a local
//!   tier and without: no error reaches a caller, every value served is
//!   its key's last good value, and the source runs once per key and
//!   throttle period.
//! - A process started during the outage (a new connection and memoizer,
//!   no tier, nothing throttled): it serves the stale copies another
//!   memoizer wrote beside its entries, once those are gone (removed with
//!   `DEL`, which a memoizer cannot tell from their expiry).
//! - The entries keep their life: an entry's `PTTL` is at most `expire`
//!   (what a Python service sharing the namespace sees), its stale copy's
//!   is longer, an entry without expiry has no stale copy, and
//!   `invalidate` and `clear_namespace` leave no stale copy behind.
//!
//! Nothing waits for a margin: the load calls until every key was served
//! stale and called again after that, and gives up only after a minute (a
//! broken implementation); how long it took is printed, never asserted.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, BlockingStore, DEFAULT_FAIL_SAFE_THROTTLE, LocalTier, Memoizer, MemoizerBuilder, Stats,
    Store, stale_key,
};
use memocache_redis_plumbing::config::RedisConfig;

use super::{Client, connect_blocking};
use crate::{RedisServer, redis_cli};

/// How many keys each check calls.
const KEYS: usize = 100;

/// The index of the call without arguments, whose key is the namespace
/// itself.
const BARE: usize = KEYS;

/// How many callers call at once under load.
const CALLERS: usize = 32;

/// The entries' life under load: short, so that they expire during the
/// outage.
const SHORT_EXPIRE: Duration = Duration::from_secs(1);

/// The entries' life where a check plays their expiry with `DEL` or reads
/// their `PTTL`: nothing expires during the check.
const EXPIRE: Duration = Duration::from_secs(3600);

/// How long after its expiry a value may be served stale.
const MAX_STALE: Duration = Duration::from_secs(600);

/// The stores' socket timeout and the memoizers' operation timeout:
/// generous, so that a slow machine is no store outage (a store read
/// that times out is a miss, which the check would take for a wrong
/// stale value).
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the load may take to serve every key stale before the check
/// fails: a bound on a broken implementation, far beyond the second or two
/// it takes.
const GIVE_UP: Duration = Duration::from_secs(60);

/// What the failing source says.
const DOWN: &str = "the database is down";

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT)
}

/// A memoizer with fail-safe, in `namespace`, with `expire`.
fn builder<S>(store: S, namespace: &str, expire: Duration) -> MemoizerBuilder<S> {
    Memoizer::builder(store)
        .namespace(namespace)
        .expire(expire)
        .fail_safe(MAX_STALE)
        .op_timeout(Some(OP_TIMEOUT))
}

/// The local tier of the checks with one: big enough for every key.
fn tier() -> LocalTier {
    LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600))
}

/// The arguments of call `k`: the key's number, or none for [`BARE`].
fn args(k: usize) -> Args {
    if k == BARE {
        Args::new()
    } else {
        Args::new().arg(&k)
    }
}

/// Key `k`'s good value in `generation`.
fn value(k: usize, generation: u64) -> u64 {
    k as u64 * 1000 + generation
}

/// Where the values come from: each key's value of the current generation,
/// or, once failing, an error (counted per key).
struct Source {
    generation: AtomicU64,
    failing: AtomicBool,
    failed: Vec<AtomicUsize>,
}

impl Source {
    /// A good source, at generation 1.
    fn new() -> Arc<Self> {
        Arc::new(Source {
            generation: AtomicU64::new(1),
            failing: AtomicBool::new(false),
            failed: (0..=BARE).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// Computes key `k`'s value.
    fn run(&self, k: usize) -> Result<u64, String> {
        if self.failing.load(Ordering::SeqCst) {
            self.failed[k].fetch_add(1, Ordering::SeqCst);
            return Err(DOWN.to_owned());
        }
        Ok(value(k, self.generation.load(Ordering::SeqCst)))
    }

    /// From now on every computation fails.
    fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// How often key `k` was computed while failing.
    fn failed(&self, k: usize) -> usize {
        self.failed[k].load(Ordering::SeqCst)
    }
}

/// The load's record: what the callers were served.
struct Outage {
    source: Arc<Source>,
    /// The generation of the last good values.
    generation: u64,
    began: Instant,
    /// Per key: the calls begun after the key's computation failed, and
    /// answered with its value.
    served_after: Vec<AtomicUsize>,
    calls: AtomicUsize,
    errors: AtomicUsize,
    wrong: AtomicUsize,
    /// The first errors and wrong values, for the failure message.
    problems: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Outage {
    /// The outage of `source` begins: its computations fail from now on.
    fn begin(source: Arc<Source>) -> Arc<Self> {
        source.fail();
        Arc::new(Outage {
            generation: source.generation.load(Ordering::SeqCst),
            source,
            began: Instant::now(),
            served_after: (0..KEYS).map(|_| AtomicUsize::new(0)).collect(),
            calls: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            wrong: AtomicUsize::new(0),
            problems: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        })
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether key `k`'s computation failed already: a call begun then
    /// must be served the stale value without computing.
    fn failed_before(&self, k: usize) -> bool {
        self.source.failed(k) > 0
    }

    /// Records what a call of key `k` got; `after` says whether it began
    /// after the key's computation failed.
    fn record(&self, k: usize, after: bool, got: Result<u64, String>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let want = value(k, self.generation);
        let problem = match got {
            Ok(served) if served == want => {
                if after {
                    self.served_after[k].fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
            Ok(served) => {
                self.wrong.fetch_add(1, Ordering::SeqCst);
                format!("key {k}: served {served}, its last good value is {want}")
            }
            Err(error) => {
                self.errors.fetch_add(1, Ordering::SeqCst);
                format!("key {k}: the error {error:?} reached the caller")
            }
        };
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if problems.len() < 10 {
            problems.push(problem);
        }
    }

    fn has_problems(&self) -> bool {
        self.errors.load(Ordering::SeqCst) + self.wrong.load(Ordering::SeqCst) > 0
    }

    /// The keys not yet served stale and then called again twice.
    fn keys_left(&self) -> usize {
        (0..KEYS)
            .filter(|&k| {
                self.source.failed(k) == 0 || self.served_after[k].load(Ordering::SeqCst) < 2
            })
            .count()
    }

    /// Waits until every key was served stale (its computation failed, and
    /// two calls begun after that were served its value), or a problem
    /// was recorded, then stops the callers. Answers how long the outage
    /// took, or why it was given up after [`GIVE_UP`].
    async fn watch(&self) -> Result<Duration, String> {
        let ended = loop {
            if self.has_problems() {
                break Ok(self.began.elapsed());
            }
            let left = self.keys_left();
            if left == 0 {
                break Ok(self.began.elapsed());
            }
            if self.began.elapsed() > GIVE_UP {
                break Err(format!(
                    "{left} of {KEYS} keys not served stale after {GIVE_UP:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.stop.store(true, Ordering::SeqCst);
        ended
    }
}

/// The keys a caller calls: xorshift, a sequence of its own per caller.
struct RandomKeys(u64);

impl RandomKeys {
    fn new(caller: usize) -> Self {
        RandomKeys((0x9e37_79b9_7f4a_7c15 ^ (caller as u64 + 1).wrapping_mul(0x2545_f491)).max(1))
    }

    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % KEYS as u64) as usize
    }
}

/// What the checks need of a memoizer, on either path.
trait Calls: Send + Sync + 'static {
    /// Calls key `k`, computed by `source` on a miss.
    async fn call(&self, k: usize, source: &Arc<Source>) -> Result<u64, String>;
    /// Recomputes key `k` with `source`, and writes it.
    async fn refresh(&self, k: usize, source: &Arc<Source>) -> Result<u64, String>;
    /// Invalidates key `k`; whether there was an entry.
    async fn invalidate(&self, k: usize) -> bool;
    /// Clears the namespace; whether the store answered.
    async fn clear(&self) -> bool;
    /// Runs [`CALLERS`] callers of random keys until `outage` stops them:
    /// tokio tasks on the async path, threads on the blocking path.
    fn callers(&self, outage: &Arc<Outage>) -> impl Future<Output = ()> + Send;
    fn key(&self, k: usize) -> String;
    fn stats(&self) -> Stats;
}

impl<S: Store + 'static> Calls for Memoizer<S> {
    async fn call(&self, k: usize, source: &Arc<Source>) -> Result<u64, String> {
        self.try_call(&args(k), || async { source.run(k) }).await
    }

    async fn refresh(&self, k: usize, source: &Arc<Source>) -> Result<u64, String> {
        self.try_refresh(&args(k), || async { source.run(k) }).await
    }

    async fn invalidate(&self, k: usize) -> bool {
        Memoizer::invalidate(self, &args(k))
            .await
            .expect("invalidate")
    }

    async fn clear(&self) -> bool {
        self.clear_namespace().await.is_ok()
    }

    fn callers(&self, outage: &Arc<Outage>) -> impl Future<Output = ()> + Send {
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (memo, outage) = (self.clone(), Arc::clone(outage));
                tokio::spawn(async move {
                    let mut keys = RandomKeys::new(caller);
                    while !outage.stopped() {
                        let k = keys.next();
                        let after = outage.failed_before(k);
                        let source = &outage.source;
                        let got = memo.try_call(&args(k), || async { source.run(k) }).await;
                        outage.record(k, after, got);
                    }
                })
            })
            .collect();
        async move {
            for caller in callers {
                caller.await.expect("a caller panicked");
            }
        }
    }

    fn key(&self, k: usize) -> String {
        Memoizer::key(self, &args(k)).expect("a key")
    }

    fn stats(&self) -> Stats {
        Memoizer::stats(self)
    }
}

/// A blocking memoizer, its calls made on a blocking thread.
struct OnThread<S>(Memoizer<S>);

impl<S: BlockingStore + 'static> Calls for OnThread<S> {
    async fn call(&self, k: usize, source: &Arc<Source>) -> Result<u64, String> {
        let (memo, source) = (self.0.clone(), Arc::clone(source));
        tokio::task::spawn_blocking(move || memo.try_call_blocking(&args(k), || source.run(k)))
            .await
            .expect("try_call_blocking")
    }

    async fn refresh(&self, k: usize, source: &Arc<Source>) -> Result<u64, String> {
        let (memo, source) = (self.0.clone(), Arc::clone(source));
        tokio::task::spawn_blocking(move || memo.try_refresh_blocking(&args(k), || source.run(k)))
            .await
            .expect("try_refresh_blocking")
    }

    async fn invalidate(&self, k: usize) -> bool {
        let memo = self.0.clone();
        tokio::task::spawn_blocking(move || memo.invalidate_blocking(&args(k)))
            .await
            .expect("invalidate_blocking")
            .expect("invalidate")
    }

    async fn clear(&self) -> bool {
        let memo = self.0.clone();
        tokio::task::spawn_blocking(move || memo.clear_namespace_blocking().is_ok())
            .await
            .expect("clear_namespace_blocking")
    }

    fn callers(&self, outage: &Arc<Outage>) -> impl Future<Output = ()> + Send {
        let threads: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (memo, outage) = (self.0.clone(), Arc::clone(outage));
                std::thread::spawn(move || {
                    let mut keys = RandomKeys::new(caller);
                    while !outage.stopped() {
                        let k = keys.next();
                        let after = outage.failed_before(k);
                        let got = memo.try_call_blocking(&args(k), || outage.source.run(k));
                        outage.record(k, after, got);
                    }
                })
            })
            .collect();
        async move {
            tokio::task::spawn_blocking(move || {
                for thread in threads {
                    thread.join().expect("a caller panicked");
                }
            })
            .await
            .expect("the callers joined");
        }
    }

    fn key(&self, k: usize) -> String {
        self.0.key(&args(k)).expect("a key")
    }

    fn stats(&self) -> Stats {
        self.0.stats()
    }
}

/// Writes every key's value of generation 1, then of generation 2 (a
/// refresh: the last good values), reads them all back twice (a tier keeps
/// its copies), makes the source fail and runs [`CALLERS`] callers of
/// random keys until each key was served stale and called twice more.
/// Checks that no error reached a caller, that every value served was its
/// key's last good value, and that each key was computed at most once per
/// throttle period while failing.
async fn an_outage_under_load(memo: &impl Calls, label: &str) {
    let source = Source::new();
    for k in 0..KEYS {
        assert_eq!(memo.call(k, &source).await, Ok(value(k, 1)), "key {k}");
    }
    source.generation.store(2, Ordering::SeqCst);
    for k in 0..KEYS {
        assert_eq!(memo.refresh(k, &source).await, Ok(value(k, 2)), "key {k}");
    }
    for _ in 0..2 {
        for k in 0..KEYS {
            assert_eq!(memo.call(k, &source).await, Ok(value(k, 2)), "key {k}");
        }
    }
    if let Some(tier) = memo.stats().tier {
        assert!(tier.live, "{label}: the tier is off: {tier:?}");
    }

    let outage = Outage::begin(source);
    let ((), watched) = tokio::join!(memo.callers(&outage), outage.watch());
    let took = outage.began.elapsed();
    let stats = memo.stats();
    println!(
        "{label}: every key served stale {watched:?} into the outage, {} calls; {stats:?}",
        outage.calls.load(Ordering::SeqCst)
    );
    let problems = outage.problems.lock().expect("problems").clone();
    assert!(
        problems.is_empty(),
        "{label}: {} errors reached the callers and {} wrong values were served, e.g. {problems:#?}",
        outage.errors.load(Ordering::SeqCst),
        outage.wrong.load(Ordering::SeqCst)
    );
    if let Err(why) = watched {
        panic!("{label}: {why}; {stats:?}");
    }
    // Once per throttle period: the outage took far less than one, unless
    // the machine is very slow.
    let periods = took.as_nanos() / DEFAULT_FAIL_SAFE_THROTTLE.as_nanos();
    let most = usize::try_from(periods)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let failed: Vec<(usize, usize)> = (0..KEYS)
        .map(|k| (k, outage.source.failed(k)))
        .filter(|&(_, runs)| runs > most)
        .collect();
    assert!(
        failed.is_empty(),
        "{label}: {} keys computed more than {most} times in {took:?} while failing; (key, runs): \
         {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    assert!(
        stats.stale_served >= KEYS as u64,
        "{label}: each failed computation was served stale: {stats:?}"
    );
}

/// Under load, the source failing while the entries expire: with a local
/// tier (over a tracking store), then without; async path.
pub async fn a_source_failing_under_load_serves_the_last_good_values<C: Client>() {
    let server = RedisServer::start();
    let tracked = C::connect(&config(&server).client_tracking(true))
        .await
        .expect("connect the tracking store");
    let memo = builder(tracked, &unique_prefix("fail-safe:load-tier"), SHORT_EXPIRE)
        .local_tier(tier())
        .build();
    an_outage_under_load(&memo, "async, with a tier").await;

    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = builder(store, &unique_prefix("fail-safe:load"), SHORT_EXPIRE).build();
    an_outage_under_load(&memo, "async").await;
}

/// The same as
/// [`a_source_failing_under_load_serves_the_last_good_values`] on the
/// blocking path, the callers on threads of their own.
pub async fn a_source_failing_under_blocking_load_serves_the_last_good_values<C: Client>() {
    let server = RedisServer::start();
    let tracked = connect_blocking::<C>(&config(&server).client_tracking(true))
        .await
        .expect("connect the tracking store");
    let memo = builder(
        tracked,
        &unique_prefix("fail-safe:blocking-load-tier"),
        SHORT_EXPIRE,
    )
    .local_tier(tier())
    .build();
    an_outage_under_load(&OnThread(memo), "blocking, with a tier").await;

    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = builder(
        store,
        &unique_prefix("fail-safe:blocking-load"),
        SHORT_EXPIRE,
    )
    .build();
    an_outage_under_load(&OnThread(memo), "blocking").await;
}

/// Whether each key is on the server, in order.
fn exist(server: &RedisServer, keys: &[String]) -> Vec<bool> {
    keys.iter()
        .map(|key| redis_cli(server.port(), &["EXISTS", key]).trim() == "1")
        .collect()
}

/// `first` writes every key; its entries go (`DEL`, as their expiry
/// would) and the source fails; `started`, a memoizer of a process started
/// then, is served each key's value three times, computing it once: the
/// first time, which fails and reads the stale copy.
async fn a_process_started_during_the_outage(
    server: &RedisServer,
    first: &impl Calls,
    started: &impl Calls,
) {
    let source = Source::new();
    for k in 0..KEYS {
        assert_eq!(first.call(k, &source).await, Ok(value(k, 1)), "key {k}");
    }
    let keys: Vec<String> = (0..KEYS).map(|k| started.key(k)).collect();
    for (k, key) in keys.iter().enumerate() {
        assert_eq!(&first.key(k), key, "the same namespace, the same keys");
    }
    let stale: Vec<String> = keys.iter().map(|key| stale_key(key)).collect();
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(redis_cli(server.port(), &del).trim(), KEYS.to_string());
    assert!(
        exist(server, &stale).into_iter().all(|there| there),
        "a stale copy is missing"
    );

    source.fail();
    for round in 0..3 {
        for k in 0..KEYS {
            assert_eq!(
                started.call(k, &source).await,
                Ok(value(k, 1)),
                "round {round}, key {k}: not the stale copy's value"
            );
        }
    }
    let computed: Vec<(usize, usize)> = (0..KEYS)
        .map(|k| (k, source.failed(k)))
        .filter(|&(_, runs)| runs != 1)
        .collect();
    assert!(
        computed.is_empty(),
        "{} keys computed other than once while failing; (key, runs): {:?}",
        computed.len(),
        &computed[..computed.len().min(10)]
    );
    let stats = started.stats();
    assert_eq!(stats.stale_served, 3 * KEYS as u64, "{stats:?}");
    assert!(
        exist(server, &keys).into_iter().all(|there| !there),
        "a stale value was written back as an entry"
    );
}

/// A process started during the outage serves the stale copies another
/// wrote; async path.
pub async fn a_process_started_during_the_outage_serves_the_stale_copies<C: Client>() {
    let server = RedisServer::start();
    let namespace = unique_prefix("fail-safe:started");
    let store = C::connect(&config(&server)).await.expect("connect");
    let first = builder(store, &namespace, EXPIRE).build();
    let store = C::connect(&config(&server)).await.expect("connect again");
    let started = builder(store, &namespace, EXPIRE).build();
    a_process_started_during_the_outage(&server, &first, &started).await;
}

/// The same as
/// [`a_process_started_during_the_outage_serves_the_stale_copies`] on the
/// blocking path.
pub async fn a_blocking_process_started_during_the_outage_serves_the_stale_copies<C: Client>() {
    let server = RedisServer::start();
    let namespace = unique_prefix("fail-safe:started-blocking");
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let first = OnThread(builder(store, &namespace, EXPIRE).build());
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect again");
    let started = OnThread(builder(store, &namespace, EXPIRE).build());
    a_process_started_during_the_outage(&server, &first, &started).await;
}

/// The key's remaining life in milliseconds (`PTTL`: -2 when missing, -1
/// without expiry).
fn pttl(server: &RedisServer, key: &str) -> i64 {
    let reply = redis_cli(server.port(), &["PTTL", key]);
    reply
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("PTTL {key}: {reply:?}"))
}

/// The keys on the server starting with `prefix`.
fn keys_under(server: &RedisServer, prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}*");
    let mut keys: Vec<String> = redis_cli(server.port(), &["--scan", "--pattern", &pattern])
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

/// Writes two keys and the call without arguments in `namespace` through
/// `memo` (with [`EXPIRE`]): each entry lives at most [`EXPIRE`], its stale
/// copy longer, by at most [`MAX_STALE`]. `invalidate` removes an entry
/// and its stale copy; `clear_namespace` leaves no key of the namespace.
/// An entry written through `persistent` (no expiry) has no stale copy.
async fn the_entries_keep_their_life(
    server: &RedisServer,
    memo: &impl Calls,
    namespace: &str,
    persistent: &impl Calls,
) {
    let source = Source::new();
    let expire = i64::try_from(EXPIRE.as_millis()).expect("ms");
    let longest = i64::try_from((EXPIRE + MAX_STALE).as_millis()).expect("ms");
    let written = [0, 1, BARE];
    for k in written {
        assert_eq!(memo.call(k, &source).await, Ok(value(k, 1)), "key {k}");
        let key = memo.key(k);
        let (entry, stale) = (pttl(server, &key), pttl(server, &stale_key(&key)));
        println!("{key}: PTTL {entry} ms, its stale copy's {stale} ms");
        assert!(
            0 < entry && entry <= expire,
            "{key}: the entry lives {entry} ms, not at most {expire}"
        );
        assert!(
            expire < stale && stale <= longest,
            "{key}: the stale copy lives {stale} ms, not more than {expire} and at most {longest}"
        );
    }
    let mut all: Vec<String> = written
        .iter()
        .flat_map(|&k| [memo.key(k), stale_key(&memo.key(k))])
        .collect();
    all.sort();
    assert_eq!(keys_under(server, namespace), all);

    let key = memo.key(0);
    assert!(memo.invalidate(0).await, "key 0 had an entry");
    assert_eq!(
        exist(server, &[key.clone(), stale_key(&key)]),
        [false, false],
        "invalidate left the entry or its stale copy"
    );
    // The invalidated key is never served stale.
    source.fail();
    assert_eq!(memo.call(0, &source).await, Err(DOWN.to_owned()));

    assert!(memo.clear().await, "clear_namespace");
    let left = keys_under(server, namespace);
    assert!(left.is_empty(), "clear_namespace left {left:?}");
    for k in written {
        assert_eq!(
            memo.call(k, &source).await,
            Err(DOWN.to_owned()),
            "key {k} served stale after clear_namespace"
        );
    }

    let good = Source::new();
    assert_eq!(persistent.call(0, &good).await, Ok(value(0, 1)));
    let key = persistent.key(0);
    assert_eq!(pttl(server, &key), -1, "{key}: an entry without expiry");
    assert_eq!(
        pttl(server, &stale_key(&key)),
        -2,
        "{key}: an entry without expiry has no stale copy"
    );
}

/// An entry keeps its life and its stale copy outlives it; `invalidate`
/// and `clear_namespace` remove the stale copies; async path.
pub async fn entries_keep_their_life_and_removals_take_the_stale_copies<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server)).await.expect("connect");
    let namespace = unique_prefix("fail-safe:life");
    let memo = builder(store.clone(), &namespace, EXPIRE).build();
    let persistent = builder(store, &unique_prefix("fail-safe:forever"), Duration::ZERO).build();
    the_entries_keep_their_life(&server, &memo, &namespace, &persistent).await;
}

/// The same as
/// [`entries_keep_their_life_and_removals_take_the_stale_copies`] on
/// the blocking path.
pub async fn blocking_entries_keep_their_life_and_removals_take_the_stale_copies<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let namespace = unique_prefix("fail-safe:life-blocking");
    let memo = OnThread(builder(store.clone(), &namespace, EXPIRE).build());
    let persistent = OnThread(
        builder(
            store,
            &unique_prefix("fail-safe:forever-blocking"),
            Duration::ZERO,
        )
        .build(),
    );
    the_entries_keep_their_life(&server, &memo, &namespace, &persistent).await;
}
