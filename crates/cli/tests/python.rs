//! The CLI and the real Python reference on one redis-server: `memocache
//! key` + `get` read what the reference cached, `put` writes what a Python
//! call then hits without running its function, and `clear` invalidates
//! the reference's entries.

mod support;

use memocache_testkit::RedisServer;
use memocache_testkit::python::Reference;
use serde::Deserialize;

/// Runs `memocache --url URL args...`; its stdout, which must be a success.
fn memocache(url: &str, args: &[&str]) -> String {
    support::ok(&[&["--url", url], args].concat())
}

/// `memocache key` for a call, without the newline.
fn key(url: &str, namespace: &str, args: &str, kwargs: &str, skip: &[&str]) -> String {
    let mut argv = vec!["key", "-n", namespace, "--args", args, "--kwargs", kwargs];
    for name in skip {
        argv.extend(["--skip", name]);
    }
    memocache(url, &argv).trim_end().to_owned()
}

/// Caches `get_orders(42, status="shipped", request_id=...)` through the
/// reference, twice (the second is a hit), and prints the runs, the key and
/// the JSON text of the result.
const PYTHON_CACHES: &str = r#"
runs = []
def get_orders(user_id, status, request_id):
    runs.append(1)
    return {"user_id": user_id, "orders": ["o-1", "é😀"], "total": 2**70, "ratio": 1e-05, "at": datetime.datetime(2025, 10, 24, 10, 30)}
for request_id in ("r-1", "r-2"):
    result = cache_function(get_orders, REDIS, "cli:orders", 600, None, {"request_id"}, 42, status="shipped", request_id=request_id)
print(json.dumps({
    "runs": len(runs),
    "key": _cache_key_generator("cli:orders", (42,), {"status": "shipped"}, set()),
    "json": json.dumps(jsonable_encoder(result)),
}))
"#;

#[derive(Deserialize)]
struct Cached {
    runs: usize,
    key: String,
    json: String,
}

#[test]
fn key_and_get_read_what_the_reference_cached_and_clear_invalidates_it() {
    let server = RedisServer::start();
    let url = server.url();
    let python = Reference::get();
    let cached: Cached = serde_json::from_str(&python.run(&url, PYTHON_CACHES, "")).unwrap();
    assert_eq!(cached.runs, 1, "the reference's second call is a hit");

    let key = key(
        &url,
        "cli:orders",
        "[42]",
        r#"{"status": "shipped", "request_id": "r-9"}"#,
        &["request_id"],
    );
    assert_eq!(key, cached.key);
    assert_eq!(
        memocache(&url, &["get", &key]),
        format!("{}\n", cached.json)
    );
    assert!(cached.json.contains("1180591620717411303424"));
    assert!(cached.json.contains(r#""2025-10-24 10:30:00""#));
    let left: u64 = memocache(&url, &["ttl", &key]).trim().parse().unwrap();
    assert!((1..=600).contains(&left), "{left}");
    assert_eq!(
        memocache(&url, &["keys", "-n", "cli:orders"]),
        format!("{key}\n")
    );

    // Cleared with the CLI, the reference computes again.
    assert_eq!(memocache(&url, &["clear", "-n", "cli:orders"]), "1\n");
    let again: Cached = serde_json::from_str(&python.run(&url, PYTHON_CACHES, "")).unwrap();
    assert_eq!(again.runs, 1, "a miss after clear, then a hit");
}

/// Calls the reference for the entry `memocache put` wrote, with functions
/// that fail if they run: through `cache_function`, with a positional and a
/// keyword argument, and through a `cache_wrapper`-decorated function with
/// keyword arguments.
const PYTHON_HITS: &str = r#"
runs = []
def must_not_run(*args, **kwargs):
    runs.append(1)
    raise AssertionError("the function ran: not a hit")

@cache_wrapper(redis=REDIS, namespace="cli:report")
def report(customer, month):
    runs.append(1)
    raise AssertionError("report ran: not a hit")

first = cache_function(must_not_run, REDIS, "cli:profile", None, None, None, 7, lang="fr")
second = report(customer=7, month="2025-10")
print(json.dumps({"runs": len(runs), "profile": json.dumps(first), "report": json.dumps(second)}))
"#;

#[derive(Deserialize)]
struct Hits {
    runs: usize,
    profile: String,
    report: String,
}

#[test]
fn put_writes_entries_that_python_calls_hit_without_running() {
    let server = RedisServer::start();
    let url = server.url();
    let profile_key = key(&url, "cli:profile", "[7]", r#"{"lang": "fr"}"#, &[]);
    let report_key = key(
        &url,
        "cli:report",
        "[]",
        r#"{"customer": 7, "month": "2025-10"}"#,
        &[],
    );
    // Python's own JSON text of the values, so the comparison is exact.
    let profile = r#"{"id": 7, "name": "Zo\u00e9 \ud83d\ude00", "big": 1180591620717411303424, "ratio": 1e-05, "neg": -0.0, "tags": [], "meta": {"b": null, "a": true}}"#;
    let report = r#"[NaN, Infinity, 1e+16, 0.1]"#;
    memocache(&url, &["put", &profile_key, profile, "--expire", "600"]);
    memocache(&url, &["put", &report_key, report]);

    let hits: Hits = serde_json::from_str(&Reference::get().run(&url, PYTHON_HITS, "")).unwrap();
    assert_eq!(hits.runs, 0, "a Python function ran");
    assert_eq!(hits.profile, profile);
    assert_eq!(hits.report, report);
}
