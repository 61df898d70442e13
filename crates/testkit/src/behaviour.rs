//! The Memoizer behaviour suite: what a memoizer does over any store (the
//! memory store, Redis, Redis Cluster, fred), through its async path and,
//! where the backend has one, its blocking path.
//! [`memoizer_behaviour_tests!`](crate::memoizer_behaviour_tests) turns it
//! into one `#[tokio::test]` a check in the calling test crate (which
//! needs `tokio` with the `macros` and `rt-multi-thread` features).

use std::time::{Duration, Instant};

use memocache_core::testing::ShortLife;
use memocache_core::{
    Args, Bytes, Codec, Compression, Condition, JsonZlib, KeyTtl, Store as _, Zlib,
};

use crate::callers::{Caller, Path, Policy, Runs, Stores};

/// A miss runs the computation and stores the result; the same call then
/// hits without running it; other arguments miss.
pub async fn hit_and_miss(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("hit-miss"));
    let runs = Runs::default();
    let args = || Args::new().arg(&7).kwarg("status", &"active");
    for _ in 0..3 {
        let r = runs.clone();
        let value: Vec<String> = caller
            .call(args(), move || r.run(vec!["x".to_owned(); 3]))
            .await;
        assert_eq!(value, vec!["x"; 3]);
    }
    assert_eq!(runs.count(), 1, "the computation ran more than once");
    let r = runs.clone();
    let other: Vec<String> = caller
        .call(Args::new().arg(&8).kwarg("status", &"active"), move || {
            r.run(vec![])
        })
        .await;
    assert!(other.is_empty());
    assert_eq!(runs.count(), 2);
    let stored = stores
        .async_store
        .get(&caller.key(&args()))
        .await
        .unwrap()
        .expect("stored");
    let decoded: Vec<String> = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(decoded, vec!["x"; 3]);
}

/// After `expire`, the computation runs again.
pub async fn entries_expire_and_recompute(stores: &Stores, path: Path) {
    let mut short = ShortLife::new(Duration::from_millis(300));
    let (caller, runs, landed, ttl) = loop {
        short.begin();
        let policy = Policy {
            expire: Some(short.life()),
            ..Policy::in_namespace("expiry")
        };
        let caller = Caller::new(stores, path, &policy);
        let runs = Runs::default();
        let mut landed = None;
        for _ in 0..2 {
            let r = runs.clone();
            assert_eq!(
                caller.call(Args::new().arg(&1), move || r.run(10)).await,
                10
            );
            // Written through: the entry is in the store.
            landed.get_or_insert_with(Instant::now);
        }
        let ttl = stores
            .async_store
            .ttl(&caller.key(&Args::new().arg(&1)))
            .await
            .unwrap();
        if short.fitted() {
            break (caller, runs, landed.expect("called"), ttl);
        }
    };
    assert_eq!(runs.count(), 1);
    match ttl {
        KeyTtl::Expires(left) => assert!(left <= short.life()),
        other => panic!("expected an expiring entry, got {other:?}"),
    }
    tokio::time::sleep(short.until_expired(landed)).await;
    let r = runs.clone();
    assert_eq!(
        caller.call(Args::new().arg(&1), move || r.run(10)).await,
        10
    );
    assert_eq!(runs.count(), 2, "the expired entry was still served");
}

/// A call that matches no `cache_only_for` condition runs every time and
/// leaves the store untouched; a matching one is cached.
pub async fn conditions_gate_caching(stores: &Stores, path: Path) {
    let policy = Policy {
        cache_only_for: Some(vec![Condition::is_in("status", ["active", "pending"])]),
        ..Policy::in_namespace("conditions")
    };
    let caller = Caller::new(stores, path, &policy);
    let runs = Runs::default();
    let closed = || Args::new().kwarg("status", &"closed");
    for _ in 0..2 {
        let r = runs.clone();
        assert_eq!(caller.call(closed(), move || r.run(1)).await, 1);
    }
    assert_eq!(runs.count(), 2, "a call outside the conditions was cached");
    assert_eq!(
        stores
            .async_store
            .get(&caller.key(&closed()))
            .await
            .unwrap(),
        None
    );
    for _ in 0..2 {
        let r = runs.clone();
        let args = Args::new().kwarg("status", &"pending");
        assert_eq!(caller.call(args, move || r.run(2)).await, 2);
    }
    assert_eq!(
        runs.count(),
        3,
        "a call inside the conditions was not cached"
    );
}

/// Keyword arguments in `skip_cache_keys` do not change the key.
pub async fn skipped_keys_share_an_entry(stores: &Stores, path: Path) {
    let policy = Policy {
        skip_cache_keys: vec!["request_id".into()],
        ..Policy::in_namespace("skip")
    };
    let caller = Caller::new(stores, path, &policy);
    let runs = Runs::default();
    for request in ["a", "b", "c"] {
        let r = runs.clone();
        let args = Args::new()
            .kwarg("user_id", &5)
            .kwarg("request_id", &request);
        assert_eq!(
            caller.call(args, move || r.run("profile".to_owned())).await,
            "profile"
        );
    }
    assert_eq!(runs.count(), 1);
}

/// A `None` result is cached and served as a hit.
pub async fn none_is_cached(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("none"));
    let runs = Runs::default();
    for _ in 0..3 {
        let r = runs.clone();
        let value: Option<u32> = caller
            .call(Args::new().arg(&"missing"), move || r.run(None))
            .await;
        assert_eq!(value, None);
    }
    assert_eq!(runs.count(), 1, "a None result was not cached");
}

/// An `Err` is never cached; the `Ok` that follows is.
pub async fn errors_are_not_cached(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("errors"));
    let runs = Runs::default();
    let args = || Args::new().kwarg("id", &1);
    for _ in 0..2 {
        let r = runs.clone();
        let result: Result<u32, String> = caller
            .try_call(args(), move || r.run(Err("down".into())))
            .await;
        assert_eq!(result, Err("down".to_owned()));
    }
    assert_eq!(runs.count(), 2, "an Err was cached");
    assert_eq!(
        stores.async_store.get(&caller.key(&args())).await.unwrap(),
        None
    );
    for _ in 0..2 {
        let r = runs.clone();
        let result: Result<u32, String> = caller.try_call(args(), move || r.run(Ok(3))).await;
        assert_eq!(result, Ok(3));
    }
    assert_eq!(runs.count(), 3, "an Ok was not cached");
}

/// A corrupt stored value is a miss, and the computation's result replaces
/// it.
pub async fn corrupt_values_are_misses_and_overwritten(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("corrupt"));
    let codec = JsonZlib::default();
    let wrong_shape = codec.encode(&"not a number").unwrap();
    let non_json = Zlib::default();
    let non_json = Compression::compress(&non_json, b"{not json".to_vec()).unwrap();
    let good = codec.encode(&41u32).unwrap();
    let truncated = good[..good.len() - 3].to_vec();
    for (i, corrupt) in [
        b"random \xff\x00 bytes".to_vec(),
        truncated,
        non_json,
        wrong_shape,
        Vec::new(),
    ]
    .into_iter()
    .enumerate()
    {
        let args = || Args::new().arg(&i);
        let key = caller.key(&args());
        stores
            .async_store
            .set(&key, Bytes::from(corrupt), None)
            .await
            .unwrap();
        let runs = Runs::default();
        let r = runs.clone();
        assert_eq!(caller.call(args(), move || r.run(42u32)).await, 42);
        assert_eq!(runs.count(), 1, "corrupt value {i} was served");
        let stored = stores
            .async_store
            .get(&key)
            .await
            .unwrap()
            .expect("rewritten");
        assert_eq!(
            codec.decode::<u32>(&stored).unwrap(),
            42,
            "value {i} not overwritten"
        );
    }
}

/// `cache_data` writes at exactly the key, with the expiry, and hands the
/// value back.
pub async fn cache_data_writes_the_exact_key(stores: &Stores, path: Path) {
    let policy = Policy {
        expire: Some(Duration::from_secs(60)),
        ..Policy::in_namespace("cache-data")
    };
    let caller = Caller::new(stores, path, &policy);
    let key = format!("{}:user:123", policy.namespace);
    let value = caller.cache_data(&key, vec![("name", "Jo")]).await;
    assert_eq!(value, vec![("name", "Jo")]);
    let stored = stores.async_store.get(&key).await.unwrap().expect("stored");
    let decoded: Vec<(String, String)> = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(decoded, vec![("name".to_owned(), "Jo".to_owned())]);
    assert!(matches!(
        stores.async_store.ttl(&key).await.unwrap(),
        KeyTtl::Expires(_)
    ));
}

/// `invalidate` removes one call's entry; `clear_namespace` the whole
/// namespace and nothing outside it.
pub async fn invalidation(stores: &Stores, path: Path) {
    let policy = Policy::in_namespace("invalidate");
    let caller = Caller::new(stores, path, &policy);
    let neighbour = Caller::new(
        stores,
        path,
        &Policy {
            namespace: format!("{}x", policy.namespace),
            ..Policy::default()
        },
    );
    let runs = Runs::default();
    for i in 0..5 {
        let r = runs.clone();
        caller.call(Args::new().arg(&i), move || r.run(i)).await;
    }
    let r = runs.clone();
    caller.call(Args::new(), move || r.run(-1)).await;
    let r = runs.clone();
    neighbour.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(runs.count(), 7);

    assert!(caller.invalidate(Args::new().arg(&0)).await);
    assert!(!caller.invalidate(Args::new().arg(&0)).await);
    let r = runs.clone();
    caller.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(runs.count(), 8, "the invalidated entry was still served");

    assert_eq!(caller.clear_namespace().await, 6);
    for i in 0..5 {
        assert_eq!(
            stores
                .async_store
                .get(&caller.key(&Args::new().arg(&i)))
                .await
                .unwrap(),
            None
        );
    }
    let r = runs.clone();
    neighbour.call(Args::new().arg(&0), move || r.run(0)).await;
    assert_eq!(
        runs.count(),
        8,
        "clearing a namespace touched its neighbour"
    );
}

/// A call right after another with the same arguments is served from the
/// first one's result, even before a background write has landed.
pub async fn read_your_writes_without_flush(stores: &Stores, path: Path) {
    let policy = Policy::in_namespace("read-your-writes");
    let runs = Runs::default();
    match Caller::new(stores, path, &policy) {
        Caller::Async(m) => {
            for _ in 0..3 {
                let r = runs.clone();
                let v: u32 = m
                    .call(&Args::new().arg(&1), || async move { r.run(5) })
                    .await;
                assert_eq!(v, 5);
            }
            m.flush().await;
        }
        caller @ Caller::Blocking(_) => {
            for _ in 0..3 {
                let r = runs.clone();
                assert_eq!(
                    caller.call(Args::new().arg(&1), move || r.run(5u32)).await,
                    5
                );
            }
        }
    }
    assert_eq!(runs.count(), 1);
}

/// Many concurrent callers on one cold key: the computation runs once, the
/// others are merged into it.
pub async fn concurrent_misses_compute_once(stores: &Stores, path: Path) {
    let caller = Caller::new(stores, path, &Policy::in_namespace("stampede"));
    let runs = Runs::default();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (caller, r) = (caller.clone(), runs.clone());
            tokio::spawn(async move {
                caller
                    .call(Args::new().arg(&"cold"), move || {
                        std::thread::sleep(Duration::from_millis(200));
                        r.run(99u32)
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("caller panicked"), 99);
    }
    assert_eq!(runs.count(), 1, "the computation ran more than once");
}

/// Generates a `#[tokio::test]` per Memoizer behaviour check on the async
/// path, and with `blocking` also on the blocking path. `$make` is an async
/// expression giving [`Stores`](crate::callers::Stores).
#[macro_export]
macro_rules! memoizer_behaviour_tests {
    ($make:expr) => {
        $crate::memoizer_behaviour_tests!(@path Async, async_path, $make);
    };
    ($make:expr, blocking) => {
        $crate::memoizer_behaviour_tests!(@path Async, async_path, $make);
        $crate::memoizer_behaviour_tests!(@path Blocking, blocking_path, $make);
    };
    (@path $path:ident, $module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::memoizer_behaviour_tests!(@tests $path, $make;
                hit_and_miss, entries_expire_and_recompute, conditions_gate_caching,
                skipped_keys_share_an_entry, none_is_cached, errors_are_not_cached,
                corrupt_values_are_misses_and_overwritten, cache_data_writes_the_exact_key,
                invalidation, read_your_writes_without_flush, concurrent_misses_compute_once);
        }
    };
    (@tests $path:ident, $make:expr; $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let stores: $crate::callers::Stores = $make;
            $crate::behaviour::$check(&stores, $crate::callers::Path::$path).await;
        }
    )*};
}
