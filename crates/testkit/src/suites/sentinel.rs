//! Redis Sentinel ([`RedisConfig::sentinel`]) against a real group of one
//! primary, two replicas and three sentinels: the stores find the primary
//! through the sentinels and cache there; under load from 32 callers, a
//! SIGKILLed primary costs no wrong value and no error reaching a caller,
//! and caching resumes on the promoted replica, where what is written
//! afterwards lands; a wrong master name and sentinels that are all down
//! are clear errors at connect, while lazily built stores still serve
//! computed values. (The local tier across a failover is checked by the
//! [`tier`](super::tier) suite.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{Args, Error, Memoizer, Store};
use memocache_redis_plumbing::config::RedisConfig;

use super::tls::when_built_with_tls;
use super::{Client, connect_blocking, runs_of_two_blocking_calls, runs_of_two_calls};
use crate::callers::{Policy, Stores};
use crate::load::Load;
use crate::{SentinelGroup, redis_cli};

/// Starts a group, off the async runtime's threads.
async fn group() -> Arc<SentinelGroup> {
    tokio::task::spawn_blocking(|| Arc::new(SentinelGroup::start()))
        .await
        .expect("starting the sentinel group panicked")
}

/// Whether the data node on `port` holds `key`.
fn holds(port: u16, key: &str) -> bool {
    redis_cli(port, &["EXISTS", key]).trim() == "1"
}

/// Both stores connect through the sentinels and cache on the primary.
pub async fn the_stores_find_the_primary_and_cache_there<C: Client>() {
    let group = group().await;
    let config = group.config();
    let memo = Memoizer::builder(C::connect(&config).await.expect("connect"))
        .namespace(unique_prefix("sentinel"))
        .write_behind(false)
        .build();
    assert_eq!(runs_of_two_calls(&memo).await, 1, "not cached");
    let key = memo.key(&Args::new().arg(&3)).expect("a key");
    assert!(holds(group.primary_port(), &key), "not on the primary");

    let blocking = connect_blocking::<C>(&config).await.expect("connect");
    let memo = Memoizer::builder(blocking)
        .namespace(unique_prefix("sentinel-blocking"))
        .write_behind(false)
        .build();
    let runs = tokio::task::spawn_blocking(move || runs_of_two_blocking_calls(&memo))
        .await
        .expect("the blocking calls panicked");
    assert_eq!(runs, 1, "not cached by the blocking store");
}

/// 32 callers (24 async, 8 blocking) call through both stores while the
/// primary is SIGKILLed: every value is correct (no error reaches a
/// caller: a failed store call is a computed one), caching resumes on the
/// promoted replica, and what is written afterwards is there. Prints the
/// sentinels' failover time and how long caching took to resume after it.
pub async fn a_killed_primary_under_load_fails_over_to_the_promoted_replica<C: Client>() {
    let group = group().await;
    let config = group.config();
    let stores = Stores {
        async_store: Arc::new(C::connect(&config).await.expect("connect")),
        blocking_store: Some(Arc::new(
            connect_blocking::<C>(&config).await.expect("connect"),
        )),
    };
    let policy = Policy {
        namespace: unique_prefix("sentinel-failover"),
        ..Policy::default()
    };
    let load = Load::start(&stores, &policy);
    load.wait_for_caching(Duration::from_secs(20)).await;
    assert!(load.served() > 0, "caching works before the failover");

    let killed = Instant::now();
    let failing_over = Arc::clone(&group);
    let (old, new) = tokio::task::spawn_blocking(move || {
        let old = failing_over.kill_primary();
        (old, failing_over.wait_for_failover(old))
    })
    .await
    .expect("the failover panicked");
    let failed_over = killed.elapsed();
    let resumed = load.wait_for_caching(Duration::from_secs(60)).await;
    let stats = load.stats();
    let calls = load.finish().await;
    println!(
        "{} sentinel failover: {calls} calls, all correct; the sentinels promoted the replica \
         on port {new} {failed_over:?} after the kill of port {old}; caching resumed \
         {resumed:?} after that; {stats:?}",
        C::BACKEND
    );

    // Written after the failover: on the new primary.
    let memo = policy.build(Arc::clone(&stores.async_store));
    let args = Args::new().arg(&"after the failover");
    let _: u32 = memo.call(&args, || async { 7 }).await;
    memo.flush().await;
    let key = memo.key(&args).expect("a key");
    assert!(
        holds(new, &key),
        "the write after the failover is not on the new primary"
    );
}

/// A failover the sentinels are asked for (`SENTINEL FAILOVER`) from a
/// primary that cannot be demoted: it stays a primary that takes writes,
/// and the stores' connections to it stay up, so only the sentinels'
/// `+switch-master` can tell the stores. Both move, and what they write
/// afterwards lands on the new primary.
pub async fn the_sentinels_switch_master_alone_moves_the_stores<C: Client>() {
    let group =
        tokio::task::spawn_blocking(|| Arc::new(SentinelGroup::start_with_a_primary_that_stays()))
            .await
            .expect("starting the sentinel group panicked");
    let config = group.config();
    let memo = Memoizer::builder(C::connect(&config).await.expect("connect"))
        .namespace(unique_prefix("sentinel-switch"))
        .write_behind(false)
        .build();
    let blocking = Memoizer::builder(connect_blocking::<C>(&config).await.expect("connect"))
        .namespace(unique_prefix("sentinel-switch-blocking"))
        .write_behind(false)
        .build();
    assert_eq!(runs_of_two_calls(&memo).await, 1, "not cached");

    let failing_over = Arc::clone(&group);
    let (old, new) = tokio::task::spawn_blocking(move || {
        let old = failing_over.primary_port();
        let sentinel = failing_over.sentinels()[0].port();
        let asked = redis_cli(sentinel, &["SENTINEL", "FAILOVER", SentinelGroup::MASTER]);
        assert_eq!(asked.trim(), "OK", "the sentinel refused the failover");
        (old, failing_over.wait_for_failover(old))
    })
    .await
    .expect("the failover panicked");
    let started = Instant::now();
    for n in 0.. {
        let args = Args::new().arg(&n);
        let _: u32 = memo.call(&args, || async { 1 }).await;
        let blocking = blocking.clone();
        let blocking_args = args.clone();
        let blocking_key = tokio::task::spawn_blocking(move || {
            let _: u32 = blocking.call_blocking(&blocking_args, || 1);
            blocking.key(&blocking_args).expect("a key")
        })
        .await
        .expect("the blocking call panicked");
        let key = memo.key(&args).expect("a key");
        if holds(new, &key) && holds(new, &blocking_key) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stores still do not write to the new primary on port {new}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{}: after a requested failover from port {old} to {new}, writes reached the new \
         primary {:?} after the sentinels agreed",
        C::BACKEND,
        started.elapsed()
    );
    assert_eq!(
        group.role(old),
        "master",
        "the old primary was demoted after all"
    );
}

/// The sentinels and the data nodes, each with an ACL user of its own:
/// the stores reach the sentinels as the user in their URLs and the data
/// nodes as the configuration's; a wrong sentinel password is an error at
/// connect that shows no password.
pub async fn each_side_is_reached_with_its_own_credentials<C: Client>() {
    let group = tokio::task::spawn_blocking(|| {
        SentinelGroup::start_with_users(("app", "data-pw"), ("watcher", "sentinel-pw"))
    })
    .await
    .expect("starting the sentinel group panicked");
    let sentinels = |password: &str| -> Vec<String> {
        group
            .sentinels()
            .iter()
            .map(|s| format!("redis://watcher:{password}@127.0.0.1:{}", s.port()))
            .collect()
    };
    let config = RedisConfig::new()
        .sentinel(SentinelGroup::MASTER, sentinels("sentinel-pw"))
        .username("app")
        .password("data-pw");
    let memo = Memoizer::builder(C::connect(&config).await.expect("connect"))
        .namespace(unique_prefix("sentinel-users"))
        .write_behind(false)
        .build();
    assert_eq!(runs_of_two_calls(&memo).await, 1, "not cached");
    let primary = redis_cli(group.primary_port(), &["CLIENT", "LIST"]);
    assert!(
        primary.contains(" user=app "),
        "no connection as app: {primary}"
    );
    // The subscriptions to +switch-master are made in the background.
    let started = Instant::now();
    while !group
        .sentinels()
        .iter()
        .all(|s| redis_cli(s.port(), &["CLIENT", "LIST"]).contains(" user=watcher "))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not every sentinel has a connection as watcher"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let wrong = config.sentinel(SentinelGroup::MASTER, sentinels("wrong-pw"));
    let error = C::connect(&wrong).await.expect_err("connected");
    let report = error.report().to_string();
    assert!(report.contains(SentinelGroup::MASTER), "{report}");
    for password in ["wrong-pw", "data-pw", "sentinel-pw"] {
        assert!(!report.contains(password), "{report}");
    }
}

/// The sentinels reached over TLS (their URLs name only their TLS ports),
/// the data nodes over plain TCP: a store that takes each side's own TLS
/// settings caches; one that cannot refuses them at connect, saying so.
pub async fn the_sentinels_over_tls_the_data_nodes_without<C: Client>() {
    let group = tokio::task::spawn_blocking(SentinelGroup::start_with_tls_sentinels)
        .await
        .expect("starting the sentinel group panicked");
    let config = RedisConfig::new()
        .sentinel(SentinelGroup::MASTER, group.tls_sentinel_urls())
        .ca_cert_pem(group.sentinel_ca_pem());
    let Some(connected) = when_built_with_tls::<C, _>(C::connect(&config).await) else {
        return;
    };
    if !C::SENTINEL_TLS_OF_ITS_OWN {
        let error = connected.expect_err("took TLS for the sentinels only");
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert!(error.to_string().contains("same TLS"), "{error}");
        return;
    }
    let memo = Memoizer::builder(connected.expect("connect over TLS to the sentinels"))
        .namespace(unique_prefix("sentinel-tls"))
        .write_behind(false)
        .build();
    assert_eq!(runs_of_two_calls(&memo).await, 1, "not cached");
    let key = memo.key(&Args::new().arg(&3)).expect("a key");
    assert!(holds(group.primary_port(), &key), "not on the primary");
}

/// A master name the sentinels do not know: a config error at connect
/// that names it, for both stores; built lazily, a memoizer computes.
pub async fn a_wrong_master_name_is_a_config_error_at_connect<C: Client>() {
    let group = group().await;
    let config = RedisConfig::new().sentinel("no-such-master", group.sentinel_urls());
    for error in [
        C::connect(&config).await.expect_err("connected"),
        connect_blocking::<C>(&config).await.expect_err("connected"),
    ] {
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("no master named `no-such-master`"),
            "{error}"
        );
    }
    computes_lazily::<C>(&config).await;
}

/// Every sentinel down: a backend error at connect naming the master and
/// the sentinels, never the data nodes' password; built lazily, a
/// memoizer computes.
pub async fn every_sentinel_down_is_a_clear_error_at_connect<C: Client>() {
    let group = group().await;
    for sentinel in group.sentinels() {
        sentinel.kill();
    }
    let config = group.config().password("s3cret");
    for error in [
        C::connect(&config).await.expect_err("connected"),
        connect_blocking::<C>(&config).await.expect_err("connected"),
    ] {
        assert!(matches!(error, Error::Backend { .. }), "{error:?}");
        let report = error.report().to_string();
        assert!(report.contains(SentinelGroup::MASTER), "{report}");
        for sentinel in group.sentinels() {
            assert!(
                report.contains(&format!("127.0.0.1:{}", sentinel.port())),
                "{report}"
            );
        }
        assert!(!report.contains("s3cret"), "{report}");
    }
    computes_lazily::<C>(&config).await;
}

/// Both stores built lazily from `config` build, and memoizers over them
/// compute every call.
async fn computes_lazily<C: Client>(config: &RedisConfig) {
    let store = C::connect_lazy(config).expect("a lazy store builds");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("sentinel-lazy"))
        .build();
    assert_eq!(runs_of_two_calls(&memo).await, 2, "nothing can be cached");
    let error = memo.store().get("any").await.expect_err("read");
    assert!(!matches!(error, Error::Timeout(_)), "{error:?}");

    let lazy = config.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let store = C::connect_blocking_lazy(&lazy).expect("a lazy store builds");
        let memo = Memoizer::builder(store)
            .namespace(unique_prefix("sentinel-lazy-blocking"))
            .build();
        runs_of_two_blocking_calls(&memo)
    })
    .await
    .expect("the blocking calls panicked");
    assert_eq!(runs, 2, "nothing can be cached");
}
