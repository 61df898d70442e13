//! One store for a whole service, sync and async callers alike: an async
//! store made by `connect_lazy` anywhere (in a runtime, or outside any,
//! as a `static` built by a sync caller is) serves async callers and, by
//! its blocking view, sync ones, on the same connections and the same
//! circuit breaker; a store made outside any runtime keeps serving when
//! the runtimes its callers used are gone.

use memocache_core::testing::unique_prefix;
use memocache_core::{Backend, BlockingStore, Memoizer};
use memocache_redis_plumbing::config::RedisConfig;

use super::{Client, runs_of_two_blocking_calls, runs_of_two_calls};
use crate::RedisServer;

/// Reads through `store` until it answers: a lazy store connects in the
/// background (fred's fails fast until then).
fn until_it_answers<S: BlockingStore>(store: &S) {
    while store.get("memocache-test:one-store:probe").is_err() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A memoizer over `store` in a namespace of its own.
fn memo<S: Backend>(store: S) -> Memoizer<S> {
    Memoizer::builder(store)
        .namespace(unique_prefix("one-store"))
        .build()
}

/// Made outside any runtime, the async store serves a sync caller
/// through its blocking view and an async caller on a runtime that then
/// goes, and both share its one breaker.
pub fn a_lazy_store_made_outside_a_runtime_serves_sync_and_async_callers<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    let store = C::connect_lazy(&config).expect("a lazy store, outside any runtime");
    let blocking = C::blocking(&store).expect("its blocking view");
    until_it_answers(&blocking);
    let sync_memo = memo(blocking.clone());
    let async_memo = memo(store.clone());

    assert_eq!(
        runs_of_two_blocking_calls(&sync_memo),
        1,
        "the sync caller's hit"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    assert_eq!(
        runtime.block_on(runs_of_two_calls(&async_memo)),
        1,
        "the async caller's hit"
    );
    drop(runtime);
    // The store's connections run on its own runtime, not the caller's.
    let after = memo(blocking);
    assert_eq!(
        runs_of_two_blocking_calls(&after),
        1,
        "served after the runtime went"
    );

    for stats in [sync_memo.stats(), async_memo.stats(), after.stats()] {
        assert_eq!(stats.store_errors + stats.timeouts, 0, "{stats:?}");
    }
    let breaker = Backend::health(&store).expect("a Redis store's breaker");
    assert!(sync_memo.health().unwrap().same(&breaker));
    assert!(async_memo.health().unwrap().same(&breaker));
}

/// Made inside a runtime, the store's blocking view reads what the async
/// store wrote and shares its breaker.
pub async fn a_stores_blocking_view_shares_its_entries_and_breaker<C: Client>() {
    let server = RedisServer::start();
    let config = RedisConfig::new().url(server.url());
    let store = C::connect(&config).await.expect("connect");
    let blocking = C::blocking(&store).expect("its blocking view");
    let async_memo = memo(store.clone());
    let sync_memo = Memoizer::builder(blocking)
        .namespace(async_memo.namespace())
        .build();

    assert_eq!(runs_of_two_calls(&async_memo).await, 1);
    let (runs, sync_memo) =
        tokio::task::spawn_blocking(move || (runs_of_two_blocking_calls(&sync_memo), sync_memo))
            .await
            .expect("no panic");
    assert_eq!(
        runs, 0,
        "the sync caller computed what the async one had cached"
    );
    let breaker = Backend::health(&store).expect("a Redis store's breaker");
    assert!(sync_memo.health().unwrap().same(&breaker));
    assert!(async_memo.health().unwrap().same(&breaker));
}
