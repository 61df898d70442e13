//! Fail-safe beside the real Python reference (`dtpyfw.redis.caching`) on
//! one redis-server: a Rust memoizer with `expire(E).fail_safe(max_stale)`
//! caches calls, and the reference's `cache_function`, in the same
//! namespace with the same arguments,
//!
//! - sees each entry live at most `E` (its `PTTL`; the stale copy beside
//!   it lives longer), and hits it without running its function, getting
//!   the same value;
//! - once the entries are gone (removed with `DEL`, as their expiry
//!   would), misses: it never reads the `|stale` copy, runs its function
//!   and writes its own entry, leaving the stale copy as it was;
//!
//! and `clear_namespace` then leaves no key of the namespace, stale copies
//! included. (`memocache clear` is checked in the CLI's own tests,
//! `crates/cli/tests/fail_safe.rs`, where its binary is at hand.)
//!
//! On both paths: `RedisBlockingStore` and `RedisStore`.

use std::time::Duration;

use memocache::key::stale_key;
use memocache::redis::redis_rs;
use memocache::{Args, Memoizer, RedisBlockingStore, RedisConfig, RedisStore};
use memocache_testkit::RedisServer;
use memocache_testkit::python::Reference;
use serde::Deserialize;
use serde_json::{Value, json};

/// The entries' life, in seconds.
const EXPIRE_SECS: u64 = 60;

/// How long after its expiry a value may be served stale.
const MAX_STALE: Duration = Duration::from_secs(600);

/// The calls' positional arguments; `None` is the call without arguments
/// (its key is the namespace).
const ITEMS: [Option<u32>; 4] = [Some(1), Some(2), Some(3), None];

/// What the failing computation says.
const DOWN: &str = "the pricing service is down";

/// The arguments of the call of `item`: `quote(item, currency="EUR")`, or
/// `quote()`.
fn args(item: Option<u32>) -> Args {
    match item {
        Some(item) => Args::new().arg(&item).kwarg("currency", &"EUR"),
        None => Args::new(),
    }
}

/// The value Rust computes for `item`.
fn rust_value(item: Option<u32>) -> Value {
    let n = item.unwrap_or(0);
    json!({"item": n, "price": f64::from(n) * 2.5 + 0.1, "tags": ["rust", "é"], "big": 1u64 << 60})
}

/// The value the reference's function computes, whatever the call.
fn python_value() -> Value {
    json!({"computed_by": "python"})
}

/// For each call: the `PTTL` of its entry and of the entry's stale copy,
/// as the reference's Redis client sees them, then the call through
/// `cache_function` with a function that counts its runs.
const PYTHON_CALLS: &str = r#"
inp = json.load(sys.stdin)
ns, expire = inp["namespace"], inp["expire"]
out = []
for c in inp["calls"]:
    args, kwargs = tuple(c["args"]), c["kwargs"]
    runs = []
    def quote(*a, **kw):
        runs.append(1)
        return {"computed_by": "python"}
    key = _cache_key_generator(ns, args, kwargs, set())
    with REDIS.get_redis_client() as r:
        entry_pttl, stale_pttl = r.pttl(key), r.pttl(key + "|stale")
    got = cache_function(quote, REDIS, ns, expire, None, None, *args, **kwargs)
    out.append({"key": key, "entry_pttl": entry_pttl, "stale_pttl": stale_pttl, "runs": len(runs), "got": json.dumps(got)})
print(json.dumps(out))
"#;

/// What the reference saw and got for one call.
#[derive(Deserialize, Debug)]
struct Seen {
    key: String,
    entry_pttl: i64,
    stale_pttl: i64,
    runs: usize,
    got: String,
}

/// Runs [`PYTHON_CALLS`] for every call of [`ITEMS`] in `namespace`.
fn python_calls(server: &RedisServer, namespace: &str) -> Vec<Seen> {
    let calls: Vec<Value> = ITEMS
        .iter()
        .map(|item| match item {
            Some(item) => json!({"args": [item], "kwargs": {"currency": "EUR"}}),
            None => json!({"args": [], "kwargs": {}}),
        })
        .collect();
    let input = json!({"namespace": namespace, "expire": EXPIRE_SECS, "calls": calls});
    let out = Reference::get().run(&server.url(), PYTHON_CALLS, &input.to_string());
    let seen: Vec<Seen> = serde_json::from_str(&out).expect("the script's JSON");
    assert_eq!(seen.len(), ITEMS.len());
    seen
}

fn connection(server: &RedisServer) -> redis_rs::Connection {
    redis_rs::Client::open(server.url())
        .expect("a client")
        .get_connection()
        .expect("a connection")
}

fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    redis_rs::cmd("GET")
        .arg(key)
        .query(&mut connection(server))
        .expect("GET")
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis_rs::cmd("PTTL")
        .arg(key)
        .query(&mut connection(server))
        .expect("PTTL")
}

/// Every key starting with `prefix` (the test's own server: `KEYS` is fine).
fn keys_under(server: &RedisServer, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis_rs::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut connection(server))
        .expect("KEYS");
    keys.sort();
    keys
}

/// What the Rust memoizer's side of a check does, on either path.
trait Side {
    /// Calls `item` with a good computation (its [`rust_value`]), or a
    /// failing one.
    fn call(&self, item: Option<u32>, failing: bool) -> Result<Value, String>;
    fn clear(&self) -> u64;
    fn key(&self, item: Option<u32>) -> String;
}

impl Side for Memoizer<RedisBlockingStore> {
    fn call(&self, item: Option<u32>, failing: bool) -> Result<Value, String> {
        self.try_call_blocking(&args(item), || {
            if failing {
                Err(DOWN.to_owned())
            } else {
                Ok(rust_value(item))
            }
        })
    }

    fn clear(&self) -> u64 {
        self.clear_namespace_blocking().expect("clear_namespace")
    }

    fn key(&self, item: Option<u32>) -> String {
        Memoizer::key(self, &args(item)).expect("a key")
    }
}

/// An async memoizer, its calls made on a runtime of the check's own.
struct OnRuntime(Memoizer<RedisStore>, tokio::runtime::Runtime);

impl Side for OnRuntime {
    fn call(&self, item: Option<u32>, failing: bool) -> Result<Value, String> {
        self.1.block_on(self.0.try_call(&args(item), || async move {
            if failing {
                Err(DOWN.to_owned())
            } else {
                Ok(rust_value(item))
            }
        }))
    }

    fn clear(&self) -> u64 {
        self.1
            .block_on(self.0.clear_namespace())
            .expect("clear_namespace")
    }

    fn key(&self, item: Option<u32>) -> String {
        self.0.key(&args(item)).expect("a key")
    }
}

/// The check, on `memo`'s path, over `server`, in `namespace`.
fn python_sees_the_entries_live_expire_and_never_reads_the_stale_copies(
    server: &RedisServer,
    memo: &impl Side,
    namespace: &str,
) {
    let expire_ms = i64::try_from(EXPIRE_SECS * 1000).expect("ms");
    let longest_ms = expire_ms + i64::try_from(MAX_STALE.as_millis()).expect("ms");
    for item in ITEMS {
        assert_eq!(memo.call(item, false), Ok(rust_value(item)));
    }
    let keys: Vec<String> = ITEMS.iter().map(|&item| memo.key(item)).collect();
    assert_eq!(keys.last(), Some(&namespace.to_owned()));

    // The reference sees each entry live at most E, and hits it.
    let seen = python_calls(server, namespace);
    for ((item, key), seen) in ITEMS.iter().zip(&keys).zip(&seen) {
        assert_eq!(&seen.key, key, "{item:?}: the reference's key");
        assert!(
            0 < seen.entry_pttl && seen.entry_pttl <= expire_ms,
            "{item:?}: Python sees the entry live {} ms, not at most {expire_ms}",
            seen.entry_pttl
        );
        assert!(
            expire_ms < seen.stale_pttl && seen.stale_pttl <= longest_ms,
            "{item:?}: the stale copy lives {} ms",
            seen.stale_pttl
        );
        assert_eq!(seen.runs, 0, "{item:?}: not a hit for the reference");
        let got: Value = serde_json::from_str(&seen.got).expect("JSON");
        assert_eq!(got, rust_value(*item), "{item:?}: the reference's value");
    }

    // The entries expire: the reference misses, computes and writes its
    // own entries; the stale copies stay as they were.
    let stale: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|key| raw_get(server, &stale_key(key)))
        .collect();
    assert!(stale.iter().all(Option::is_some), "a stale copy is missing");
    let deleted: u64 = redis_rs::cmd("DEL")
        .arg(&keys)
        .query(&mut connection(server))
        .expect("DEL");
    assert_eq!(deleted, keys.len() as u64);
    let seen = python_calls(server, namespace);
    for ((item, key), seen) in ITEMS.iter().zip(&keys).zip(&seen) {
        assert_eq!(seen.entry_pttl, -2, "{item:?}: the entry is gone");
        assert!(seen.stale_pttl > 0, "{item:?}: the stale copy is there");
        assert_eq!(
            seen.runs, 1,
            "{item:?}: the reference did not run its function: it read {key}|stale?"
        );
        let got: Value = serde_json::from_str(&seen.got).expect("JSON");
        assert_eq!(got, python_value(), "{item:?}");
        let entry = pttl(server, key);
        assert!(
            0 < entry && entry <= expire_ms,
            "{item:?}: the reference's entry lives {entry} ms"
        );
    }
    let after: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|key| raw_get(server, &stale_key(key)))
        .collect();
    assert_eq!(
        after, stale,
        "the reference's writes touched the stale copies"
    );

    // The reference's entries are live: the failing Rust call is served
    // them, not the stale copies.
    for item in ITEMS {
        assert_eq!(memo.call(item, true), Ok(python_value()), "{item:?}");
    }

    // clear_namespace leaves no key of the namespace, stale copies included.
    assert_eq!(keys_under(server, namespace).len(), 2 * keys.len());
    let cleared = memo.clear();
    println!("clear_namespace removed {cleared} keys");
    let left = keys_under(server, namespace);
    assert!(left.is_empty(), "left after clear_namespace: {left:?}");
    for item in ITEMS {
        assert_eq!(
            memo.call(item, true),
            Err(DOWN.to_owned()),
            "{item:?}: served stale after clear_namespace"
        );
    }
}

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new().url(server.url())
}

#[test]
fn blocking_memoizer_python_sees_expire_and_never_reads_the_stale_copies() {
    let server = RedisServer::start();
    let namespace = memocache_core::testing::unique_prefix("fail-safe-python:blocking");
    let memo = Memoizer::builder(RedisBlockingStore::connect(&config(&server)).expect("connect"))
        .namespace(&namespace)
        .expire_secs(EXPIRE_SECS)
        .fail_safe(MAX_STALE)
        .build();
    python_sees_the_entries_live_expire_and_never_reads_the_stale_copies(
        &server, &memo, &namespace,
    );
}

#[test]
fn async_memoizer_python_sees_expire_and_never_reads_the_stale_copies() {
    let server = RedisServer::start();
    let namespace = memocache_core::testing::unique_prefix("fail-safe-python:async");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let store = runtime
        .block_on(RedisStore::connect(&config(&server)))
        .expect("connect");
    let memo = Memoizer::builder(store)
        .namespace(&namespace)
        .expire_secs(EXPIRE_SECS)
        .fail_safe(MAX_STALE)
        .build();
    let memo = OnRuntime(memo, runtime);
    python_sees_the_entries_live_expire_and_never_reads_the_stale_copies(
        &server, &memo, &namespace,
    );
}
