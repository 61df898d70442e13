//! The subcommands that talk to Redis, against throwaway redis-servers:
//! `get`, `put`, `del`, `ttl`, `keys`, `clear`, `stats`, and the errors of
//! `--url`.

use memocache_core::{Compression, Zlib};
use memocache_redis::redis_rs;
use memocache_testkit::RedisServer;
use support::{fails, run as memocache};

mod support;

/// Runs `memocache --url URL args...`; its stdout, which must be a success.
fn ok(url: &str, args: &[&str]) -> String {
    support::ok(&[&["--url", url], args].concat())
}

fn connection(server: &RedisServer) -> redis_rs::Connection {
    redis_rs::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn raw_set(server: &RedisServer, key: &str, value: &[u8]) {
    let () = redis_rs::cmd("SET")
        .arg(key)
        .arg(value)
        .query(&mut connection(server))
        .unwrap();
}

fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    redis_rs::cmd("GET")
        .arg(key)
        .query(&mut connection(server))
        .unwrap()
}

/// The reference's key for a call, through `memocache key`.
fn key(namespace: &str, args: &str, kwargs: &str) -> String {
    let out = memocache(&["key", "-n", namespace, "--args", args, "--kwargs", kwargs]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[test]
fn put_then_get_prints_the_exact_python_json() {
    let server = RedisServer::start();
    let url = server.url();
    let json = r#"{"b": 1, "a": [1180591620717411303424, NaN, -0.0, 1e16, 1e-5, "é😀\u007f", null, true]}"#;
    assert_eq!(ok(&url, &["put", "k", json]), "");
    // Python's text: ", " and ": ", float repr, \u escapes, big ints exact.
    let python = r#"{"b": 1, "a": [1180591620717411303424, NaN, -0.0, 1e+16, 1e-05, "\u00e9\ud83d\ude00\u007f", null, true]}"#;
    assert_eq!(ok(&url, &["get", "k"]), format!("{python}\n"));
    // Stored as the reference stores it: zlib of that text.
    let stored = raw_get(&server, "k").unwrap();
    let text = Zlib::default().decompress(&stored, 1 << 20).unwrap();
    assert_eq!(text.as_ref(), python.as_bytes());
}

#[test]
fn every_codec_round_trips_and_a_wrong_one_says_which_to_use() {
    let server = RedisServer::start();
    let url = server.url();
    let json = r#"{"id": 7, "tags": ["a", "\u00e9"], "score": 2.5, "none": null}"#;
    for codec in ["json-zlib", "json-zstd", "json", "msgpack-zstd", "msgpack"] {
        let key = format!("codec:{codec}");
        ok(&url, &["--codec", codec, "put", &key, json]);
        assert_eq!(
            ok(&url, &["--codec", codec, "get", &key]),
            format!("{json}\n"),
            "{codec}"
        );
    }
    let err = fails(&["--url", &url, "get", "codec:json-zstd"]);
    assert!(err.contains("is not a zlib stream"), "{err}");
    assert!(
        err.contains("try --codec json-zstd or --codec msgpack-zstd"),
        "{err}"
    );
    let err = fails(&["--url", &url, "get", "codec:json"]);
    assert!(err.contains("try --codec json"), "{err}");
    let err = fails(&[
        "--url",
        &url,
        "--codec",
        "msgpack",
        "put",
        "big",
        "[1180591620717411303424]",
    ]);
    assert!(err.contains("does not fit MessagePack"), "{err}");
}

#[test]
fn get_says_why_a_value_cannot_be_read() {
    let server = RedisServer::start();
    let url = server.url();
    let err = fails(&["--url", &url, "get", "missing"]);
    assert_eq!(err, "memocache: no such key: missing\n");

    raw_set(&server, "garbage", b"hello");
    let err = fails(&["--url", &url, "get", "garbage"]);
    assert!(
        err.contains("the value at garbage is not a zlib stream"),
        "{err}"
    );

    let not_json = Zlib::default().compress(b"{oops".to_vec()).unwrap();
    raw_set(&server, "not-json", &not_json);
    let err = fails(&["--url", &url, "get", "not-json"]);
    assert!(err.contains("zlib-compressed but not JSON"), "{err}");

    raw_set(&server, "empty", b"");
    let err = fails(&["--url", &url, "get", "empty"]);
    assert!(err.contains("is empty"), "{err}");

    let err = fails(&["--url", &url, "put", "k", "{\"a\": }"]);
    assert!(err.contains("JSON is not valid"), "{err}");
}

#[test]
fn ttl_reports_expiry_and_del_counts() {
    let server = RedisServer::start();
    let url = server.url();
    ok(&url, &["put", "short", "1", "--expire", "100"]);
    ok(&url, &["put", "forever", "2"]);
    ok(&url, &["put", "zero", "3", "--expire", "0"]);
    let left: u64 = ok(&url, &["ttl", "short"]).trim().parse().unwrap();
    assert!((1..=100).contains(&left), "{left}");
    assert_eq!(ok(&url, &["ttl", "forever"]), "no expiry\n");
    assert_eq!(
        ok(&url, &["ttl", "zero"]),
        "no expiry\n",
        "0 means no expiry"
    );
    assert_eq!(
        fails(&["--url", &url, "ttl", "missing"]),
        "memocache: no such key: missing\n"
    );

    assert_eq!(ok(&url, &["del", "short", "forever", "missing"]), "2\n");
    assert_eq!(ok(&url, &["del", "short"]), "0\n");
    assert_eq!(raw_get(&server, "forever"), None);
    assert!(raw_get(&server, "zero").is_some());
}

/// Entries of namespace `ns`, a nested namespace's entry, and keys that
/// merely start with `ns:`.
struct Fixture {
    server: RedisServer,
    entries: Vec<String>,
    nested: String,
}

fn fixture() -> Fixture {
    let server = RedisServer::start();
    let url = server.url();
    let mut entries = vec![
        key("ns", "[]", "{}"),
        key("ns", "[1]", "{}"),
        key("ns", "[2]", "{}"),
        key("ns", "[]", r#"{"a": 1}"#),
        key("ns", "[1]", r#"{"a": 1}"#),
    ];
    assert_eq!(entries[0], "ns");
    for (i, entry) in entries.iter().enumerate() {
        let expire = ["100", "200", "0", "0", "150"][i];
        ok(&url, &["put", entry, &format!("[{i}]"), "--expire", expire]);
    }
    // A big value, uncompressed, to be the largest.
    let big = format!(
        "[{}]",
        vec!["\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""; 200].join(", ")
    );
    ok(&url, &["--codec", "json", "put", &entries[2], &big]);
    let nested = key("ns:sub", "[1]", "{}");
    ok(&url, &["put", &nested, "1"]);
    ok(&url, &["put", "ns:123", "\"a service's own key\""]);
    ok(&url, &["put", "nsx", "1"]);
    entries.sort();
    Fixture {
        server,
        entries,
        nested,
    }
}

fn lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn keys_lists_a_namespace_entries_and_prefix_everything_under_it() {
    let f = fixture();
    let url = f.server.url();
    assert_eq!(lines(&ok(&url, &["keys", "--namespace", "ns"])), f.entries);
    let mut everything = f.entries.clone();
    everything.extend([f.nested.clone(), "ns:123".to_owned()]);
    everything.sort();
    assert_eq!(
        lines(&ok(&url, &["keys", "-n", "ns", "--prefix"])),
        everything
    );
    assert_eq!(ok(&url, &["keys", "-n", "other"]), "");
}

#[test]
fn stats_counts_sizes_and_expiries() {
    let f = fixture();
    let url = f.server.url();
    let report = ok(&url, &["stats", "--namespace", "ns"]);
    let field = |name: &str| -> String {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .to_owned()
    };
    assert_eq!(field("keys"), "5", "{report}");
    let total: u64 = field("total bytes").parse().unwrap();
    let largest = field("largest");
    let (bytes, key) = largest.split_once(" bytes, ").unwrap();
    let bytes: u64 = bytes.parse().unwrap();
    assert_eq!(key, key_of_call_2(), "{report}");
    assert!(bytes > 6800 && total > bytes, "{report}");
    // Expiries: 100, 150 and 200 s were set (the big value's put dropped
    // the 0 it had anyway); min and max are at most those.
    let min: u64 = field("ttl min").trim_end_matches(" s").parse().unwrap();
    let max: u64 = field("ttl max").trim_end_matches(" s").parse().unwrap();
    assert!(
        min <= 100 && (101..=200).contains(&max) && min < max,
        "{report}"
    );
    assert_eq!(field("no expiry"), "2", "{report}");

    assert_eq!(
        ok(&url, &["stats", "-n", "empty"]),
        "keys: 0\ntotal bytes: 0\nttl: none expires\nno expiry: 0\n"
    );
}

fn key_of_call_2() -> String {
    key("ns", "[2]", "{}")
}

#[test]
fn clear_removes_the_namespace_entries_only() {
    let f = fixture();
    let url = f.server.url();
    assert_eq!(ok(&url, &["clear", "--namespace", "ns"]), "5\n");
    assert_eq!(ok(&url, &["keys", "-n", "ns"]), "");
    for survivor in [f.nested.as_str(), "ns:123", "nsx"] {
        assert!(
            raw_get(&f.server, survivor).is_some(),
            "{survivor} was deleted"
        );
    }
    assert_eq!(ok(&url, &["clear", "-n", "ns"]), "0\n");
    assert_eq!(ok(&url, &["clear", "-n", "ns", "--prefix"]), "2\n");
    assert!(raw_get(&f.server, "nsx").is_some());
}

#[test]
fn clear_goes_through_many_scan_batches_and_escapes_glob_characters() {
    let server = RedisServer::start();
    let url = server.url();
    let mut connection = connection(&server);
    let hash = |i: u32| format!("{i:064x}");
    let mut pipe = redis_rs::pipe();
    for i in 0..2500 {
        pipe.cmd("SET")
            .arg(format!("n*s:{}", hash(i)))
            .arg("v")
            .ignore();
        pipe.cmd("SET")
            .arg(format!("nXs:{}", hash(i)))
            .arg("v")
            .ignore();
    }
    let () = pipe.query(&mut connection).unwrap();
    assert_eq!(ok(&url, &["keys", "-n", "n*s"]).lines().count(), 2500);
    assert!(ok(&url, &["stats", "-n", "n*s"]).starts_with("keys: 2500\n"));
    assert_eq!(ok(&url, &["clear", "-n", "n*s"]), "2500\n");
    let left: u64 = redis_rs::cmd("DBSIZE").query(&mut connection).unwrap();
    assert_eq!(
        left, 2500,
        "the nXs keys, which `n*s` must not match, are left"
    );
}

#[test]
fn an_empty_namespace_is_refused_before_connecting() {
    let err = fails(&["--url", "redis://127.0.0.1:1", "clear", "--namespace", ""]);
    assert!(err.contains("refusing an empty --namespace"), "{err}");
    let err = fails(&["--url", "redis://127.0.0.1:1", "keys", "-n", ""]);
    assert!(err.contains("refusing an empty --namespace"), "{err}");
}

#[test]
fn url_errors_are_clear_and_never_show_the_password() {
    // A port nobody listens on: a server started and killed.
    let server = RedisServer::start();
    let dead = format!("redis://app:s3cret-pw@127.0.0.1:{}/0", server.port());
    server.kill();
    let err = fails(&["--url", &dead, "get", "k"]);
    assert!(
        err.contains("cannot reach Redis at redis://app:<redacted>@127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    let err = fails(&["--url", "http://example.com", "get", "k"]);
    assert!(
        err.contains("bad --url") && err.contains("unsupported url scheme `http`"),
        "{err}"
    );
    let err = fails(&[
        "--url",
        "redis://u:s3cret-pw@127.0.0.1:1/999999999999",
        "ttl",
        "k",
    ]);
    assert!(
        err.contains("bad --url") && err.contains("database index"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    for several in [
        &["--url", "redis://a:1,redis://:s3cret-pw@b:2", "get", "k"][..],
        &["--url", "redis://a:1", "--url", "redis://b:2", "get", "k"],
    ] {
        let err = fails(several);
        assert!(err.contains("add --cluster"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
    let err = fails(&["get", "k"]);
    assert!(
        err.contains("no Redis URL") && err.contains("REDIS_URL"),
        "{err}"
    );
}

#[test]
fn redis_url_comes_from_the_environment_and_stays_out_of_help() {
    let server = RedisServer::start();
    let run = |args: &[&str], url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_memocache"))
            .env("REDIS_URL", url)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["put", "k", "[1]"], &server.url()).status.success());
    let out = run(&["get", "k"], &server.url());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "[1]\n");
    // --url wins over the environment.
    let out = run(&["--url", &server.url(), "get", "k"], "redis://127.0.0.1:1");
    assert!(out.status.success(), "{out:?}");

    let secret = "redis://:s3cret-pw@127.0.0.1:1";
    let help = run(&["--help"], secret);
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("REDIS_URL") && !help.contains("s3cret"),
        "{help}"
    );
    // Commands that need no Redis ignore it, even with several URLs.
    let out = run(&["key", "-n", "ns"], "redis://a:1,redis://b:2");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "ns\n");
}

#[test]
fn ca_cert_trusts_a_private_ca_for_tls() {
    let server = RedisServer::start_tls();
    let url = server.url();
    let ca_file = server.ca_file().expect("a TLS server");
    let ca = ca_file.to_str().unwrap();
    let tls = |args: &[&str]| support::ok(&[&["--url", &url, "--ca-cert", ca], args].concat());
    tls(&["put", "tls:k", "[1]"]);
    assert_eq!(tls(&["get", "tls:k"]), "[1]\n");
    // Through the plain connection the namespace commands use.
    assert_eq!(tls(&["keys", "-n", "tls", "--prefix"]), "tls:k\n");

    // The system's roots do not trust the test CA.
    let err = fails(&["--url", &url, "get", "tls:k"]);
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let err = fails(&["--url", "redis://127.0.0.1:1", "--ca-cert", ca, "get", "k"]);
    assert!(err.contains("--ca-cert is for TLS"), "{err}");
    let missing = ca_file.with_file_name("missing.pem");
    let missing = missing.to_str().unwrap();
    let err = fails(&["--url", &url, "--ca-cert", missing, "get", "k"]);
    assert!(
        err.contains("cannot read --ca-cert") && err.contains("missing.pem"),
        "{err}"
    );
    let not_pem = ca_file.with_file_name("server.key");
    let err = fails(&[
        "--url",
        &url,
        "--ca-cert",
        not_pem.to_str().unwrap(),
        "get",
        "k",
    ]);
    assert!(err.contains("bad --ca-cert"), "{err}");
}
