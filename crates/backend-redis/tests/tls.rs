//! TLS: `rediss://` with certificate verification against a custom CA.

use memocache_core::testing::{Runs, unique_prefix};
use memocache_core::{Args, Error, Memoizer, RedisConfig};
use memocache_redis::{RedisBlockingStore, RedisStore};
use memocache_testkit::RedisServer;

/// Two calls with the same arguments; answers how often `compute` ran.
async fn runs_of_two_calls(memo: &Memoizer<RedisStore>) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: u32 = memo
            .call(&Args::new().arg(&3), || async move { r.run(9) })
            .await;
        assert_eq!(value, 9);
    }
    runs.count()
}

fn assert_names_a_certificate_problem(error: &Error, port: u16) {
    let message = error.to_string();
    assert!(
        matches!(
            error,
            Error::Backend {
                backend: "redis",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error does not name the certificate problem: {message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{port} over TLS")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_right_ca_the_async_memoizer_caches() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(server.ca_pem().expect("a TLS server"));
    let store = RedisStore::connect(&config)
        .await
        .expect("connect over TLS");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls"))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        1,
        "the second call was not a hit"
    );
}

#[test]
fn with_the_right_ca_file_the_blocking_memoizer_caches() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .ssl(true)
        .ca_cert_file(server.ca_file().expect("a TLS server"));
    let store = RedisBlockingStore::connect(&config).expect("connect over TLS");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls-blocking"))
        .build();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(
            memo.call_blocking(&Args::new().arg(&3), move || r.run(9u32)),
            9
        );
    }
    assert_eq!(runs.count(), 1, "the second call was not a hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_wrong_ca_connecting_fails_with_a_certificate_error() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(RedisServer::unrelated_ca_pem());

    let error = RedisStore::connect(&config)
        .await
        .expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem(&error, server.port());

    let blocking_config = config.clone();
    let error = tokio::task::spawn_blocking(move || RedisBlockingStore::connect(&blocking_config))
        .await
        .unwrap()
        .expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem(&error, server.port());
}

/// A store that cannot connect cannot be built with `connect`, so this uses
/// `connect_lazy`, which builds the store and connects on first use: with a
/// wrong CA every operation fails, and the memoizer computes every time,
/// returning correct results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memoizer_over_a_store_that_cannot_connect_still_returns_results() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(RedisServer::unrelated_ca_pem());
    let store = RedisStore::connect_lazy(&config).expect("a lazy store builds without connecting");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls-wrong-ca"))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        2,
        "nothing can have been cached"
    );
    let error = memocache_core::Store::get(memo.store(), "any")
        .await
        .expect_err("read through a wrong CA");
    assert_names_a_certificate_problem_lazily(&error);
}

/// A lazily connected store's errors come from the operation, not from
/// `connect`, so they name the TLS problem without the server.
fn assert_names_a_certificate_problem_lazily(error: &Error) {
    let message = error.to_string().to_lowercase();
    assert!(message.contains("certificate"), "{message}");
}
