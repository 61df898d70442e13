//! The line each store logs when it is built: one `info` event naming the
//! server it uses, never a password, for a single node (untracked and
//! tracked), a cluster and a Sentinel master, async and blocking, built by
//! `connect` and `connect_lazy`; a blocking store that drives the async
//! one logs once, as itself.
//!
//! Tests run side by side in one process, each on servers of its own: a
//! check counts the lines logged since its [`mark`] that name its server.

use memocache_redis_plumbing::config::RedisConfig;
use tracing::Level;

use super::Client;
use crate::logs::{captured_events, lock, names_port};
use crate::{RedisCluster, RedisServer, SentinelGroup};

/// The ACL user the stores log in as.
pub const USER: &str = "cache-app";
/// Its password, which needs percent-encoding: neither form may show.
pub const PASSWORD: &str = "p@ss:w/rd";
const ENCODED_PASSWORD: &str = "p%40ss%3Aw%2Frd";

/// How many events were logged so far (installing the capture first).
pub fn mark() -> usize {
    lock(&captured_events()).len()
}

/// Asserts that since `mark` exactly one `memocache` event named the
/// server on `port`: at `info`, its message `expected`, with `backend`
/// and `server` fields, and without a password.
///
/// # Panics
///
/// When it does not hold.
pub fn assert_announced(mark: usize, port: u16, expected: &str) {
    let events = captured_events();
    let lines: Vec<_> = lock(&events)[mark..]
        .iter()
        .filter(|event| event.target.starts_with("memocache") && event.level <= Level::INFO)
        .filter(|event| event.fields.values().any(|value| names_port(value, port)))
        .cloned()
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "not one line naming port {port}: {lines:#?}"
    );
    let line = &lines[0];
    assert_eq!(line.level, Level::INFO, "{line:?}");
    assert_eq!(line.field("message"), Some(expected), "{line:?}");
    assert!(line.field("backend").is_some(), "{line:?}");
    assert!(line.field("server").is_some(), "{line:?}");
    for secret in [PASSWORD, ENCODED_PASSWORD, "s3cret"] {
        assert!(
            line.fields.values().all(|value| !value.contains(secret)),
            "a password in {line:?}"
        );
    }
}

/// An ACL server, and settings that log in to it.
pub fn acl_server() -> (RedisServer, RedisConfig) {
    let server = RedisServer::start_with_acl(USER, PASSWORD, "*");
    let config = RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .username(USER)
        .password(PASSWORD);
    (server, config)
}

/// The last segment of a type's name: `FredStore`.
fn named<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

/// The async store, built by `connect` and by `connect_lazy`.
pub async fn the_async_store_logs_its_server_once<C: Client>() {
    let (server, config) = acl_server();
    let port = server.port();
    let expected = format!(
        "{} on redis://{USER}:<redacted>@127.0.0.1:{port}/0 (tracking off)",
        named::<C::Async>()
    );
    let before = mark();
    C::connect(&config).await.expect("connect");
    assert_announced(before, port, &expected);
    let before = mark();
    C::connect_lazy(&config).expect("a lazy store");
    assert_announced(before, port, &expected);
}

/// The blocking store, built by `connect` and by `connect_lazy`: one
/// line, the blocking store's, whether or not it drives the async one.
pub fn the_blocking_store_logs_its_server_once<C: Client>() {
    let (server, config) = acl_server();
    let port = server.port();
    let expected = format!(
        "{} on redis://{USER}:<redacted>@127.0.0.1:{port}/0 (tracking off)",
        named::<C::Blocking>()
    );
    let before = mark();
    C::connect_blocking(&config).expect("connect");
    assert_announced(before, port, &expected);
    let before = mark();
    C::connect_blocking_lazy(&config).expect("a lazy store");
    assert_announced(before, port, &expected);
}

/// A store with client tracking says so, async and blocking (a blocking
/// store with tracking drives the async one: still one line). On a server
/// without a password: fred's tracking listener subscribes to
/// `__redis__:invalidate`, which the ACL server's user may not.
pub async fn a_tracked_store_says_so<C: Client>() {
    let server = RedisServer::start();
    let port = server.port();
    let config = RedisConfig::new().url(server.url()).client_tracking(true);
    let before = mark();
    C::connect(&config).await.expect("connect, tracked");
    assert_announced(
        before,
        port,
        &format!(
            "{} on redis://127.0.0.1:{port} (tracking on)",
            named::<C::Async>()
        ),
    );
    let before = mark();
    tokio::task::spawn_blocking(move || C::connect_blocking(&config).map(drop))
        .await
        .expect("no panic")
        .expect("connect, tracked");
    assert_announced(
        before,
        port,
        &format!(
            "{} on redis://127.0.0.1:{port} (tracking on)",
            named::<C::Blocking>()
        ),
    );
}

/// A cluster store names the seeds it was given.
pub async fn a_cluster_store_logs_its_seeds_once<C: Client>() {
    let cluster = RedisCluster::start();
    let config = cluster.config();
    let seed = cluster.nodes()[0].port();
    let on = format!("on the cluster at redis://127.0.0.1:{seed} (tracking off)");
    let before = mark();
    C::connect(&config).await.expect("connect");
    assert_announced(before, seed, &format!("{} {on}", named::<C::Async>()));
    let before = mark();
    tokio::task::spawn_blocking(move || C::connect_blocking(&config).map(drop))
        .await
        .expect("no panic")
        .expect("connect");
    assert_announced(before, seed, &format!("{} {on}", named::<C::Blocking>()));
}

/// A store on a Sentinel primary names the master and its sentinels,
/// without either side's password.
pub async fn a_sentinel_store_logs_the_master_and_its_sentinels_once<C: Client>() {
    let group = SentinelGroup::start_with_users(
        ("data-app", "data-s3cret"),
        ("sentinel-app", "sentinel-s3cret"),
    );
    let ports: Vec<u16> = group.sentinels().iter().map(RedisServer::port).collect();
    let sentinels: Vec<String> = ports
        .iter()
        .map(|port| format!("redis://sentinel-app:sentinel-s3cret@127.0.0.1:{port}"))
        .collect();
    let shown: Vec<String> = ports
        .iter()
        .map(|port| format!("redis://sentinel-app:<redacted>@127.0.0.1:{port}"))
        .collect();
    let config = RedisConfig::new()
        .sentinel(SentinelGroup::MASTER, &sentinels)
        .username("data-app")
        .password("data-s3cret");
    let on = format!(
        "on the primary `{}` of the sentinels {} (tracking off)",
        SentinelGroup::MASTER,
        shown.join(",")
    );
    let before = mark();
    C::connect(&config).await.expect("connect");
    assert_announced(before, ports[0], &format!("{} {on}", named::<C::Async>()));
    let before = mark();
    tokio::task::spawn_blocking(move || C::connect_blocking(&config).map(drop))
        .await
        .expect("no panic")
        .expect("connect");
    assert_announced(
        before,
        ports[0],
        &format!("{} {on}", named::<C::Blocking>()),
    );
}
