//! TLS: `rediss://` with certificate verification against a custom CA.

use std::time::{Duration, Instant};

use memocache_core::testing::{Runs, unique_prefix};
use memocache_core::{Args, Error, Memoizer, RedisConfig, Store};
use memocache_fred::{FredBlockingStore, FredStore};
use memocache_testkit::RedisServer;

/// Two calls with the same arguments; answers how often `compute` ran.
async fn runs_of_two_calls(memo: &Memoizer<FredStore>) -> usize {
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
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error does not name the certificate problem: {message}"
    );
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port} over TLS")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_right_ca_the_memoizer_caches() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(server.ca_pem().expect("a TLS server"));
    let store = FredStore::connect(&config).await.expect("connect over TLS");
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
fn with_the_right_ca_file_the_blocking_adapter_caches() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .ssl(true)
        .ca_cert_file(server.ca_file().expect("a TLS server"));
    let store = FredBlockingStore::connect(&config).expect("connect over TLS");
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

    let error = FredStore::connect(&config)
        .await
        .expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem(&error, server.port());

    let error =
        FredBlockingStore::connect(&config).expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem(&error, server.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_the_system_roots_do_not_trust_a_private_ca() {
    let server = RedisServer::start_tls();
    let error = FredStore::connect(&RedisConfig::new().url(server.url()))
        .await
        .expect_err("trusted a private CA without being told to");
    // Refused by the handshake, or before it on a system with no roots.
    let message = error.to_string();
    assert!(message.to_lowercase().contains("certificate"), "{message}");
}

/// `connect_lazy` builds the store without connecting: with a wrong CA
/// every operation fails, the memoizer computes every time and returns
/// correct results, and the errors say why the connection is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_that_cannot_connect_still_serves_computed_values() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(RedisServer::unrelated_ca_pem());
    let store = FredStore::connect_lazy(&config).expect("a lazy store builds without connecting");
    let memo = Memoizer::builder(store.clone())
        .namespace(unique_prefix("tls-wrong-ca"))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        2,
        "nothing can have been cached"
    );

    // The handshake fails in the background; once it has, the errors of
    // operations name it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let message = store
            .get("any")
            .await
            .expect_err("read through a wrong CA")
            .to_string();
        if message.to_lowercase().contains("certificate") || Instant::now() > deadline {
            break message;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        message.contains(&format!(
            "not connected to 127.0.0.1:{} over TLS",
            server.port()
        )),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
}
