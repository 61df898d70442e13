//! The line a store over a client of the caller's own logs when it is
//! built (what the other constructors log is the testkit's `announce`
//! suite, in `suites.rs`): the server the client names, once.

use memocache_redis::redis_rs::Client;
use memocache_redis::{RedisBlockingStore, RedisStore};
use memocache_testkit::suites::announce::{acl_server, assert_announced, mark};

#[tokio::test]
async fn a_store_over_your_own_client_logs_its_server_once() {
    let (server, config) = acl_server();
    let port = server.port();
    let url = config.connection_url().unwrap();
    let client = move || Client::open(url.clone()).unwrap();

    let before = mark();
    RedisStore::from_client(client()).await.expect("connect");
    assert_announced(
        before,
        port,
        &format!("RedisStore on 127.0.0.1:{port} (tracking off)"),
    );

    let before = mark();
    tokio::task::spawn_blocking(move || RedisBlockingStore::from_client(client()).map(drop))
        .await
        .expect("no panic")
        .expect("connect");
    assert_announced(
        before,
        port,
        &format!("RedisBlockingStore on 127.0.0.1:{port} (tracking off)"),
    );
}
