//! TLS: `rediss://` with certificate verification against a custom CA;
//! for a store built without TLS, the error that names the feature.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use memocache_core::testing::unique_prefix;
use memocache_core::{Error, Memoizer, Result, Store};
use memocache_redis_plumbing::config::RedisConfig;

use super::{
    Client, assert_backend_error, connect_blocking, runs_of_two_blocking_calls, runs_of_two_calls,
};
use crate::RedisServer;

/// What building or connecting `C`'s store over TLS gave, when `C` was
/// built with TLS. Built without, that must have been refused with the
/// config error naming the `tls` feature (asserted here), and there is
/// nothing more to check: `None`.
pub(crate) fn when_built_with_tls<C: Client, T: Debug>(result: Result<T>) -> Option<Result<T>> {
    if C::TLS {
        return Some(result);
    }
    let error = result.expect_err("used rediss:// without the tls feature");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert!(error.to_string().contains("`tls` feature"), "{error}");
    None
}

/// A config for `server` trusting a CA that did not sign its certificate.
fn wrong_ca(server: &RedisServer) -> RedisConfig {
    RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(RedisServer::unrelated_ca_pem())
}

fn assert_names_a_certificate_problem<C: Client>(error: &Error, port: u16) {
    assert_backend_error(error, C::BACKEND);
    let message = error.report().to_string();
    assert!(
        message.to_lowercase().contains("certificate"),
        "the error does not name the certificate problem: {message}"
    );
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port} over TLS")),
        "{message}"
    );
}

/// With the server's CA (as PEM text), the async store connects and a
/// memoizer over it caches.
pub async fn with_the_right_ca_the_memoizer_caches<C: Client>() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .url(server.url())
        .ca_cert_pem(server.ca_pem().expect("a TLS server"));
    let Some(store) = when_built_with_tls::<C, _>(C::connect(&config).await) else {
        return;
    };
    let store = store.expect("connect over TLS");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls"))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        1,
        "the second call was not a hit"
    );
}

/// With the server's CA as a file and TLS asked for by `ssl(true)`, the
/// blocking store connects and a memoizer over it caches.
pub fn with_the_right_ca_file_the_blocking_store_caches<C: Client>() {
    let server = RedisServer::start_tls();
    let config = RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .ssl(true)
        .ca_cert_file(server.ca_file().expect("a TLS server"));
    let Some(store) = when_built_with_tls::<C, _>(C::connect_blocking(&config)) else {
        return;
    };
    let store = store.expect("connect over TLS");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls-blocking"))
        .build();
    assert_eq!(
        runs_of_two_blocking_calls(&memo),
        1,
        "the second call was not a hit"
    );
}

/// With a CA that did not sign the server's certificate, both stores fail
/// to connect with an error naming the server and the certificate.
pub async fn with_a_wrong_ca_connecting_fails_with_a_certificate_error<C: Client>() {
    let server = RedisServer::start_tls();
    let config = wrong_ca(&server);
    let Some(connected) = when_built_with_tls::<C, _>(C::connect(&config).await) else {
        return;
    };
    let error = connected.expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem::<C>(&error, server.port());
    let error = connect_blocking::<C>(&config)
        .await
        .expect_err("trusted a server signed by another CA");
    assert_names_a_certificate_problem::<C>(&error, server.port());
}

/// Without a CA, the system's roots do not trust a private CA.
pub async fn without_a_ca_the_system_roots_do_not_trust_a_private_ca<C: Client>() {
    let server = RedisServer::start_tls();
    let connected = C::connect(&RedisConfig::new().url(server.url())).await;
    let Some(connected) = when_built_with_tls::<C, _>(connected) else {
        return;
    };
    let error = connected.expect_err("trusted a private CA without being told to");
    assert_backend_error(&error, C::BACKEND);
    // Refused by the handshake, or before it on a system with no roots.
    let message = error.report().to_string();
    assert!(message.to_lowercase().contains("certificate"), "{message}");
}

/// `connect_lazy` builds the store without connecting: with a wrong CA
/// every operation fails, the memoizer computes every time and returns
/// correct results, and the operations' errors name the certificate
/// problem and the server.
pub async fn a_lazy_store_that_cannot_connect_still_serves_computed_values<C: Client>() {
    let server = RedisServer::start_tls();
    let Some(store) = when_built_with_tls::<C, _>(C::connect_lazy(&wrong_ca(&server))) else {
        return;
    };
    let store = store.expect("a lazy store builds without connecting");
    let memo = Memoizer::builder(store)
        .namespace(unique_prefix("tls-wrong-ca"))
        .build();
    assert_eq!(
        runs_of_two_calls(&memo).await,
        2,
        "nothing can have been cached"
    );
    // A client may do the handshake in the background; once it has failed,
    // the operations' errors name it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let error = memo
            .store()
            .get("any")
            .await
            .expect_err("read through a wrong CA");
        assert_backend_error(&error, C::BACKEND);
        let message = error.report().to_string();
        if message.to_lowercase().contains("certificate") || Instant::now() > deadline {
            break message;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{} over TLS", server.port())),
        "{message}"
    );
}
