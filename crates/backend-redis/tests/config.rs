//! `RedisConfig`: the URL it builds, what it hides, and the mistakes it
//! reports before any connection is tried.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use memocache_core::Error;
use memocache_redis::{RedisBlockingStore, RedisConfig, RedisStore};
use memocache_testkit::suites::assert_cannot_connect;

fn url(config: &RedisConfig) -> String {
    config.connection_url().expect("valid settings")
}

/// The `Error::Config` message of invalid settings.
fn config_error(config: &RedisConfig) -> String {
    match config.validate() {
        Err(error @ Error::Config(_)) => error.report().to_string(),
        other => panic!("expected a configuration error for {config:?}, got {other:?}"),
    }
}

/// A port where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn host_port_and_db_build_the_references_url() {
    assert_eq!(url(&RedisConfig::new()), "redis://127.0.0.1:6379/0");
    assert_eq!(
        url(&RedisConfig::new().host("cache.internal").port(6380).db(2)),
        "redis://cache.internal:6380/2"
    );
    assert_eq!(
        url(&RedisConfig::new().host("::1").ssl(true)),
        "rediss://[::1]:6379/0"
    );
}

#[test]
fn credentials_are_percent_encoded() {
    let config = RedisConfig::new()
        .username("app user")
        .password("p@ss:w/rd");
    assert_eq!(
        url(&config),
        "redis://app%20user:p%40ss%3Aw%2Frd@127.0.0.1:6379/0"
    );
    assert_eq!(
        url(&RedisConfig::new().password("p@ss")),
        "redis://:p%40ss@127.0.0.1:6379/0"
    );
    assert_eq!(
        url(&RedisConfig::new().username("ü")),
        "redis://%C3%BC@127.0.0.1:6379/0"
    );
}

#[test]
fn credentials_are_added_to_a_url_without_them() {
    let config = RedisConfig::new()
        .url("rediss://cache.internal:6380/1")
        .username("app")
        .password("p@ss:w/rd");
    assert_eq!(
        url(&config),
        "rediss://app:p%40ss%3Aw%2Frd@cache.internal:6380/1"
    );
    assert_eq!(
        url(&RedisConfig::new().url("redis://u:p%40ss@h:1/0")),
        "redis://u:p%40ss@h:1/0",
        "a url is used as given"
    );
}

#[test]
fn debug_and_redacted_url_never_show_the_password() {
    for config in [
        RedisConfig::new().username("app").password("s3cret"),
        RedisConfig::new().password("s3cret"),
        RedisConfig::new().url("redis://app:s3cret@h:6379/0"),
        RedisConfig::new().url("redis://s3cret@h:6379/0"),
        RedisConfig::new()
            .url("redis://h:6379/0")
            .password("s3cret"),
    ] {
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let redacted = config.redacted_url();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains("<redacted>"), "{redacted}");
        assert!(
            url(&config).contains("s3cret"),
            "the real url keeps the password"
        );
    }
}

#[test]
fn unparseable_urls_are_refused_with_the_expected_form() {
    for (bad, hint) in [
        ("localhost:6379", "redis://host:port/db"),
        ("http://localhost:6379", "use redis:// or rediss://"),
        ("redis://:6379/0", "no host"),
        ("redis://h:99999/0", "1 to 65535"),
    ] {
        let message = config_error(&RedisConfig::new().url(bad));
        assert!(message.contains(hint), "{bad}: {message}");
    }
}

#[test]
fn a_raw_slash_in_a_url_password_is_refused_without_echoing_it() {
    let message = config_error(&RedisConfig::new().url("redis://app:s3c/ret@h:6379/0"));
    assert!(message.contains("percent-encode"), "{message}");
    assert!(!message.contains("s3c"), "{message}");
}

#[test]
fn databases_out_of_range_are_refused() {
    for bad in [
        "redis://h:6379/-1",
        "redis://h:6379/abc",
        "redis://h:6379/99999999999",
    ] {
        let message = config_error(&RedisConfig::new().url(bad));
        assert!(
            message.contains("out of range") && message.contains("0 to"),
            "{bad}: {message}"
        );
    }
    let message = config_error(&RedisConfig::new().db(u32::MAX));
    assert!(message.contains("out of range"), "{message}");
    assert!(RedisConfig::new().db(2_147_483_646).validate().is_ok());
}

#[test]
fn conflicting_settings_are_refused_with_a_fix() {
    let cases = [
        (
            RedisConfig::new().url("redis://h:6379/0").ssl(true),
            "use a rediss:// url",
        ),
        (
            RedisConfig::new().url("redis://h:6379/0").host("h"),
            "use the url alone",
        ),
        (
            RedisConfig::new().url("redis://h:6379/0").db(1),
            "use the url alone",
        ),
        (
            RedisConfig::new().url("redis://u:p@h:6379/0").password("q"),
            "remove them from the url",
        ),
        (
            RedisConfig::new().ca_cert_pem(b"pem".to_vec()),
            "ssl(true) or a rediss:// url",
        ),
        (RedisConfig::new().max_connections(0), "at least 1"),
        (
            RedisConfig::new().socket_timeout(Duration::ZERO),
            "more than zero",
        ),
        (
            RedisConfig::new().connect_timeout(Duration::ZERO),
            "more than zero",
        ),
        (RedisConfig::new().port(0), "6379"),
        (RedisConfig::new().host(""), "set host"),
    ];
    for (config, fix) in cases {
        let message = config_error(&config);
        assert!(message.contains(fix), "{config:?}: {message}");
    }
}

#[test]
fn a_missing_ca_file_is_named() {
    let config = RedisConfig::new()
        .port(closed_port())
        .ssl(true)
        .ca_cert_file("/nonexistent/ca.pem");
    let error = RedisBlockingStore::connect(&config).expect_err("read a missing CA file");
    assert!(
        matches!(&error, Error::Config(_) if error.report().to_string().contains("/nonexistent/ca.pem")),
        "{error:?}"
    );
}

#[test]
fn a_pem_that_is_not_a_certificate_is_a_config_error() {
    let config = RedisConfig::new()
        .port(closed_port())
        .ssl(true)
        .ca_cert_pem(b"not a certificate".to_vec());
    let error = RedisBlockingStore::connect(&config).expect_err("used a bogus CA");
    assert!(
        matches!(&error, Error::Config(_) if error.report().to_string().contains("CA certificate")),
        "{error:?}"
    );
}

#[tokio::test]
async fn stores_report_bad_settings_before_connecting() {
    let config = RedisConfig::new()
        .url(format!("redis://127.0.0.1:{}/0", closed_port()))
        .ssl(true);
    assert!(matches!(
        RedisStore::connect(&config).await,
        Err(Error::Config(_))
    ));
    assert!(matches!(
        RedisStore::connect_lazy(&config),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        RedisBlockingStore::connect(&config),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn a_connection_error_names_the_server_but_not_the_password() {
    let port = closed_port();
    let config = RedisConfig::new()
        .port(port)
        .username("app")
        .password("s3cret")
        .connect_timeout(Duration::from_secs(2));
    let errors = [
        RedisStore::connect(&config)
            .await
            .expect_err("connected to a closed port"),
        RedisBlockingStore::connect(&config).expect_err("connected to a closed port"),
        // A lazy store's operations name the server too.
        memocache_core::Store::get(&RedisStore::connect_lazy(&config).unwrap(), "k")
            .await
            .expect_err("read from a closed port"),
        memocache_core::BlockingStore::get(
            &RedisBlockingStore::connect_lazy(&config).unwrap(),
            "k",
        )
        .expect_err("read from a closed port"),
    ];
    for error in errors {
        assert_cannot_connect(&error, "redis", port);
        let message = error.report().to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
    }
}
