//! ACL users: credentials with special characters, key patterns, refused
//! operations that are errors (never panics), and passwords kept out of
//! errors and `Debug`.

use memocache_core::testing::{Runs, unique_prefix};
use memocache_core::{Args, BlockingStore, Bytes, Error, Memoizer, RedisConfig, Store};
use memocache_fred::{FredBlockingStore, FredStore};
use memocache_testkit::RedisServer;

const USER: &str = "cache-app";
/// Needs percent-encoding in a URL.
const PASSWORD: &str = "p@ss:w/rd";

fn acl_server() -> RedisServer {
    RedisServer::start_with_acl(USER, PASSWORD, "cache:*")
}

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .username(USER)
        .password(PASSWORD)
}

fn assert_refused(error: &Error) {
    assert!(
        matches!(
            error,
            Error::Backend {
                backend: "fred",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("NOPERM"), "{message}");
    assert!(
        !message.contains(PASSWORD),
        "the password is in the error: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_its_key_pattern_an_acl_user_caches() {
    let server = acl_server();
    let store = FredStore::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    assert!(
        !format!("{store:?}").contains(PASSWORD),
        "the password is in the store's Debug"
    );
    let memo = Memoizer::builder(store)
        .namespace(format!("cache:{}", unique_prefix("acl")))
        .build();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: String = memo
            .call(
                &Args::new().arg(&1),
                || async move { r.run("v".to_owned()) },
            )
            .await;
        assert_eq!(value, "v");
    }
    assert_eq!(runs.count(), 1, "the second call was not a hit");
    assert_eq!(memo.clear_namespace().await.unwrap(), 1);
}

#[test]
fn inside_its_key_pattern_the_blocking_adapter_caches() {
    let server = acl_server();
    let store = FredBlockingStore::connect(&config(&server)).expect("log in as the ACL user");
    assert!(!format!("{store:?}").contains(PASSWORD));
    let memo = Memoizer::builder(store)
        .namespace(format!("cache:{}", unique_prefix("acl-blocking")))
        .build();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(
            memo.call_blocking(&Args::new().arg(&1), move || r.run(5u8)),
            5
        );
    }
    assert_eq!(runs.count(), 1, "the second call was not a hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_key_pattern_operations_fail_with_an_error() {
    let server = acl_server();
    let store = FredStore::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    let key = format!("other:{}", unique_prefix("acl"));
    assert_refused(
        &store
            .set(&key, Bytes::from_static(b"v"), None)
            .await
            .expect_err("wrote outside the ACL pattern"),
    );
    assert_refused(
        &store
            .get(&key)
            .await
            .expect_err("read outside the ACL pattern"),
    );
    assert_refused(
        &store
            .delete(&key)
            .await
            .expect_err("deleted outside the ACL pattern"),
    );
    assert_refused(
        &store
            .ttl(&key)
            .await
            .expect_err("PTTL outside the ACL pattern"),
    );
    // The store is still usable inside the pattern afterwards.
    let inside = format!("cache:{}", unique_prefix("acl"));
    store
        .set(&inside, Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&inside).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[test]
fn outside_its_key_pattern_the_blocking_adapter_fails_with_an_error() {
    let server = acl_server();
    let store = FredBlockingStore::connect(&config(&server)).expect("log in as the ACL user");
    let key = format!("other:{}", unique_prefix("acl-blocking"));
    assert_refused(
        &store
            .set(&key, Bytes::from_static(b"v"), None)
            .expect_err("wrote outside the ACL pattern"),
    );
    assert_refused(&store.get(&key).expect_err("read outside the ACL pattern"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_key_pattern_a_memoizer_still_returns_computed_values() {
    let server = acl_server();
    let store = FredStore::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    let memo = Memoizer::builder(store)
        .namespace(format!("other:{}", unique_prefix("acl")))
        .build();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: Vec<u32> = memo
            .call(
                &Args::new().kwarg("id", &7),
                || async move { r.run(vec![1, 2]) },
            )
            .await;
        assert_eq!(value, vec![1, 2], "the computed value was not returned");
    }
    assert_eq!(runs.count(), 2, "a key outside the ACL pattern was cached");
    let key = format!("{}:written", memo.namespace());
    assert_eq!(memo.cache_data(&key, vec![3u32]).await, vec![3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_without_showing_it() {
    let server = acl_server();
    let config = config(&server).password("s3cret");
    let error = FredStore::connect(&config)
        .await
        .expect_err("logged in with a wrong password");
    assert!(
        matches!(
            error,
            Error::Backend {
                backend: "fred",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("WRONGPASS"), "{message}");
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{}", server.port())),
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

    let blocking =
        FredBlockingStore::connect(&config).expect_err("logged in with a wrong password");
    assert!(blocking.to_string().contains("WRONGPASS"), "{blocking}");
    assert!(!blocking.to_string().contains("s3cret"), "{blocking}");
    assert!(!format!("{blocking:?}").contains("s3cret"), "{blocking:?}");
}
