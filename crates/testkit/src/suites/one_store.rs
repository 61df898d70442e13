//! One store for a whole service, sync and async callers alike: an async
//! store made by `connect_lazy` anywhere (in a runtime, or outside any,
//! as a `static` built by a sync caller is) serves async callers and, by
//! its blocking view, sync ones, on the same connections and the same
//! circuit breaker; a store made outside any runtime keeps serving when
//! the runtimes its callers used are gone.

use memocache_core::{Args, BlockingStore, Memoizer, Store};

use super::Client;
use crate::RedisServer;
use crate::callers::Runs;

/// A memoizer's two calls of the same key: how often it computed.
async fn async_runs<S: Store + 'static>(memo: &Memoizer<S>, n: u64) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: u64 = memo
            .call(&Args::new().arg(&n), || async move { r.run(n * 10) })
            .await;
        assert_eq!(value, n * 10);
    }
    runs.count()
}

/// [`async_runs`] on the blocking path.
fn blocking_runs<S: BlockingStore>(memo: &Memoizer<S>, n: u64) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: u64 = memo.call_blocking(&Args::new().arg(&n), || r.run(n * 10));
        assert_eq!(value, n * 10);
    }
    runs.count()
}

/// Reads through `store` until it answers: a lazy store connects in the
/// background (fred's fails fast until then).
fn until_it_answers<S: BlockingStore>(store: &S) {
    while store.get("memocache-test:one-store:probe").is_err() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Made outside any runtime, the async store serves a sync caller
/// through its blocking view and an async caller on a runtime that then
/// goes, and both share its one breaker.
pub fn a_lazy_store_made_outside_a_runtime_serves_sync_and_async_callers<C: Client>() {
    let server = RedisServer::start();
    let config = memocache_core::RedisConfig::new().url(server.url());
    let store = C::connect_lazy(&config).expect("a lazy store, outside any runtime");
    let blocking = C::blocking(&store).expect("its blocking view");
    until_it_answers(&blocking);
    let namespace = memocache_core::testing::unique_prefix("one-store");
    let sync_memo = Memoizer::builder(blocking.clone())
        .namespace(format!("{namespace}:sync"))
        .build();
    let async_memo = Memoizer::builder(store.clone())
        .namespace(format!("{namespace}:async"))
        .build();

    assert_eq!(blocking_runs(&sync_memo, 1), 1, "the sync caller's hit");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    assert_eq!(
        runtime.block_on(async_runs(&async_memo, 2)),
        1,
        "the async caller's hit"
    );
    drop(runtime);
    // The store's connections run on its own runtime, not the caller's.
    assert_eq!(
        blocking_runs(&sync_memo, 3),
        1,
        "served after the runtime went"
    );

    for stats in [sync_memo.stats(), async_memo.stats()] {
        assert_eq!(stats.store_errors + stats.timeouts, 0, "{stats:?}");
    }
    let breaker = Store::health(&store).expect("a Redis store's breaker");
    assert!(sync_memo.health().unwrap().same(&breaker));
    assert!(async_memo.health().unwrap().same(&breaker));
}

/// Made inside a runtime, the store's blocking view reads what the async
/// store wrote and shares its breaker.
pub async fn a_stores_blocking_view_shares_its_entries_and_breaker<C: Client>() {
    let server = RedisServer::start();
    let config = memocache_core::RedisConfig::new().url(server.url());
    let store = C::connect(&config).await.expect("connect");
    let blocking = C::blocking(&store).expect("its blocking view");
    let namespace = memocache_core::testing::unique_prefix("one-store");
    let async_memo = Memoizer::builder(store.clone())
        .namespace(namespace.clone())
        .build();
    let sync_memo = Memoizer::builder(blocking).namespace(namespace).build();

    assert_eq!(async_runs(&async_memo, 4).await, 1);
    let hits = tokio::task::spawn_blocking(move || {
        let runs = Runs::default();
        let r = runs.clone();
        let value: u64 = sync_memo.call_blocking(&Args::new().arg(&4), || r.run(0));
        assert_eq!(value, 40, "the async caller's entry");
        (runs.count(), sync_memo)
    })
    .await
    .expect("no panic");
    let (runs, sync_memo) = hits;
    assert_eq!(runs, 0, "the sync caller computed");
    let breaker = Store::health(&store).expect("a Redis store's breaker");
    assert!(sync_memo.health().unwrap().same(&breaker));
    assert!(async_memo.health().unwrap().same(&breaker));
}
