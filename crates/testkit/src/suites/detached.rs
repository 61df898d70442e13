//! Computations that outlive their call, on a real server, on either
//! path (`call_owned` and `try_call_owned` over the async store, their
//! blocking forms over the blocking store, called on threads):
//!
//! - Refresh-ahead under load, with a local tier over a tracking store
//!   and without: entries written with less than half their life left
//!   (`SET … PX` with the memoizer's codec) are called by 16 callers at
//!   once while their recomputation hangs: every call is a hit, each key
//!   starts one refresh and computes once, and once it ends the entry was
//!   rewritten with its whole life, and the next call (through the tier
//!   too) returns the new value.
//! - A refresh racing an invalidation: the refresh computes, `invalidate`
//!   completes, the refresh ends: neither the entry nor its stale copy is
//!   written back.
//! - The soft timeout: an entry gone from Redis (`DEL`, as its expiry
//!   would), its computation hanging: the caller gets the stale copy
//!   Redis holds at `<key>|stale`, and the computation rewrites the entry
//!   when it ends.
//! - The hard timeout, without fail-safe: the caller and its flight's
//!   waiters all get the timeout's error while the computation hangs; it
//!   ran once, and writes its value when it ends.
//!
//! The computations wait on a gate the check opens, so every check is
//! about order: the timeouts are real (the server is), but nothing asserts
//! a duration or sleeps for a margin. A call that returns while the gate
//! is closed did not wait for its computation.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memocache_core::testing::unique_prefix;
use memocache_core::{
    Args, BlockingStore, Bytes, Codec, Elapsed, LocalTier, Memoizer, MemoizerBuilder, Stats, Store,
    stale_key,
};
use memocache_redis_plumbing::config::RedisConfig;
use tokio::sync::watch;

use super::{Client, connect_blocking};
use crate::RedisServer;

/// The entries' life.
const EXPIRE: Duration = Duration::from_secs(100);

/// Refresh-ahead's fraction: a hit with less than half the life left
/// refreshes.
const FRACTION: f64 = 0.5;

/// What is left of the life of an entry written past the fraction.
const LEFT: Duration = Duration::from_secs(20);

/// How long after its expiry a value may be served stale.
const MAX_STALE: Duration = Duration::from_secs(600);

/// The soft timeout.
const SOFT: Duration = Duration::from_millis(200);

/// The hard timeout.
const HARD: Duration = Duration::from_millis(200);

/// The stores' socket timeout and the memoizers' operation timeout:
/// generous, so that a slow machine is no store outage (a read that times
/// out is a miss, which the checks would take for a failure).
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a call may wait while its computation hangs before the check
/// fails: a bound on a broken implementation (whose callers would wait for
/// the gate forever), never reached by a working one.
const GIVE_UP: Duration = Duration::from_secs(60);

/// The keys of the load: key 0 is the hot one.
const KEYS: usize = 4;

/// How many callers call at once under load.
const CALLERS: usize = 16;

/// How many times each caller calls the hot key under load (and every
/// fifth time one of the others too).
const ROUNDS: usize = 50;

/// How many callers of one key the hard timeout releases: the flight's
/// leader and 100 waiters on the async path, and 16 waiters (threads) on
/// the blocking path.
const ASYNC_AT_ONCE: usize = 101;
const BLOCKING_AT_ONCE: usize = 17;

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .socket_timeout(OP_TIMEOUT)
}

/// A memoizer in a namespace of its own, with [`EXPIRE`].
fn builder<S>(store: S, label: &str) -> MemoizerBuilder<S> {
    Memoizer::builder(store)
        .namespace(unique_prefix(label))
        .expire(EXPIRE)
        .op_timeout(Some(OP_TIMEOUT))
}

/// The arguments of key `k`'s call.
fn args(k: usize) -> Args {
    Args::new().arg(&k)
}

/// Key `k`'s value in `generation`.
fn value(k: usize, generation: u32) -> u32 {
    u32::try_from(k).expect("a small key") * 1000 + generation
}

/// The function's own error, which can say the computation was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SourceError {
    /// The hard timeout (this long) elapsed.
    TimedOut(Duration),
}

impl From<Elapsed> for SourceError {
    fn from(elapsed: Elapsed) -> Self {
        SourceError::TimedOut(elapsed.after())
    }
}

/// Where the computations wait until the check opens it; counts them per
/// key. Async computations wait through a `tokio::sync::watch` channel,
/// blocking ones on a condition variable; the checks wait for
/// computations to start through the channel.
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
    notify: watch::Sender<()>,
}

struct GateState {
    open: bool,
    runs: [usize; KEYS],
}

impl Gate {
    /// A closed gate.
    fn new() -> Arc<Self> {
        Arc::new(Gate {
            state: Mutex::new(GateState {
                open: false,
                runs: [0; KEYS],
            }),
            changed: Condvar::new(),
            notify: watch::Sender::new(()),
        })
    }

    /// A gate already open: computations run through.
    fn opened() -> Arc<Self> {
        let gate = Gate::new();
        gate.open();
        gate
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and wakes every waiter, of either kind.
    fn update(&self, change: impl FnOnce(&mut GateState)) {
        change(&mut self.lock());
        self.changed.notify_all();
        self.notify.send_replace(());
    }

    /// Waits, in a task, until `done` holds.
    async fn until(&self, done: impl Fn(&GateState) -> bool) {
        loop {
            // Subscribed before the look, so no change after it is missed.
            let mut changes = self.notify.subscribe();
            if done(&self.lock()) {
                return;
            }
            changes.changed().await.expect("the gate lives");
        }
    }

    /// Waits, on this thread, until `done` holds.
    fn until_blocking(&self, done: impl Fn(&GateState) -> bool) {
        let mut state = self.lock();
        while !done(&state) {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Lets every computation through, now and from now on.
    fn open(&self) {
        self.update(|state| state.open = true);
    }

    fn is_open(&self) -> bool {
        self.lock().open
    }

    /// How many computations of key `k` started.
    fn runs(&self, k: usize) -> usize {
        self.lock().runs[k]
    }

    /// `work`, which must end while the gate is closed; after [`GIVE_UP`]
    /// the gate opens (so that whatever waits on it ends) and the check
    /// fails, saying `what` waited.
    async fn closed_while<T>(&self, what: &str, work: impl Future<Output = T>) -> T {
        match tokio::time::timeout(GIVE_UP, work).await {
            Ok(done) => {
                assert!(!self.is_open(), "{what}: the gate opened meanwhile");
                done
            }
            Err(_) => {
                self.open();
                panic!(
                    "{what}: still waiting after {GIVE_UP:?} for a computation held at the gate"
                );
            }
        }
    }

    /// Waits until `n` computations of key `k` started.
    async fn started(&self, k: usize, n: usize) {
        self.until(|state| state.runs[k] >= n).await;
    }

    /// A computation of key `k` starts, in a task: waits for the gate.
    async fn enter(&self, k: usize) {
        self.update(|state| state.runs[k] += 1);
        self.until(|state| state.open).await;
    }

    /// A computation of key `k` starts, on a thread: waits for the gate.
    fn enter_blocking(&self, k: usize) {
        self.update(|state| state.runs[k] += 1);
        self.until_blocking(|state| state.open);
    }
}

/// Which keys caller `caller` calls under load, in order: the hot key each
/// round, and every fifth round one of the others.
fn plan(caller: usize) -> Vec<usize> {
    (0..ROUNDS)
        .flat_map(|round| {
            let other = (round % 5 == 0).then(|| 1 + (caller + round / 5) % (KEYS - 1));
            std::iter::once(0).chain(other)
        })
        .collect()
}

/// What the checks need of a memoizer, on either path. Every call's
/// computation of key `k` counts itself at the gate, waits for it to open,
/// then returns the value it is given.
trait Calls: Send + Sync {
    /// `call_owned`, or `call_blocking_owned` on a thread.
    async fn call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> u32;
    /// `try_call_owned`, or `try_call_blocking_owned` on a thread.
    async fn try_call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> Result<u32, SourceError>;
    /// [`CALLERS`] callers at once (tasks, or threads), each calling the
    /// keys of its [`plan`] with `call_owned` (or its blocking form),
    /// computing `generation`'s values; what each call returned, by key.
    fn load(
        &self,
        gate: &Arc<Gate>,
        generation: u32,
    ) -> impl Future<Output = Vec<(usize, u32)>> + Send;
    /// `callers` calls of key `k` at once (tasks, or threads) with
    /// `try_call_owned` (or its blocking form); what each returned.
    fn at_once(
        &self,
        callers: usize,
        k: usize,
        gate: &Arc<Gate>,
        value: u32,
    ) -> impl Future<Output = Vec<Result<u32, SourceError>>> + Send;
    /// `invalidate` of key `k`: whether there was an entry.
    async fn invalidate(&self, k: usize) -> bool;
    /// Writes `value` at `key` with the memoizer's codec and `life` to
    /// live, through its store (`SET key value PX life`).
    async fn set(&self, key: &str, value: u32, life: Duration);
    /// The value at `key` in Redis, decoded with the memoizer's codec.
    async fn get(&self, key: &str) -> Option<u32>;
    /// Waits for the computations running on their own.
    async fn flush(&self);
    fn key(&self, k: usize) -> String;
    fn stats(&self) -> Stats;
}

/// A computation for the async path.
fn gated(
    gate: &Arc<Gate>,
    k: usize,
    value: u32,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> + Send + 'static {
    let gate = Arc::clone(gate);
    move || {
        Box::pin(async move {
            gate.enter(k).await;
            value
        })
    }
}

/// A computation for the blocking path.
fn gated_blocking(gate: &Arc<Gate>, k: usize, value: u32) -> impl FnOnce() -> u32 + Send + 'static {
    let gate = Arc::clone(gate);
    move || {
        gate.enter_blocking(k);
        value
    }
}

fn encode<S>(memo: &Memoizer<S>, value: u32) -> Bytes {
    Bytes::from(memo.codec().encode(&value).expect("a number encodes"))
}

fn decode<S>(memo: &Memoizer<S>, bytes: Option<Bytes>) -> Option<u32> {
    bytes.map(|bytes| memo.codec().decode(&bytes).expect("the entry decodes"))
}

impl<S: Store + 'static> Calls for Memoizer<S> {
    async fn call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> u32 {
        self.call_owned(&args(k), gated(gate, k, value)).await
    }

    async fn try_call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> Result<u32, SourceError> {
        let compute = gated(gate, k, value);
        self.try_call_owned(&args(k), || async move { Ok(compute().await) })
            .await
    }

    fn load(
        &self,
        gate: &Arc<Gate>,
        generation: u32,
    ) -> impl Future<Output = Vec<(usize, u32)>> + Send {
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (memo, gate) = (self.clone(), Arc::clone(gate));
                tokio::spawn(async move {
                    let mut served = Vec::new();
                    for k in plan(caller) {
                        let compute = gated(&gate, k, value(k, generation));
                        served.push((k, memo.call_owned(&args(k), compute).await));
                    }
                    served
                })
            })
            .collect();
        async move {
            let mut served = Vec::new();
            for caller in callers {
                served.extend(caller.await.expect("a caller panicked"));
            }
            served
        }
    }

    fn at_once(
        &self,
        callers: usize,
        k: usize,
        gate: &Arc<Gate>,
        value: u32,
    ) -> impl Future<Output = Vec<Result<u32, SourceError>>> + Send {
        let callers: Vec<_> = (0..callers)
            .map(|_| {
                let (memo, gate) = (self.clone(), Arc::clone(gate));
                tokio::spawn(async move { Calls::try_call(&memo, k, &gate, value).await })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for caller in callers {
                results.push(caller.await.expect("a caller panicked"));
            }
            results
        }
    }

    async fn invalidate(&self, k: usize) -> bool {
        Memoizer::invalidate(self, &args(k))
            .await
            .expect("invalidate")
    }

    async fn set(&self, key: &str, value: u32, life: Duration) {
        Store::set(self.store(), key, encode(self, value), Some(life))
            .await
            .expect("SET");
    }

    async fn get(&self, key: &str) -> Option<u32> {
        decode(self, Store::get(self.store(), key).await.expect("GET"))
    }

    async fn flush(&self) {
        Memoizer::flush(self).await;
    }

    fn key(&self, k: usize) -> String {
        Memoizer::key(self, &args(k)).expect("a key")
    }

    fn stats(&self) -> Stats {
        Memoizer::stats(self)
    }
}

/// A blocking memoizer, its calls made on threads.
struct OnThread<S>(Memoizer<S>);

impl<S: BlockingStore + 'static> OnThread<S> {
    /// Runs `work` with the memoizer on a blocking thread.
    async fn on_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(Memoizer<S>) -> T + Send + 'static,
    ) -> T {
        let memo = self.0.clone();
        tokio::task::spawn_blocking(move || work(memo))
            .await
            .expect("a blocking call panicked")
    }
}

impl<S: BlockingStore + 'static> Calls for OnThread<S> {
    async fn call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> u32 {
        let compute = gated_blocking(gate, k, value);
        self.on_thread(move |memo| memo.call_blocking_owned(&args(k), compute))
            .await
    }

    async fn try_call(&self, k: usize, gate: &Arc<Gate>, value: u32) -> Result<u32, SourceError> {
        let compute = gated_blocking(gate, k, value);
        self.on_thread(move |memo| memo.try_call_blocking_owned(&args(k), move || Ok(compute())))
            .await
    }

    fn load(
        &self,
        gate: &Arc<Gate>,
        generation: u32,
    ) -> impl Future<Output = Vec<(usize, u32)>> + Send {
        let threads: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (memo, gate) = (self.0.clone(), Arc::clone(gate));
                std::thread::spawn(move || {
                    plan(caller)
                        .into_iter()
                        .map(|k| {
                            let compute = gated_blocking(&gate, k, value(k, generation));
                            (k, memo.call_blocking_owned(&args(k), compute))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        async move {
            tokio::task::spawn_blocking(move || {
                threads
                    .into_iter()
                    .flat_map(|thread| thread.join().expect("a caller panicked"))
                    .collect()
            })
            .await
            .expect("the callers joined")
        }
    }

    fn at_once(
        &self,
        callers: usize,
        k: usize,
        gate: &Arc<Gate>,
        value: u32,
    ) -> impl Future<Output = Vec<Result<u32, SourceError>>> + Send {
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                let memo = self.0.clone();
                let compute = gated_blocking(gate, k, value);
                std::thread::spawn(move || {
                    memo.try_call_blocking_owned(&args(k), move || Ok(compute()))
                })
            })
            .collect();
        async move {
            tokio::task::spawn_blocking(move || {
                threads
                    .into_iter()
                    .map(|thread| thread.join().expect("a caller panicked"))
                    .collect()
            })
            .await
            .expect("the callers joined")
        }
    }

    async fn invalidate(&self, k: usize) -> bool {
        self.on_thread(move |memo| memo.invalidate_blocking(&args(k)).expect("invalidate"))
            .await
    }

    async fn set(&self, key: &str, value: u32, life: Duration) {
        let key = key.to_owned();
        self.on_thread(move |memo| {
            BlockingStore::set(memo.store(), &key, encode(&memo, value), Some(life)).expect("SET");
        })
        .await;
    }

    async fn get(&self, key: &str) -> Option<u32> {
        let key = key.to_owned();
        self.on_thread(move |memo| {
            decode(&memo, BlockingStore::get(memo.store(), &key).expect("GET"))
        })
        .await
    }

    async fn flush(&self) {
        // The blocking path has no runtime of its own: drive the flush
        // on a thread, as a sync caller would.
        self.on_thread(|memo| memocache_core::block_on(memo.flush()))
            .await;
    }

    fn key(&self, k: usize) -> String {
        self.0.key(&args(k)).expect("a key")
    }

    fn stats(&self) -> Stats {
        self.0.stats()
    }
}

/// `redis-cli` on the server, its reply; panics with why it failed.
fn cli(server: &RedisServer, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(server.port().to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"));
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}; stdout {:?}, stderr {:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `key` is on the server.
fn exists(server: &RedisServer, key: &str) -> bool {
    let reply = cli(server, &["EXISTS", key]);
    match reply.trim() {
        "1" => true,
        "0" => false,
        _ => panic!("EXISTS {key}: {reply:?}"),
    }
}

/// The key's remaining life in milliseconds (`PTTL`: -2 when missing, -1
/// without expiry).
fn pttl(server: &RedisServer, key: &str) -> i64 {
    let reply = cli(server, &["PTTL", key]);
    reply
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("PTTL {key}: {reply:?}"))
}

/// `duration` in whole milliseconds, as `PTTL` counts.
fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).expect("a short duration")
}

/// The calls answered from the cache: store hits, local hits, and the
/// waiters of a flight whose leader's read hit (they share its value).
fn served_from_cache(stats: &Stats) -> u64 {
    stats.hits + stats.merged + stats.tier.map_or(0, |tier| tier.hits)
}

/// Refresh-ahead under load on `memo` (a memoizer with refresh-ahead at
/// [`FRACTION`]; `tier` says whether it has a live local tier).
async fn a_hot_key_under_load(server: &RedisServer, memo: &impl Calls, tier: bool, label: &str) {
    let keys: Vec<String> = (0..KEYS).map(|k| memo.key(k)).collect();
    let early = Gate::new();
    // Fresh entries: hits, no refresh.
    for (k, key) in keys.iter().enumerate() {
        memo.set(key, value(k, 1), EXPIRE).await;
        assert_eq!(
            memo.call(k, &early, value(k, 9)).await,
            value(k, 1),
            "{label}: key {k}"
        );
    }
    assert_eq!(
        memo.stats().refreshes,
        0,
        "{label}: a fresh entry was refreshed"
    );
    // Past the fraction of their life (the store's own write drops a
    // local copy).
    for (k, key) in keys.iter().enumerate() {
        memo.set(key, value(k, 1), LEFT).await;
    }

    let gate = Gate::new();
    let before = memo.stats();
    let served = gate.closed_while(label, memo.load(&gate, 2)).await;
    let after = memo.stats();
    let wrong: Vec<&(usize, u32)> = served
        .iter()
        .filter(|&&(k, got)| got != value(k, 1))
        .collect();
    assert!(
        wrong.is_empty(),
        "{label}: {} calls were not served the cached value, e.g. (key, value) {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    let calls = served.len() as u64;
    println!(
        "{label}: {calls} calls while the refreshes hung: {} store hits, {} merged, {} local \
         hits, {} misses, {} refreshes",
        after.hits - before.hits,
        after.merged - before.merged,
        after.tier.map_or(0, |t| t.hits) - before.tier.map_or(0, |t| t.hits),
        after.misses - before.misses,
        after.refreshes - before.refreshes
    );
    assert_eq!(
        (
            served_from_cache(&after) - served_from_cache(&before),
            after.misses - before.misses,
            after.refreshes - before.refreshes,
        ),
        (calls, 0, KEYS as u64),
        "{label}: every call is a hit and each key starts one refresh; before {before:?}, \
         after {after:?}"
    );
    let tier_stats = after.tier;
    assert_eq!(
        tier_stats.is_some_and(|stats| stats.live),
        tier,
        "{label}: {tier_stats:?}"
    );
    if tier {
        let local = tier_stats.map_or(0, |stats| stats.hits) - before.tier.map_or(0, |s| s.hits);
        assert!(local > 0, "{label}: the tier served nothing: {after:?}");
    }
    for (k, key) in keys.iter().enumerate() {
        assert!(
            gate.runs(k) <= 1,
            "{label}: key {k} computed {} times",
            gate.runs(k)
        );
        assert!(
            (0..=ms(LEFT)).contains(&pttl(server, key)),
            "{label}: key {k} was rewritten before its refresh ended"
        );
    }

    gate.open();
    memo.flush().await;
    for (k, key) in keys.iter().enumerate() {
        assert_eq!(gate.runs(k), 1, "{label}: key {k}: one recomputation");
        let left = pttl(server, key);
        assert!(
            left > ms(EXPIRE) / 2,
            "{label}: key {k} was not rewritten with its life: PTTL {left} ms"
        );
        assert_eq!(
            memo.get(key).await,
            Some(value(k, 2)),
            "{label}: key {k} in Redis"
        );
    }
    let done = Gate::new();
    for k in 0..KEYS {
        // Twice: the first reads Redis (the local copy was dropped), the
        // second may be a local hit.
        for _ in 0..2 {
            assert_eq!(
                memo.call(k, &done, value(k, 3)).await,
                value(k, 2),
                "{label}: key {k}: the refreshed value"
            );
        }
    }
    let last = memo.stats();
    assert_eq!(
        (last.misses, last.refreshes),
        (0, KEYS as u64),
        "{label}: {last:?}"
    );
    let computed: usize = (0..KEYS).map(|k| done.runs(k) + early.runs(k)).sum();
    assert_eq!(computed, 0, "{label}: a hit computed");
}

/// Refresh-ahead under load, async path: with a local tier over a
/// tracking store (live), a hot key and three others written with 20 s of
/// their 100 s left are called by 16 tasks at once while each key's
/// recomputation hangs. Checks that every call was a hit, that each key
/// started one refresh and computed once, and, once the refreshes end
/// (`flush`), that each entry was rewritten with its whole life (`PTTL`
/// over 50 s) and the next call returns the new value.
pub async fn refresh_ahead_under_load_with_a_tier<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server).client_tracking(true))
        .await
        .expect("connect the tracking store");
    let memo = builder(store, "detached:refresh-tier")
        .refresh_ahead(FRACTION)
        .local_tier(LocalTier::bytes(1 << 20))
        .build();
    a_hot_key_under_load(&server, &memo, true, "async, with a tier").await;
}

/// The same as [`refresh_ahead_under_load_with_a_tier`] without a tier:
/// every hit is a Redis read.
pub async fn refresh_ahead_under_load<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = builder(store, "detached:refresh")
        .refresh_ahead(FRACTION)
        .build();
    a_hot_key_under_load(&server, &memo, false, "async").await;
}

/// The same as [`refresh_ahead_under_load_with_a_tier`] on the blocking
/// path: 16 threads, each refresh on a thread of its own.
pub async fn refresh_ahead_under_blocking_load_with_a_tier<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server).client_tracking(true))
        .await
        .expect("connect the tracking store");
    let memo = builder(store, "detached:refresh-blocking-tier")
        .refresh_ahead(FRACTION)
        .local_tier(LocalTier::bytes(1 << 20))
        .build();
    a_hot_key_under_load(&server, &OnThread(memo), true, "blocking, with a tier").await;
}

/// The same as [`refresh_ahead_under_load`] on the blocking path.
pub async fn refresh_ahead_under_blocking_load<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = builder(store, "detached:refresh-blocking")
        .refresh_ahead(FRACTION)
        .build();
    a_hot_key_under_load(&server, &OnThread(memo), false, "blocking").await;
}

/// A refresh racing an invalidation on `memo` (refresh-ahead and
/// fail-safe).
async fn a_refresh_racing_an_invalidation(server: &RedisServer, memo: &impl Calls) {
    let key = memo.key(0);
    let stale = stale_key(&key);
    memo.set(&key, value(0, 1), LEFT).await;
    memo.set(&stale, value(0, 1), LEFT + MAX_STALE).await;
    let gate = Gate::new();
    let hit = gate
        .closed_while("the hit", memo.call(0, &gate, value(0, 2)))
        .await;
    assert_eq!(hit, value(0, 1), "a hit");
    assert_eq!(memo.stats().refreshes, 1, "the hit started a refresh");
    // The refresh computes; the entry is invalidated; then it ends.
    gate.closed_while("the refresh", gate.started(0, 1)).await;
    assert!(memo.invalidate(0).await, "there was an entry");
    assert_eq!(
        (exists(server, &key), exists(server, &stale)),
        (false, false),
        "invalidate removes the entry and its stale copy"
    );
    gate.open();
    memo.flush().await;
    assert_eq!(gate.runs(0), 1);
    assert_eq!(
        (exists(server, &key), exists(server, &stale)),
        (false, false),
        "the refresh wrote the entry or its stale copy after the invalidation"
    );
    let after = Gate::opened();
    assert_eq!(
        memo.call(0, &after, value(0, 3)).await,
        value(0, 3),
        "the next call computes"
    );
}

/// An invalidation during a refresh wins, async path: a hit on an entry
/// past the fraction of its life starts a refresh, whose computation
/// hangs; `invalidate` completes; the refresh ends (`flush`). Checks that
/// neither the entry nor its stale copy is on the server (`EXISTS`), and
/// that the next call computes.
pub async fn an_invalidation_during_a_refresh_wins<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = builder(store, "detached:race")
        .refresh_ahead(FRACTION)
        .fail_safe(MAX_STALE)
        .build();
    a_refresh_racing_an_invalidation(&server, &memo).await;
}

/// The same as [`an_invalidation_during_a_refresh_wins`] on the blocking
/// path, the refresh on a thread of its own.
pub async fn a_blocking_invalidation_during_a_refresh_wins<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = builder(store, "detached:race-blocking")
        .refresh_ahead(FRACTION)
        .fail_safe(MAX_STALE)
        .build();
    a_refresh_racing_an_invalidation(&server, &OnThread(memo)).await;
}

/// The soft timeout on `memo` (fail-safe, soft timeout, no tier).
async fn the_soft_timeout_serves_the_stale_copy(server: &RedisServer, memo: &impl Calls) {
    let key = memo.key(0);
    let first = Gate::opened();
    assert_eq!(memo.try_call(0, &first, value(0, 1)).await, Ok(value(0, 1)));
    assert!(
        exists(server, &stale_key(&key)),
        "the stale copy was written"
    );
    // The entry expires (as far as a memoizer can tell); the next
    // computation hangs.
    assert_eq!(cli(server, &["DEL", &key]).trim(), "1");
    let gate = Gate::new();
    let served = gate
        .closed_while("the call", memo.try_call(0, &gate, value(0, 2)))
        .await;
    assert_eq!(served, Ok(value(0, 1)), "the stale copy's value");
    let stats = memo.stats();
    assert_eq!(
        (stats.soft_timeouts, stats.stale_served, stats.hard_timeouts),
        (1, 1, 0),
        "{stats:?}"
    );
    assert!(
        !exists(server, &key),
        "written before the computation ended"
    );

    the_held_computation_writes_its_value(server, memo, &key, &gate).await;
}

/// Opens `gate` on the computation of key 0 its caller gave up on: once
/// it ends (`flush`), it ran once (no waiter computed), the entry at `key`
/// holds its value with its life, and the next call is served that value.
async fn the_held_computation_writes_its_value(
    server: &RedisServer,
    memo: &impl Calls,
    key: &str,
    gate: &Gate,
) {
    gate.open();
    memo.flush().await;
    assert_eq!(
        gate.runs(0),
        1,
        "one computation: the waiters did not compute"
    );
    let left = pttl(server, key);
    assert!(
        0 < left && left <= ms(EXPIRE),
        "the entry was written with its life: PTTL {left} ms"
    );
    assert_eq!(
        memo.get(key).await,
        Some(value(0, 2)),
        "the new value in Redis"
    );
    let after = Gate::opened();
    assert_eq!(memo.try_call(0, &after, value(0, 3)).await, Ok(value(0, 2)));
    assert_eq!(after.runs(0), 0);
}

/// The soft timeout, async path: a value written, its entry deleted
/// (`DEL`, playing its expiry), then a call whose computation hangs past
/// the soft timeout. Checks that the call returns the stale copy's value
/// from Redis (`<key>|stale`) while the computation still hangs, and, once
/// it ends (`flush`), that the entry holds the new value with its life.
pub async fn at_the_soft_timeout_the_stale_copy_in_redis_is_served<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = builder(store, "detached:soft")
        .fail_safe(MAX_STALE)
        .soft_timeout(SOFT)
        .build();
    the_soft_timeout_serves_the_stale_copy(&server, &memo).await;
}

/// The same as [`at_the_soft_timeout_the_stale_copy_in_redis_is_served`]
/// on the blocking path, the computation on a thread of its own.
pub async fn at_the_blocking_soft_timeout_the_stale_copy_in_redis_is_served<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = builder(store, "detached:soft-blocking")
        .fail_safe(MAX_STALE)
        .soft_timeout(SOFT)
        .build();
    the_soft_timeout_serves_the_stale_copy(&server, &OnThread(memo)).await;
}

/// The hard timeout on `memo` (no fail-safe), for `callers` calls at once.
async fn the_hard_timeout_releases_every_caller(
    server: &RedisServer,
    memo: &impl Calls,
    callers: usize,
) {
    let key = memo.key(0);
    let gate = Gate::new();
    let results = gate
        .closed_while("the callers", memo.at_once(callers, 0, &gate, value(0, 2)))
        .await;
    let other: Vec<_> = results
        .iter()
        .filter(|result| **result != Err(SourceError::TimedOut(HARD)))
        .collect();
    assert!(
        other.is_empty(),
        "{} of {callers} calls did not get the hard timeout's error: {:?}",
        other.len(),
        &other[..other.len().min(10)]
    );
    assert!(gate.runs(0) <= 1, "computed {} times", gate.runs(0));
    let stats = memo.stats();
    assert_eq!(
        (stats.hard_timeouts, stats.misses),
        (1, 1),
        "one computation, given up once: {stats:?}"
    );
    assert!(
        !exists(server, &key),
        "written before the computation ended"
    );

    the_held_computation_writes_its_value(server, memo, &key, &gate).await;
}

/// The hard timeout, async path, without fail-safe: a call and 100 more
/// of the same key at once (tasks), the computation hanging. Checks that
/// every call gets `Err(E::from(Elapsed))` while the computation still
/// hangs, that it ran once, and, once it ends (`flush`), that the entry
/// holds its value.
pub async fn at_the_hard_timeout_the_caller_and_its_waiters_are_released<C: Client>() {
    let server = RedisServer::start();
    let store = C::connect(&config(&server)).await.expect("connect");
    let memo = builder(store, "detached:hard").hard_timeout(HARD).build();
    the_hard_timeout_releases_every_caller(&server, &memo, ASYNC_AT_ONCE).await;
}

/// The same as
/// [`at_the_hard_timeout_the_caller_and_its_waiters_are_released`] on the
/// blocking path: a call and 16 more, each on a thread of its own.
pub async fn at_the_blocking_hard_timeout_the_caller_and_its_waiters_are_released<C: Client>() {
    let server = RedisServer::start();
    let store = connect_blocking::<C>(&config(&server))
        .await
        .expect("connect");
    let memo = builder(store, "detached:hard-blocking")
        .hard_timeout(HARD)
        .build();
    the_hard_timeout_releases_every_caller(&server, &OnThread(memo), BLOCKING_AT_ONCE).await;
}
