//! `memocache keys` and `clear` with fail-safe's stale copies on a real
//! server: a namespace's stale copies (each entry's key and `|stale`) are
//! listed and removed with its entries, those of a nested namespace are
//! left alone, and a memoizer then has no stale value to serve. The
//! entries' distributed locks go with them too.

mod support;

use std::time::Duration;

use memocache_core::{Args, BlockingStore, LockAction, LockRequest, Memoizer, stale_key};
use memocache_redis::{RedisBlockingStore, RedisConfig, redis_rs};
use memocache_testkit::RedisServer;

/// Runs `memocache --url URL args...`; its stdout, which must be a success.
fn ok(url: &str, args: &[&str]) -> String {
    support::ok(&[&["--url", url], args].concat())
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Every key starting with `prefix` (the test's own server).
fn keys_under(server: &RedisServer, prefix: &str) -> Vec<String> {
    let mut connection = redis_rs::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut keys: Vec<String> = redis_rs::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut connection)
        .unwrap();
    keys.sort();
    keys
}

#[test]
fn clear_removes_the_stale_copies_with_the_entries_and_keeps_a_nested_namespace() {
    let server = RedisServer::start();
    let url = server.url();
    let store = RedisBlockingStore::connect(&RedisConfig::new().url(&url)).unwrap();
    let memoizer = |namespace: &str| {
        Memoizer::builder(store.clone())
            .namespace(namespace)
            .expire(Duration::from_secs(60))
            .fail_safe(Duration::from_secs(600))
            .build()
    };
    let namespace = "cli:fail-safe";
    let (own, nested) = (memoizer(namespace), memoizer("cli:fail-safe:sub"));
    let calls = [
        Args::new().arg(&1),
        Args::new().arg(&2).kwarg("currency", &"EUR"),
        Args::new(),
    ];
    let mut written = Vec::new();
    for args in &calls {
        assert_eq!(own.call_blocking(args, || 7u32), 7);
        assert_eq!(nested.call_blocking(args, || 8u32), 8);
        let key = own.key(args).unwrap();
        written.extend([stale_key(&key), key]);
    }
    written.sort();

    assert_eq!(sorted_lines(&ok(&url, &["keys", "-n", namespace])), written);
    assert_eq!(
        ok(&url, &["clear", "-n", namespace]),
        format!("{}\n", written.len())
    );
    let left = keys_under(&server, namespace);
    let nested_keys = keys_under(&server, "cli:fail-safe:sub");
    assert_eq!(nested_keys.len(), 2 * calls.len(), "{nested_keys:?}");
    assert_eq!(
        left, nested_keys,
        "clear left keys of the namespace, or removed the nested namespace's"
    );

    // Nothing stale is left to serve; the nested namespace still has its
    // stale copies.
    for args in &calls {
        let failed: Result<u32, String> =
            own.try_call_blocking(args, || Err("the database is down".into()));
        assert!(failed.is_err(), "served {failed:?} after clear");
    }
    let key = nested.key(&calls[0]).unwrap();
    let mut connection = redis_rs::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let deleted: u64 = redis_rs::cmd("DEL")
        .arg(&key)
        .query(&mut connection)
        .unwrap();
    assert_eq!(deleted, 1);
    let served: Result<u32, String> =
        nested.try_call_blocking(&calls[0], || Err("the database is down".into()));
    assert_eq!(served, Ok(8), "the nested namespace's stale copy");
}

#[test]
fn clear_removes_the_entries_locks() {
    let server = RedisServer::start();
    let url = server.url();
    let store = RedisBlockingStore::connect(&RedisConfig::new().url(&url)).unwrap();
    let memo = Memoizer::builder(store.clone())
        .namespace("cli:lock")
        .build();
    let key = memo.key(&Args::new().arg(&1)).unwrap();
    let hold = LockRequest::new("holder", LockAction::Acquire(Duration::from_secs(600)));
    assert!(store.lock(&key, &hold).unwrap());
    let locks = keys_under(&server, "cli:lock");
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(locks[0].starts_with(&format!("{key}|lock")), "{locks:?}");

    assert_eq!(
        ok(&url, &["keys", "-n", "cli:lock"]),
        format!("{}\n", locks[0])
    );
    assert_eq!(ok(&url, &["clear", "-n", "cli:lock"]), "1\n");
    assert_eq!(keys_under(&server, "cli:lock"), Vec::<String>::new());
    let other = LockRequest::new("other", LockAction::Acquire(Duration::from_secs(600)));
    assert!(store.lock(&key, &other).unwrap(), "the lock outlived clear");
}
