//! `memocache --cluster` against a local Redis Cluster (three primaries,
//! three replicas) shared by this file's tests: single entries routed by
//! slot, whole namespaces over every primary, and the errors of `--url`.

use std::collections::BTreeSet;

use memocache_core::{Args, Memoizer};
use memocache_redis::redis_rs;
use memocache_redis::{RedisConfig, RedisStore};
use memocache_testkit::{RedisCluster, RedisServer};
use support::{fails, run as memocache};

mod support;

/// One seed node's URL: the CLI finds the other nodes through it.
fn seed() -> String {
    RedisCluster::shared().seed_urls()[0].clone()
}

/// Runs `memocache --cluster --url SEED args...`; its stdout, which must be
/// a success.
fn ok(args: &[&str]) -> String {
    support::ok(&[&["--cluster", "--url", &seed()], args].concat())
}

/// A plain connection to one node (no cluster routing).
fn node_connection(port: u16) -> redis_rs::Connection {
    redis_rs::Client::open(RedisCluster::shared().node(port).url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The keys matching `pattern` that each primary holds, primary by
/// primary.
fn keys_per_primary(pattern: &str) -> Vec<BTreeSet<String>> {
    RedisCluster::shared()
        .primaries()
        .into_iter()
        .map(|port| {
            redis_rs::cmd("KEYS")
                .arg(pattern)
                .query(&mut node_connection(port))
                .unwrap()
        })
        .collect()
}

/// A connection to the whole cluster, for setting up entries.
fn cluster_connection() -> redis_rs::cluster::ClusterConnection {
    redis_rs::cluster::ClusterClient::new(vec![seed()])
        .unwrap()
        .get_connection()
        .unwrap()
}

/// A key hash as memocache and the reference write it: 64 hex digits.
fn hash(i: u32) -> String {
    format!("{i:064x}")
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

#[test]
fn put_get_ttl_and_del_route_keys_by_slot() {
    let keys: Vec<String> = (0..12).map(|i| format!("cli:entry:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let json = format!(r#"{{"i": {i}, "name": "é"}}"#);
        assert_eq!(ok(&["put", key, &json, "--expire", "100"]), "");
        assert_eq!(
            ok(&["get", key]),
            format!("{{\"i\": {i}, \"name\": \"\\u00e9\"}}\n")
        );
    }
    let spread = keys_per_primary("cli:entry:*");
    assert!(
        spread.iter().filter(|held| !held.is_empty()).count() >= 2,
        "the keys should span several primaries: {spread:?}"
    );
    let left: u64 = ok(&["ttl", &keys[0]]).trim().parse().unwrap();
    assert!((1..=100).contains(&left), "{left}");
    ok(&["put", &keys[1], "[1]"]);
    assert_eq!(ok(&["ttl", &keys[1]]), "no expiry\n");

    // One DEL for keys in many slots, on several primaries.
    let mut del = vec!["del"];
    del.extend(keys.iter().map(String::as_str));
    del.push("cli:entry:missing");
    assert_eq!(ok(&del), "12\n");
    assert!(
        keys_per_primary("cli:entry:*")
            .iter()
            .all(BTreeSet::is_empty)
    );
    let seed = seed();
    let err = fails(&["--cluster", "--url", &seed, "get", &keys[3]]);
    assert_eq!(err, format!("memocache: no such key: {}\n", keys[3]));
}

#[test]
fn keys_stats_and_clear_cover_every_primary() {
    let ns = format!("cli:ns:{}", std::process::id());
    let mut cluster_connection = cluster_connection();
    let mut set = |key: &str, expire: Option<u64>| {
        let mut set = redis_rs::cmd("SET");
        set.arg(key)
            .arg(b"\x78\x9c\x03\x00\x00\x00\x00\x01".as_slice());
        if let Some(seconds) = expire {
            set.arg("EX").arg(seconds);
        }
        let () = set.query(&mut cluster_connection).unwrap();
    };
    // The namespace's entries: 600 with one hash (half of them expiring),
    // one with two, and the argument-less call's.
    let mut entries = BTreeSet::new();
    for i in 0..600 {
        let key = format!("{ns}:{}", hash(i));
        set(&key, (i % 2 == 0).then_some(1000));
        entries.insert(key);
    }
    let two = format!("{ns}:{}:{}", hash(1), hash(2));
    set(&two, None);
    entries.insert(two);
    set(&ns, Some(500));
    entries.insert(ns.clone());
    // Keys that are not the namespace's entries.
    let mut others = BTreeSet::new();
    for i in 0..20 {
        others.insert(format!("{ns}:sub:{}", hash(i)));
        others.insert(format!("{ns}x:{}", hash(i)));
    }
    others.insert(format!("{ns}:123"));
    for key in &others {
        set(key, None);
    }

    let spread = keys_per_primary(&format!("{ns}:*"));
    assert_eq!(spread.len(), 3);
    for held in &spread {
        assert!(
            held.iter().filter(|key| entries.contains(*key)).count() > 50,
            "the entries should be spread over every primary: {:?}",
            spread.iter().map(BTreeSet::len).collect::<Vec<_>>()
        );
    }

    assert_eq!(lines(&ok(&["keys", "-n", &ns])), entries);
    let under_prefix: BTreeSet<String> = entries
        .iter()
        .chain(&others)
        .filter(|key| !key.starts_with(&format!("{ns}x:")))
        .cloned()
        .collect();
    assert_eq!(lines(&ok(&["keys", "-n", &ns, "--prefix"])), under_prefix);

    let stats = ok(&["stats", "-n", &ns]);
    let field = |name: &str| -> String {
        stats
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
            .to_owned()
    };
    assert_eq!(field("keys"), "602");
    assert_eq!(field("no expiry"), "301");
    let total: u64 = field("total bytes").parse().unwrap();
    assert!(total > 602 * 8, "{stats}");
    let min: u64 = field("ttl min").trim_end_matches(" s").parse().unwrap();
    let max: u64 = field("ttl max").trim_end_matches(" s").parse().unwrap();
    assert!(min <= 500 && max > 500 && max <= 1000, "{stats}");

    assert_eq!(ok(&["clear", "-n", &ns]), "602\n");
    let left: BTreeSet<String> = keys_per_primary(&format!("{ns}*"))
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(left, others, "clear removes the entries, and only them");
    assert_eq!(ok(&["keys", "-n", &ns]), "");
    assert_eq!(ok(&["clear", "-n", &format!("{ns}:sub")]), "20\n");
    assert_eq!(ok(&["clear", "-n", &format!("{ns}x")]), "20\n");
    assert_eq!(ok(&["clear", "-n", &ns, "--prefix"]), "1\n");
}

#[tokio::test(flavor = "current_thread")]
async fn key_finds_what_a_memoizer_cached_on_the_cluster() {
    let ns = format!("cli:memo:{}", std::process::id());
    let config = RedisConfig::new().cluster([seed()]);
    let memo = Memoizer::builder(RedisStore::connect(&config).await.unwrap())
        .namespace(ns.clone())
        .write_behind(false)
        .build();
    let args = Args::new().arg(&7).kwarg("status", &"active");
    let cached: Vec<String> = memo
        .call(&args, || async { vec!["Ada".to_owned(), "é".to_owned()] })
        .await;
    assert_eq!(cached, ["Ada", "é"]);

    let out = memocache(&[
        "key",
        "-n",
        &ns,
        "--args",
        "[7]",
        "--kwargs",
        r#"{"status": "active"}"#,
    ]);
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    // Through another seed than the memoizer's: any node leads to the key.
    let other_seed = RedisCluster::shared().seed_urls()[4].clone();
    let out = memocache(&["--cluster", "--url", &other_seed, "get", &key]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "[\"Ada\", \"\\u00e9\"]\n"
    );
    assert_eq!(ok(&["keys", "-n", &ns]), format!("{key}\n"));
}

#[test]
fn several_urls_need_cluster_and_errors_are_clear() {
    let seeds = RedisCluster::shared().seed_urls();
    let both = format!("{},{}", seeds[0], seeds[1]);
    let err = fails(&["--url", &both, "get", "k"]);
    assert!(
        err.contains("2 Redis URLs given") && err.contains("add --cluster"),
        "{err}"
    );
    // Several seeds, repeated or comma-separated, with --cluster.
    ok(&["put", "cli:seeds", "[1]"]);
    let out = memocache(&[
        "--cluster",
        "--url",
        &both,
        "--url",
        &seeds[2],
        "get",
        "cli:seeds",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[1]\n", "{out:?}");

    // A cluster node without --cluster: namespaces are refused rather than
    // half scanned, and a key of another node says what to do.
    let err = fails(&["--url", &seeds[0], "keys", "-n", "cli"]);
    assert!(err.contains("Redis Cluster node: add --cluster"), "{err}");
    let elsewhere = (0..100)
        .map(|i| format!("cli:moved:{i}"))
        .find(|key| {
            redis_rs::cmd("GET")
                .arg(key)
                .query::<Option<Vec<u8>>>(&mut node_connection(
                    RedisCluster::shared().nodes()[0].port(),
                ))
                .is_err()
        })
        .expect("some key belongs to another node");
    let err = fails(&["--url", &seeds[0], "get", &elsewhere]);
    assert!(err.contains("add --cluster"), "{err}");

    // A plain server given as a cluster seed.
    let plain = RedisServer::start();
    let err = fails(&["--cluster", "--url", &plain.url(), "get", "k"]);
    assert!(
        err.contains(&format!("{} is not a Redis Cluster node", plain.url()))
            && err.contains("leave out --cluster"),
        "{err}"
    );
    // Unreachable seeds, named without their password.
    let dead = format!("redis://:s3cret-pw@127.0.0.1:{}", plain.port());
    plain.kill();
    let err = fails(&["--cluster", "--url", &dead, "stats", "-n", "cli"]);
    assert!(
        err.contains("cannot reach the Redis Cluster at redis://:<redacted>@127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let err = fails(&["--cluster", "--url", &format!("{}/2", seeds[0]), "get", "k"]);
    assert!(
        err.contains("bad --url") && err.contains("database 0"),
        "{err}"
    );
}
