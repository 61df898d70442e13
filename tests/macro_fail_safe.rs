//! `#[cache_wrapper]`'s fail-safe, refresh-ahead and timeout options, on
//! the memory store. An entry's expiry is played by removing it from the
//! store (through the function's `_cache_key` companion), and a hanging
//! body waits for the test to release it, so no check waits for a clock:
//! the async timeouts run on paused time.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use memocache::codec::{Codec, JsonZlib};
use memocache::store::{BlockingStore, Store};
use memocache::{Elapsed, MemoryStore, cache_wrapper};
use tokio::sync::Notify;

/// The encoded form of `value`, as the memoizer writes it.
fn encoded<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(JsonZlib::default().encode(value).unwrap())
}

// ------------------------------------------------------------- fail-safe

static RATE_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Good the first time, then the source is down.
#[cache_wrapper(
    store = RATE_STORE.clone(),
    namespace = "macro:fail_safe:rate",
    expire = 3600,
    fail_safe = Duration::from_secs(600)
)]
fn rate(currency: String) -> Result<u32, String> {
    match RATE_RUNS.fetch_add(1, SeqCst) {
        0 => Ok(currency.len() as u32),
        _ => Err("the rates service is down".to_owned()),
    }
}

#[test]
fn a_sync_fn_with_fail_safe_serves_the_stale_value_when_its_body_fails() {
    assert_eq!(rate("EUR".to_owned()), Ok(3));
    // The entry expires; the body fails from now on.
    let key = rate_cache_key("EUR".to_owned()).unwrap();
    assert!(BlockingStore::delete(&*RATE_STORE, &key).unwrap());
    assert_eq!(rate("EUR".to_owned()), Ok(3), "the stale value");
    assert_eq!(RATE_RUNS.load(SeqCst), 2);
    // Throttled (the default period): the body does not run again.
    assert_eq!(rate("EUR".to_owned()), Ok(3));
    assert_eq!(RATE_RUNS.load(SeqCst), 2);
    assert_eq!(rate_memoizer().stats().stale_served, 2);
    // Without a good value to fall back on, the error goes through.
    assert!(rate("USD".to_owned()).is_err());
}

static STOCK_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static STOCK_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The same, async, with no throttle: every failed call runs the body.
#[cache_wrapper(
    store = STOCK_STORE.clone(),
    namespace = "macro:fail_safe:stock",
    expire = 3600,
    fail_safe = Duration::from_secs(600),
    fail_safe_throttle = Duration::ZERO
)]
async fn stock(item: u64) -> Result<u64, String> {
    match STOCK_RUNS.fetch_add(1, SeqCst) {
        0 => Ok(item * 10),
        _ => Err("the warehouse is down".to_owned()),
    }
}

#[tokio::test]
async fn an_async_fn_with_fail_safe_serves_the_stale_value_when_its_body_fails() {
    assert_eq!(stock(4).await, Ok(40));
    let key = stock_cache_key(4).unwrap();
    assert!(Store::delete(&*STOCK_STORE, &key).await.unwrap());
    for runs in 2..5 {
        assert_eq!(stock(4).await, Ok(40), "the stale value");
        assert_eq!(STOCK_RUNS.load(SeqCst), runs, "no throttle");
    }
    assert_eq!(stock_memoizer().stats().stale_served, 3);
}

// --------------------------------------------------------- refresh-ahead

const PRICE_EXPIRE: Duration = Duration::from_secs(100);
static PRICE_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static PRICE: AtomicU32 = AtomicU32::new(0);

#[cache_wrapper(
    store = PRICE_STORE.clone(),
    namespace = "macro:refresh_ahead:price",
    expire = PRICE_EXPIRE,
    refresh_ahead = 0.5
)]
async fn price(item: u64) -> u32 {
    PRICE.load(SeqCst) + item as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_refresh_ahead_is_refreshed_past_the_fraction() {
    let key = price_cache_key(1).unwrap();
    // Fresh: a hit, no refresh.
    Store::set(&*PRICE_STORE, &key, encoded(&10u32), Some(PRICE_EXPIRE))
        .await
        .unwrap();
    PRICE.store(20, SeqCst);
    assert_eq!(price(1).await, 10);
    price_memoizer().flush().await;
    assert_eq!(price_memoizer().stats().refreshes, 0);
    // Past half its life: the hit returns the cached value and refreshes.
    Store::set(
        &*PRICE_STORE,
        &key,
        encoded(&10u32),
        Some(Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert_eq!(price(1).await, 10);
    price_memoizer().flush().await;
    assert_eq!(price_memoizer().stats().refreshes, 1);
    assert_eq!(price(1).await, 21, "the refreshed value");
    // The `_refresh` companion still runs the body inline.
    PRICE.store(30, SeqCst);
    assert_eq!(price_refresh(1).await, 31);
    assert_eq!(price(1).await, 31);
}

static LABEL_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static LABEL: AtomicU32 = AtomicU32::new(0);

#[cache_wrapper(
    store = LABEL_STORE.clone(),
    namespace = "macro:refresh_ahead:label",
    expire = PRICE_EXPIRE,
    refresh_ahead = 0.5
)]
fn label(id: u64) -> String {
    format!("{id}-v{}", LABEL.load(SeqCst))
}

#[test]
fn a_sync_fn_with_refresh_ahead_is_refreshed_on_a_thread_of_its_own() {
    let key = label_cache_key(7).unwrap();
    let stale = Some(Duration::from_secs(20));
    BlockingStore::set(&*LABEL_STORE, &key, encoded(&"7-v1"), stale).unwrap();
    LABEL.store(2, SeqCst);
    assert_eq!(label(7), "7-v1");
    memocache_core::block_on(label_memoizer().flush());
    assert_eq!(label_memoizer().stats().refreshes, 1);
    assert_eq!(label(7), "7-v2", "the refreshed value");
}

// -------------------------------------------------------------- timeouts

/// A function's own error, which can say the body was given up.
#[derive(Debug, PartialEq, Eq)]
enum LookupError {
    TimedOut,
}

impl From<Elapsed> for LookupError {
    fn from(_: Elapsed) -> Self {
        LookupError::TimedOut
    }
}

static LOOKUP_GATE: Notify = Notify::const_new();
static LOOKUP_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Hangs until the test releases it.
#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "macro:hard_timeout:lookup",
    expire = 60,
    hard_timeout = Duration::from_secs(2)
)]
async fn lookup(name: String) -> Result<usize, LookupError> {
    LOOKUP_RUNS.fetch_add(1, SeqCst);
    LOOKUP_GATE.notified().await;
    Ok(name.len())
}

#[tokio::test(start_paused = true)]
async fn an_async_fn_with_hard_timeout_returns_its_error_when_the_body_hangs() {
    let start = tokio::time::Instant::now();
    assert_eq!(lookup("ab".to_owned()).await, Err(LookupError::TimedOut));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(lookup_memoizer().stats().hard_timeouts, 1);
    // The body goes on, and its result is written when it ends.
    LOOKUP_GATE.notify_one();
    lookup_memoizer().flush().await;
    assert_eq!(lookup("ab".to_owned()).await, Ok(2));
    assert_eq!(LOOKUP_RUNS.load(SeqCst), 1);
}

static QUOTE_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
static QUOTE_GATE: Notify = Notify::const_new();
static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Quick the first time, then hangs until the test releases it.
#[cache_wrapper(
    store = QUOTE_STORE.clone(),
    namespace = "macro:soft_timeout:quote",
    expire = 60,
    fail_safe = Duration::from_secs(600),
    soft_timeout = Duration::from_secs(1)
)]
async fn quote(id: u64) -> u64 {
    let run = QUOTE_RUNS.fetch_add(1, SeqCst) as u64;
    if run > 0 {
        QUOTE_GATE.notified().await;
    }
    id * 100 + run
}

#[tokio::test(start_paused = true)]
async fn an_async_fn_with_soft_timeout_serves_the_stale_value_while_the_body_hangs() {
    assert_eq!(quote(1).await, 100);
    let key = quote_cache_key(1).unwrap();
    assert!(Store::delete(&*QUOTE_STORE, &key).await.unwrap());
    let start = tokio::time::Instant::now();
    assert_eq!(quote(1).await, 100, "the stale value");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(quote_memoizer().stats().soft_timeouts, 1);
    QUOTE_GATE.notify_one();
    quote_memoizer().flush().await;
    assert_eq!(quote(1).await, 101, "written when the body ended");
}

static REPORT_GATE: Mutex<()> = Mutex::new(());

/// Hangs while the test holds the gate.
#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "macro:hard_timeout:report",
    expire = 60,
    hard_timeout = Duration::from_millis(50)
)]
fn report(day: u32) -> Result<u32, LookupError> {
    drop(REPORT_GATE.lock().unwrap());
    Ok(day * 2)
}

#[test]
fn a_sync_fn_with_hard_timeout_returns_its_error_when_the_body_hangs() {
    let gate = REPORT_GATE.lock().unwrap();
    assert_eq!(report(3), Err(LookupError::TimedOut));
    drop(gate);
    memocache_core::block_on(report_memoizer().flush());
    assert_eq!(report_memoizer().stats().hard_timeouts, 1);
    assert_eq!(report(3), Ok(6), "written when the body ended");
}
