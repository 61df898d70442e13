//! `memocache --sentinel URL --master NAME` against a real Sentinel group
//! (one primary, two replicas, three sentinels): every command reaches the
//! primary the sentinels name, before and after a failover, and a wrong
//! name or missing option is a clear error.

use memocache_testkit::SentinelGroup;
use support::fails;

mod support;

/// `--sentinel` with every sentinel, comma-separated, and `--master`.
fn through(group: &SentinelGroup) -> Vec<String> {
    vec![
        "--sentinel".to_owned(),
        group.sentinel_urls().join(","),
        "--master".to_owned(),
        SentinelGroup::MASTER.to_owned(),
    ]
}

/// Runs `memocache` through `group`'s sentinels; its stdout, which must be
/// a success.
fn ok(group: &SentinelGroup, args: &[&str]) -> String {
    let options = through(group);
    let mut all: Vec<&str> = options.iter().map(String::as_str).collect();
    all.extend(args);
    support::ok(&all)
}

/// `memocache --url` straight to the data node on `port`.
fn on_node(group: &SentinelGroup, port: u16, args: &[&str]) -> String {
    support::ok(&[&["--url", &group.node(port).url()], args].concat())
}

/// The reference's key of a call with `args` in namespace `ns`.
fn key(args: &str) -> String {
    support::ok(&["key", "-n", "ns", "--args", args])
        .trim()
        .to_owned()
}

#[test]
fn every_command_works_through_the_sentinels_before_and_after_a_failover() {
    let group = SentinelGroup::start();
    let (a, b, c) = (key("[1]"), key("[2]"), key("[3]"));
    assert_eq!(ok(&group, &["put", &a, "[1]", "--expire", "600"]), "");
    assert_eq!(ok(&group, &["get", &a]), "[1]\n");
    let primary = group.primary_port();
    assert_eq!(on_node(&group, primary, &["get", &a]), "[1]\n");
    let ttl: u64 = ok(&group, &["ttl", &a]).trim().parse().expect("seconds");
    assert!((1..=600).contains(&ttl), "{ttl}");
    assert_eq!(ok(&group, &["put", &b, "{\"x\": 2}"]), "");
    let mut listed: Vec<String> = ok(&group, &["keys", "-n", "ns"])
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        ok(&group, &["stats", "-n", "ns"]).contains("keys"),
        "stats printed no key count"
    );

    // Replication is asynchronous: the entries are on both replicas
    // before the primary goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for replica in group
        .nodes()
        .iter()
        .map(|n| n.port())
        .filter(|&p| p != primary)
    {
        let url = group.node(replica).url();
        while !support::run(&["--url", &url, "get", &b]).status.success() {
            assert!(std::time::Instant::now() < deadline, "not replicated");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let old = group.kill_primary();
    let new = group.wait_for_failover(old);
    assert_eq!(ok(&group, &["put", &c, "[3]"]), "");
    assert_eq!(on_node(&group, new, &["get", &c]), "[3]\n");
    assert_eq!(ok(&group, &["del", &c]), "1\n");
    // The entries written before the failover were replicated.
    assert_eq!(ok(&group, &["clear", "-n", "ns"]), "2\n");
    assert_eq!(ok(&group, &["keys", "-n", "ns"]), "");
}

#[test]
fn wrong_or_missing_sentinel_options_are_clear_errors() {
    let group = SentinelGroup::start();
    let sentinels = group.sentinel_urls().join(",");
    let err = fails(&["--sentinel", &sentinels, "--master", "nope", "get", "k"]);
    assert!(err.contains("--sentinel/--master"), "{err}");
    assert!(err.contains("no master named `nope`"), "{err}");

    let err = fails(&["--sentinel", &sentinels, "get", "k"]);
    assert!(err.contains("--sentinel needs --master"), "{err}");
    let err = fails(&["--master", SentinelGroup::MASTER, "get", "k"]);
    assert!(err.contains("--master needs the sentinels"), "{err}");
    let err = fails(&[
        "--sentinel",
        &sentinels,
        "--master",
        SentinelGroup::MASTER,
        "--url",
        "redis://127.0.0.1:1",
        "get",
        "k",
    ]);
    assert!(err.contains("give one of them"), "{err}");

    for sentinel in group.sentinels() {
        sentinel.kill();
    }
    let err = fails(&[
        "--sentinel",
        &sentinels,
        "--master",
        SentinelGroup::MASTER,
        "--password",
        "s3cret",
        "get",
        "k",
    ]);
    assert!(
        err.contains("cannot reach the primary through the sentinels"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
