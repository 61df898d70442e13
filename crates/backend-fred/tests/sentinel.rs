//! FredStore on a primary found through Redis Sentinel, beyond the
//! sentinel suite every client runs (tests/suites.rs): dead sentinels at
//! connect (clear errors, no password in them; a lazy store computes, and
//! serves once the sentinels are back); with client tracking, whose
//! listener is a connection of its own, a failover that keeps the old
//! primary up (a manual failover) or stops it (SIGSTOP, which leaves the
//! listener's subscription on it: only the sentinels' `+switch-master`
//! moves it) flushes the local tier and the new primary's changes are
//! reported.
//!
//! Failovers and reports are asynchronous: the checks poll for what they
//! wait for within a deadline, and assert nothing about timing.

use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{Args, Codec, Error, JsonZlib, LocalTier, Memoizer, Store};
use memocache_fred::fred::types::Value;
use memocache_fred::{FredBlockingStore, FredStore, RedisConfig};
use memocache_testkit::callers::Runs;
use memocache_testkit::{SentinelGroup, suites};
use support::{Peer, runs_of_two_calls, served_within};

mod support;

/// How long a failover, and the store's following it, may take.
const RECOVERY: Duration = Duration::from_secs(60);

fn memoizer<S: memocache_core::Backend>(store: S) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(unique_prefix("fred-sentinel"))
        .write_behind(false)
        .build()
}

fn tier_memo(store: FredStore) -> Memoizer<FredStore> {
    Memoizer::builder(store)
        .namespace(unique_prefix("fred-sentinel-tier"))
        .write_behind(false)
        .local_tier(LocalTier::bytes(1 << 20).max_ttl(Duration::from_secs(3600)))
        .build()
}

/// A store on the data node at `port` itself, not through the sentinels.
async fn on_node(group: &SentinelGroup, port: u16) -> FredStore {
    FredStore::connect(&RedisConfig::new().url(group.node(port).url()))
        .await
        .expect("a connection to the node")
}

/// [`runs_of_two_calls`] on the blocking path.
fn blocking_runs_of_two_calls(memo: &Memoizer<FredBlockingStore>, label: &str) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: String = memo.call_blocking(&Args::new().arg(&label), move || {
            r.run(format!("computed {label}"))
        });
        assert_eq!(value, format!("computed {label}"), "a wrong value");
    }
    runs.count()
}

/// Calls with new arguments each round until a second call is served from
/// the store, within [`RECOVERY`]; answers the label that was cached.
async fn until_cached(memo: &Memoizer<FredStore>, what: &str) -> String {
    let start = Instant::now();
    for round in 0.. {
        let label = format!("{what} {round}");
        if runs_of_two_calls(memo, &label).await == 1 {
            return label;
        }
        assert!(
            start.elapsed() < RECOVERY,
            "{what}: nothing cached within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// Writes `value` at `key` as another process would.
async fn write_elsewhere(other: &FredStore, key: &str, value: &str) {
    let bytes = JsonZlib::default().encode(&value).unwrap();
    other.set(key, bytes.into(), None).await.unwrap();
}

/// After a failover to `new`: the tier was flushed (it had flushed
/// `flushed` times before), a call's value is held locally again, it is
/// on the new primary, and a write there by another connection is served.
async fn tracks_on_the_new_primary(
    memo: &Memoizer<FredStore>,
    group: &SentinelGroup,
    new: u16,
    flushed: u64,
) {
    let after = Args::new().kwarg("user_id", &2);
    until_held_locally(memo, &after, "v1").await;
    assert!(flushes(memo) > flushed, "the failover flushed nothing");
    let other = on_node(group, new).await;
    let key = memo.key(&after).unwrap();
    assert!(
        other.get(&key).await.unwrap().is_some(),
        "not on the new primary"
    );
    write_elsewhere(&other, &key, "v2").await;
    served_within(memo, &after, "v2").await;
}

/// The local tier's hits so far.
fn local_hits<S>(memo: &Memoizer<S>) -> u64 {
    memo.stats().tier.expect("a tier").hits
}

/// The local tier's flushes so far.
fn flushes<S>(memo: &Memoizer<S>) -> u64 {
    memo.stats().tier.expect("a tier").flushes
}

/// Calls (each computing `value`, and answering it) until a call is a
/// local hit, within [`RECOVERY`]: the value is in the store and the tier
/// keeps a tracked copy.
async fn until_held_locally(memo: &Memoizer<FredStore>, args: &Args, value: &str) {
    let start = Instant::now();
    loop {
        let hits = local_hits(memo);
        let got: String = memo.call(args, || async { value.to_owned() }).await;
        assert_eq!(got, value, "a wrong value");
        if local_hits(memo) > hits {
            return;
        }
        assert!(
            start.elapsed() < RECOVERY,
            "no local copy of {value:?} within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The error of a connection that should have failed.
fn refused<T: std::fmt::Debug>(result: memocache_core::Result<T>) -> Error {
    result.expect_err("connected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_sentinels_are_a_clear_error_and_a_lazy_store_computes_until_they_are_back() {
    let group = SentinelGroup::start();
    for sentinel in group.sentinels() {
        sentinel.kill();
    }
    let ports: Vec<u16> = group.sentinels().iter().map(|s| s.port()).collect();
    // Credentials that must show nowhere.
    let urls: Vec<String> = ports
        .iter()
        .map(|port| format!("redis://:s3nt1nel@127.0.0.1:{port}"))
        .collect();
    let with_passwords = RedisConfig::new()
        .sentinel(SentinelGroup::MASTER, urls)
        .password("d4ta");
    let listed = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = format!(
        "cannot connect to the primary `{}` of the sentinels {listed}",
        SentinelGroup::MASTER
    );
    let blocking_config = with_passwords.clone();
    for error in [
        refused(FredStore::connect(&group.config()).await),
        refused(FredStore::connect(&with_passwords).await),
        refused(FredStore::connect(&group.config().client_tracking(true)).await),
        refused(
            tokio::task::spawn_blocking(move || FredBlockingStore::connect(&blocking_config))
                .await
                .unwrap(),
        ),
    ] {
        suites::assert_backend_error(&error, "fred");
        let message = error.report().to_string();
        assert!(message.contains(&expected), "{message}");
        // What each sentinel answered.
        for port in &ports {
            assert!(
                message.contains(&format!("127.0.0.1:{port}: ")),
                "{message}"
            );
        }
        assert!(
            !message.contains("s3nt1nel") && !message.contains("d4ta"),
            "{message}"
        );
        assert!(!format!("{error:?}").contains("s3nt1nel"));
    }

    let lazy = FredStore::connect_lazy(&with_passwords).expect("a lazy store needs no sentinel");
    assert!(!format!("{lazy:?}").contains("s3nt1nel"));
    let error = lazy.get("k").await.expect_err("served without sentinels");
    let message = error.report().to_string();
    assert!(
        message.contains(&format!(
            "not connected to the primary `{}`",
            SentinelGroup::MASTER
        )),
        "{message}"
    );
    let memo_lazy = memoizer(FredStore::connect_lazy(&group.config()).unwrap());
    assert_eq!(runs_of_two_calls(&memo_lazy, "no sentinel").await, 2);
    let blocking_config = group.config();
    let blocking_runs = tokio::task::spawn_blocking(move || {
        let memo = memoizer(FredBlockingStore::connect_lazy(&blocking_config).unwrap());
        blocking_runs_of_two_calls(&memo, "no sentinel")
    })
    .await
    .unwrap();
    assert_eq!(blocking_runs, 2, "cached without sentinels");

    tokio::task::block_in_place(|| {
        for sentinel in group.sentinels() {
            sentinel.restart();
        }
    });
    until_cached(&memo_lazy, "sentinels back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracking_a_failover_that_keeps_the_old_primary_up_is_followed() {
    let group = SentinelGroup::start();
    let store = FredStore::connect(&group.config().client_tracking(true))
        .await
        .unwrap();
    let memo = tier_memo(store);
    let before = Args::new().kwarg("user_id", &1);
    until_held_locally(&memo, &before, "old").await;

    let flushed = flushes(&memo);
    let old = group.primary_port();
    let sentinel = Peer::connect(&group.sentinel_urls()[0]).await;
    let reply = sentinel
        .command(
            "SENTINEL",
            vec![Value::from("FAILOVER"), Value::from(SentinelGroup::MASTER)],
        )
        .await;
    assert_eq!(reply.as_str().as_deref(), Some("OK"));
    let new = tokio::task::block_in_place(|| {
        let new = group.wait_for_failover(old);
        // The sentinels demote the old primary a while later: until then
        // it is a primary too, which a sentinel that has not seen the
        // failover yet may name.
        let start = Instant::now();
        while group.role(old) != "slave" {
            assert!(
                start.elapsed() < RECOVERY,
                "the old primary {old} is no replica {RECOVERY:?} after the failover"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        new
    });

    tracks_on_the_new_primary(&memo, &group, new, flushed).await;
}

/// A primary that stops answering (SIGSTOP) keeps its connections open:
/// the pool's commands time out and fred replaces its connection, but the
/// listener's subscription sends nothing, and without TCP keepalive
/// nothing ever tells it the node is gone; only the sentinels'
/// `+switch-master` moves it to the new primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracking_the_listener_leaves_a_primary_that_stopped_answering() {
    let group = SentinelGroup::start();
    let config = group.config().client_tracking(true).keepalive(false);
    let store = FredStore::connect(&config).await.unwrap();
    let memo = tier_memo(store);
    let before = Args::new().kwarg("user_id", &1);
    until_held_locally(&memo, &before, "old").await;

    let flushed = flushes(&memo);
    let old = group.primary_port();
    group.node(old).pause();
    let new = tokio::task::block_in_place(|| group.wait_for_failover(old));
    tracks_on_the_new_primary(&memo, &group, new, flushed).await;
    group.node(old).resume();
}
