//! The line a store over a pool or client of the caller's own logs when
//! it is built, async or blocking (what the other constructors log is the testkit's
//! `announce` suite, in `suites.rs`): the server it names, once.

use memocache_fred::fred::types::Builder;
use memocache_fred::fred::types::config::Config;
use memocache_fred::{FredBlockingStore, FredStore};
use memocache_testkit::suites::announce::{acl_server, assert_announced, mark};

#[tokio::test]
async fn a_store_over_your_own_pool_or_client_logs_its_server_once() {
    let (server, config) = acl_server();
    let port = server.port();
    let own = || Config::from_url(&config.connection_url().unwrap()).unwrap();
    let expected = format!("FredStore on 127.0.0.1:{port} (tracking off)");

    let before = mark();
    FredStore::from_pool(Builder::from_config(own()).build_pool(1).unwrap());
    assert_announced(before, port, &expected);

    let before = mark();
    FredStore::from_client(Builder::from_config(own()).build().unwrap())
        .await
        .expect("a pool of it");
    assert_announced(before, port, &expected);

    let before = mark();
    let client = Builder::from_config(own()).build().unwrap();
    tokio::task::spawn_blocking(move || FredBlockingStore::from_client(client).map(drop))
        .await
        .expect("no panic")
        .expect("connect");
    assert_announced(
        before,
        port,
        &format!("FredBlockingStore on 127.0.0.1:{port} (tracking off)"),
    );
}
