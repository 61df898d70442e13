//! ACL users: credentials with special characters, a key pattern, refused
//! operations that are errors (never panics) and are logged (never raised)
//! by a memoizer, and passwords kept out of errors, logs and `Debug`.

use memocache_core::testing::unique_prefix;
use memocache_core::{BlockingStore, Bytes, Error, Memoizer, Store};
use memocache_redis_plumbing::config::RedisConfig;

use super::{
    Client, assert_backend_error, assert_cannot_connect, call_args, runs_of_two_blocking_calls,
    runs_of_two_calls,
};
use crate::RedisServer;
use crate::logs::{captured_events, lock};

/// The ACL user the suite logs in as.
pub const USER: &str = "cache-app";
/// Its password, which needs percent-encoding in a URL.
pub const PASSWORD: &str = "p@ss:w/rd";
/// The keys it may use.
const PATTERN: &str = "cache:*";

/// A server with [`USER`], restricted to `cache:*` keys.
fn acl_server() -> RedisServer {
    RedisServer::start_with_acl(USER, PASSWORD, PATTERN)
}

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .username(USER)
        .password(PASSWORD)
}

fn assert_refused<C: Client>(error: &Error) {
    assert_backend_error(error, C::BACKEND);
    let message = error.report().to_string();
    // The server's NOPERM, as the client spells it (redis-rs: "NoPerm").
    assert!(message.to_uppercase().contains("NOPERM"), "{message}");
    assert!(
        !message.contains(PASSWORD),
        "the password is in the error: {message}"
    );
}

fn assert_no_password(store: &impl std::fmt::Debug) {
    assert!(
        !format!("{store:?}").contains(PASSWORD),
        "the password is in the store's Debug"
    );
}

/// Inside its key pattern the ACL user's async store caches and clears a
/// namespace.
pub async fn inside_its_key_pattern_the_memoizer_caches<C: Client>() {
    let server = acl_server();
    let store = C::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    assert_no_password(&store);
    let memo = Memoizer::builder(store)
        .namespace(format!("cache:{}", unique_prefix("acl")))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        1,
        "the second call was not a hit"
    );
    assert_eq!(memo.clear_namespace().await.unwrap(), 1);
}

/// Inside its key pattern the ACL user's blocking store caches.
pub fn inside_its_key_pattern_the_blocking_store_caches<C: Client>() {
    let server = acl_server();
    let store = C::connect_blocking(&config(&server)).expect("log in as the ACL user");
    assert_no_password(&store);
    let memo = Memoizer::builder(store)
        .namespace(format!("cache:{}", unique_prefix("acl-blocking")))
        .build();
    assert_eq!(
        runs_of_two_blocking_calls(&memo),
        1,
        "the second call was not a hit"
    );
}

/// Outside its key pattern every async store operation fails with the
/// server's NOPERM, and the store still works inside it afterwards.
pub async fn outside_its_key_pattern_operations_fail_with_an_error<C: Client>() {
    let server = acl_server();
    let store = C::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    let key = format!("other:{}", unique_prefix("acl"));
    let value = Bytes::from_static(b"v");
    let refused = [
        store.set(&key, value.clone(), None).await.map(drop),
        store.get(&key).await.map(drop),
        store.delete(&key).await.map(drop),
        store.ttl(&key).await.map(drop),
    ];
    for (operation, result) in ["SET", "GET", "DEL", "PTTL"].iter().zip(refused) {
        assert_refused::<C>(
            &result.expect_err(&format!("{operation} outside the ACL pattern worked")),
        );
    }
    let inside = format!("cache:{}", unique_prefix("acl"));
    store.set(&inside, value, None).await.unwrap();
    assert_eq!(
        store.get(&inside).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// Outside its key pattern the blocking store's operations fail with the
/// server's NOPERM.
pub fn outside_its_key_pattern_blocking_operations_fail_with_an_error<C: Client>() {
    let server = acl_server();
    let store = C::connect_blocking(&config(&server)).expect("log in as the ACL user");
    let key = format!("other:{}", unique_prefix("acl-blocking"));
    assert_refused::<C>(
        &store
            .set(&key, Bytes::from_static(b"v"), None)
            .expect_err("wrote outside the ACL pattern"),
    );
    assert_refused::<C>(&store.get(&key).expect_err("read outside the ACL pattern"));
}

/// Outside its key pattern a memoizer hands back computed values, caches
/// nothing, and logs each refused read and write with its key, never the
/// password.
pub async fn outside_its_key_pattern_a_memoizer_logs_and_computes<C: Client>() {
    let events = captured_events();
    let server = acl_server();
    let store = C::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    let memo = Memoizer::builder(store)
        .namespace(format!("other:{}", unique_prefix("acl")))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        2,
        "a key outside the ACL pattern was cached"
    );
    let key = memo.key(&call_args()).unwrap();

    // A write alone (no read first) is refused, logged, and the value
    // handed back.
    let written_key = format!("{}:written", memo.namespace());
    assert_eq!(memo.cache_data(&written_key, vec![3u32]).await, vec![3]);

    let events = lock(&events);
    for key in [&key, &written_key] {
        assert!(
            events.iter().any(|event| {
                event.field("redis_key") == Some(key.as_str())
                    && event
                        .field("error")
                        .is_some_and(|e| e.to_uppercase().contains("NOPERM"))
            }),
            "no event with redis_key={key} and a NOPERM error; events: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .flat_map(|event| event.fields.values())
            .all(|value| !value.contains(PASSWORD)),
        "the password was logged"
    );
}

/// A wrong password fails to connect, saying so and naming the server, and the password is in neither the error nor its
/// `Debug`, for both stores.
pub async fn a_wrong_password_fails_without_showing_it<C: Client>() {
    let server = acl_server();
    let config = config(&server).password("s3cret");
    let error = C::connect(&config)
        .await
        .expect_err("logged in with a wrong password");
    let blocking = super::connect_blocking::<C>(&config)
        .await
        .expect_err("logged in with a wrong password");
    for error in [error, blocking] {
        assert_cannot_connect(&error, C::BACKEND, server.port());
        let message = error.report().to_string();
        // The server's WRONGPASS, or the client's word for it (redis-rs:
        // "Password authentication failed").
        assert!(
            message.contains("WRONGPASS")
                || message.to_lowercase().contains("authentication failed"),
            "{message}"
        );
        assert!(
            !message.contains("s3cret"),
            "the password is in the error: {message}"
        );
        assert!(
            !format!("{error:?}").contains("s3cret"),
            "the password is in the error's Debug"
        );
    }
}
