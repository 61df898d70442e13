//! ACL users: credentials with special characters, key patterns, and
//! refused writes that are logged, never raised.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use memocache_core::testing::{Runs, unique_prefix};
use memocache_core::{Args, Error, Memoizer, RedisConfig};
use memocache_redis::{RedisBlockingStore, RedisStore};
use memocache_testkit::RedisServer;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

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

/// Every tracing event's fields, as text.
type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// Records every event of the test process.
struct Capture(Events);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Fields(BTreeMap<String, String>);
        impl Visit for Fields {
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.insert(field.name().to_owned(), value.to_owned());
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.insert(field.name().to_owned(), format!("{value:?}"));
            }
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

fn captured_events() -> Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Events::default();
            let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&events)));
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
            events
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_its_key_pattern_an_acl_user_caches() {
    let server = acl_server();
    let store = RedisStore::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
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
}

#[test]
fn inside_its_key_pattern_the_blocking_client_caches() {
    let server = acl_server();
    let store = RedisBlockingStore::connect(&config(&server)).expect("log in as the ACL user");
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
async fn outside_its_key_pattern_a_refused_write_is_logged_not_raised() {
    let events = captured_events();
    let server = acl_server();
    let store = RedisStore::connect(&config(&server))
        .await
        .expect("log in as the ACL user");
    let memo = Memoizer::builder(store)
        .namespace(format!("other:{}", unique_prefix("acl")))
        .build();
    let args = Args::new().kwarg("id", &7);
    let key = memo.key(&args).unwrap();
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: Vec<u32> = memo.call(&args, || async move { r.run(vec![1, 2]) }).await;
        assert_eq!(value, vec![1, 2], "the computed value was not returned");
    }
    assert_eq!(runs.count(), 2, "a key outside the ACL pattern was cached");

    // A write alone (no read first) is refused, logged, and the value
    // handed back.
    let written_key = format!("{}:written", memo.namespace());
    let value = memo.cache_data(&written_key, vec![3u32]).await;
    assert_eq!(value, vec![3]);

    let events = events.lock().unwrap();
    for key in [&key, &written_key] {
        assert!(
            events.iter().any(|fields| {
                fields.get("redis_key") == Some(key)
                    && fields
                        .get("error")
                        .is_some_and(|e| e.to_uppercase().contains("NOPERM"))
            }),
            "no event with redis_key={key} and a NOPERM error; events: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .flat_map(|fields| fields.values())
            .all(|value| !value.contains(PASSWORD)),
        "the password was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_without_showing_it() {
    let server = acl_server();
    let config = config(&server).password("s3cret");
    let error = RedisStore::connect(&config)
        .await
        .expect_err("logged in with a wrong password");
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
    let message = error.to_string();
    assert!(
        message.contains("WRONGPASS") || message.to_lowercase().contains("auth"),
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
        RedisBlockingStore::connect(&config).expect_err("logged in with a wrong password");
    assert!(!blocking.to_string().contains("s3cret"), "{blocking}");
    assert!(!format!("{blocking:?}").contains("s3cret"), "{blocking:?}");
}
