//! Every shape `#[cache_wrapper]` accepts, on the memory store, used as a
//! dependent crate uses it: through `memocache::cache_wrapper`.
//!
//! Each function counts its executions, so a test tells a hit (the count
//! stays) from a miss (it grows).

#![deny(missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memocache::codec::{Codec, JsonZlib};
use memocache::key::{Sha256, cache_key};
use memocache::store::{BlockingStore, KeyTtl};
use memocache::{Args, LocalTier, Memoizer, MemoryStore, cache_wrapper};
use serde::Serialize;

/// Counts executions of one function.
struct Runs(AtomicUsize);

impl Runs {
    const fn new() -> Self {
        Runs(AtomicUsize::new(0))
    }

    fn tick(&self) {
        self.0.fetch_add(1, SeqCst);
    }

    fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// The reference's key for keyword arguments only.
fn key(namespace: &str, args: &Args) -> String {
    cache_key(namespace, args, &[], &Sha256).unwrap()
}

// ---------------------------------------------------------------- free fns

static SQUARE: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "square", expire = 60)]
fn square(n: u64) -> u64 {
    SQUARE.tick();
    n * n
}

#[test]
fn sync_free_fn_runs_once_per_argument() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(SQUARE.get(), 1);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARE.get(), 2);
}

static HOT: Runs = Runs::new();
static HOT_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[cache_wrapper(
    store = HOT_STORE.clone(),
    namespace = "hot",
    local_tier = LocalTier::bytes(1 << 20)
)]
fn hot(n: u64) -> Vec<u64> {
    HOT.tick();
    vec![n; 3]
}

#[test]
fn local_tier_keeps_decoded_copies_and_drops_changed_ones() {
    assert_eq!(hot(2), [2, 2, 2]);
    assert_eq!(hot(2), [2, 2, 2]);
    assert_eq!(hot(2), [2, 2, 2]);
    assert_eq!(HOT.get(), 1);
    // A write to the store from elsewhere is seen at once.
    let key = hot_cache_key(2).unwrap();
    let bytes = JsonZlib::default().encode(&[9u64]).unwrap();
    BlockingStore::set(&*HOT_STORE, &key, bytes.into(), None).unwrap();
    assert_eq!(hot(2), [9]);
    assert_eq!(HOT.get(), 1);
}

static FOUND: Runs = Runs::new();
static FOUND_STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

#[cache_wrapper(
    store = FOUND_STORE.clone(),
    namespace = "found",
    expire = 3600,
    cache_if = |found| !found.is_empty(),
    expire_with = |found| (found.len() == 1).then(|| Duration::from_secs(5))
)]
fn found(n: u64) -> Vec<u64> {
    FOUND.tick();
    (0..n).collect()
}

#[test]
fn cache_if_and_expire_with_see_the_returned_value() {
    assert!(found(0).is_empty());
    assert!(found(0).is_empty());
    assert_eq!(FOUND.get(), 2, "an empty result was cached");
    let ttl = |n: u64| match BlockingStore::ttl(&*FOUND_STORE, &found_cache_key(n).unwrap()) {
        Ok(KeyTtl::Expires(left)) => left,
        other => panic!("{other:?}"),
    };
    assert_eq!(found(1), [0]);
    assert_eq!(found(1), [0]);
    assert_eq!(FOUND.get(), 3);
    assert!(ttl(1) <= Duration::from_secs(5), "{:?}", ttl(1));
    assert_eq!(found(3), [0, 1, 2]);
    assert!(ttl(3) > Duration::from_secs(3000), "{:?}", ttl(3));
}

static NAMED: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "named", cache_if = |name| !name.is_empty())]
fn named(id: u64) -> std::io::Result<String> {
    NAMED.tick();
    Ok(if id == 0 {
        String::new()
    } else {
        format!("user {id}")
    })
}

#[test]
fn cache_if_on_a_result_alias_sees_the_ok_value() {
    assert_eq!(named(0).unwrap(), "");
    assert_eq!(named(0).unwrap(), "");
    assert_eq!(NAMED.get(), 2);
    assert_eq!(named(5).unwrap(), "user 5");
    assert_eq!(named(5).unwrap(), "user 5");
    assert_eq!(NAMED.get(), 3);
}

static VERSION: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(store = MemoryStore::new(), namespace = "versioned")]
fn versioned(id: usize) -> usize {
    VERSION.load(SeqCst) + id
}

#[test]
fn refresh_recomputes_uncached_bypasses_and_the_memoizer_is_reachable() {
    VERSION.store(0, SeqCst);
    assert_eq!(versioned(1), 1);
    VERSION.store(10, SeqCst);
    assert_eq!(versioned(1), 1, "cached");
    assert_eq!(versioned_uncached(1), 11, "the body, without the cache");
    assert_eq!(versioned(1), 1, "uncached wrote nothing");
    assert_eq!(versioned_refresh(1), 11);
    assert_eq!(versioned(1), 11, "served the refreshed value");
    let stats = versioned_memoizer().stats();
    assert_eq!((stats.hits, stats.misses), (3, 1), "{stats:?}");
    assert_eq!(versioned_memoizer().namespace(), "versioned");
}

static VERSION_ASYNC: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(store = MemoryStore::new(), namespace = "versioned_async")]
async fn versioned_async(id: usize) -> Result<usize, String> {
    tokio::task::yield_now().await;
    Ok(VERSION_ASYNC.load(SeqCst) * 2 + id)
}

#[tokio::test]
async fn async_companions_refresh_and_flush() {
    VERSION_ASYNC.store(1, SeqCst);
    assert_eq!(versioned_async(1).await, Ok(3));
    versioned_async_memoizer().flush().await;
    VERSION_ASYNC.store(5, SeqCst);
    assert_eq!(versioned_async(1).await, Ok(3));
    assert_eq!(versioned_async_uncached(1).await, Ok(11));
    assert_eq!(versioned_async_refresh(1).await, Ok(11));
    assert_eq!(versioned_async(1).await, Ok(11));
    assert_eq!(
        versioned_async_memoizer().clear_namespace().await.unwrap(),
        1
    );
}

static CUBE: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "cube")]
async fn cube(n: u64) -> u64 {
    CUBE.tick();
    tokio::task::yield_now().await;
    n * n * n
}

#[tokio::test]
async fn async_free_fn_runs_once_per_argument() {
    assert_eq!(cube(2).await, 8);
    assert_eq!(cube(2).await, 8);
    assert_eq!(CUBE.get(), 1);
    assert_eq!(cube(3).await, 27);
    assert_eq!(CUBE.get(), 2);
}

static SPAWNED: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "spawned")]
async fn spawned(n: u64) -> String {
    SPAWNED.tick();
    tokio::time::sleep(Duration::from_millis(1)).await;
    format!("n={n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_futures_are_send_and_share_one_cache_across_tasks() {
    let first = tokio::spawn(spawned(5)).await.unwrap();
    let second = tokio::spawn(spawned(5)).await.unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("n=5", "n=5"));
    assert_eq!(SPAWNED.get(), 1);
}

// ------------------------------------------------------------------ methods

/// A service whose methods are cached.
#[derive(Clone)]
struct Users {
    cache: Memoizer<MemoryStore>,
    loads: usize,
}

static USERS_NAME: Runs = Runs::new();
static USERS_ROLES: Runs = Runs::new();
static USERS_LOOKUP: Runs = Runs::new();
static USERS_SUMMARY: Runs = Runs::new();

impl Users {
    fn new(namespace: &str) -> Self {
        Users {
            cache: Memoizer::builder(MemoryStore::new())
                .namespace(namespace)
                .build(),
            loads: 0,
        }
    }

    #[cache_wrapper(memoizer = self.cache, skip_self)]
    fn name(&self, user_id: u64) -> String {
        USERS_NAME.tick();
        format!("{}-{user_id}", self.cache.namespace())
    }

    #[cache_wrapper(memoizer = self.cache, skip_self)]
    fn load(&mut self, user_id: u64) -> u64 {
        self.loads += 1;
        self.bump();
        user_id + 1
    }

    fn bump(&mut self) {}

    #[cache_wrapper(memoizer = &self.cache, skip_self)]
    async fn roles(&self, user_id: u64) -> Vec<String> {
        USERS_ROLES.tick();
        tokio::task::yield_now().await;
        vec![format!("role-{user_id}")]
    }

    #[cache_wrapper(memoizer = self.cache.clone(), skip_self)]
    fn into_summary(self, user_id: u64) -> String {
        USERS_SUMMARY.tick();
        let Users { loads, .. } = self;
        format!("{user_id}:{loads}")
    }

    #[cache_wrapper(store = MemoryStore::new(), namespace = "users:lookup")]
    fn lookup(user_id: u64) -> Option<String> {
        USERS_LOOKUP.tick();
        Some(format!("user-{user_id}")).filter(|_| user_id != 0)
    }
}

#[test]
fn ref_self_method_is_cached_without_self_in_the_key() {
    let users = Users::new("users:name");
    assert_eq!(users.name(1), "users:name-1");
    assert_eq!(users.name(1), "users:name-1");
    assert_eq!(USERS_NAME.get(), 1);
    // Another instance on the same namespace and store would hit too: the
    // receiver is not in the key.
    assert_eq!(
        users.name_cache_key(1).unwrap(),
        key("users:name", &Args::new().kwarg("user_id", &1))
    );
}

#[test]
fn mut_self_method_can_mutate_self_in_its_body() {
    let mut users = Users::new("users:load");
    assert_eq!(users.load(7), 8);
    assert_eq!(users.load(7), 8);
    assert_eq!(users.loads, 1);
    assert_eq!(users.load(8), 9);
    assert_eq!(users.loads, 2);
    assert!(users.load_invalidate(7).unwrap());
    assert_eq!(users.load(7), 8);
    assert_eq!(users.loads, 3);
}

#[tokio::test]
async fn async_ref_self_method_is_cached() {
    let users = Users::new("users:roles");
    assert_eq!(users.roles(2).await, ["role-2"]);
    assert_eq!(users.roles(2).await, ["role-2"]);
    assert_eq!(USERS_ROLES.get(), 1);
    assert!(users.roles_invalidate(2).await.unwrap());
    assert!(!users.roles_invalidate(2).await.unwrap());
}

#[test]
fn by_value_self_method_is_cached() {
    let users = Users::new("users:summary");
    assert_eq!(users.clone().into_summary(3), "3:0");
    let mut busier = users.clone();
    busier.loads = 9;
    // Same namespace, same store, same argument: a hit, whatever `self` is.
    assert_eq!(busier.into_summary(3), "3:0");
    assert_eq!(USERS_SUMMARY.get(), 1);
    assert!(users.into_summary_invalidate(3).unwrap());
}

#[test]
fn associated_fn_is_cached_and_none_is_a_cached_value() {
    assert_eq!(Users::lookup(4).as_deref(), Some("user-4"));
    assert_eq!(Users::lookup(4).as_deref(), Some("user-4"));
    assert_eq!(USERS_LOOKUP.get(), 1);
    assert_eq!(Users::lookup(0), None);
    assert_eq!(Users::lookup(0), None);
    assert_eq!(USERS_LOOKUP.get(), 2);
    assert!(Users::lookup_invalidate(0).unwrap());
    assert_eq!(
        Users::lookup_cache_key(4).unwrap(),
        key("users:lookup", &Args::new().kwarg("user_id", &4))
    );
}

/// A value whose identity is part of the key (`key_self`).
#[derive(Serialize)]
struct Tenant {
    id: u32,
}

static TENANT_PLAN: Runs = Runs::new();
static TENANT_SEATS: Runs = Runs::new();

impl Tenant {
    fn store() -> MemoryStore {
        MemoryStore::new()
    }

    #[cache_wrapper(store = Self::store(), namespace = "tenant:seats", skip_self)]
    fn seats(self: Arc<Self>, extra: u32) -> u32 {
        TENANT_SEATS.tick();
        self.id + extra
    }

    #[cache_wrapper(store = MemoryStore::new(), namespace = "tenant:plan", key_self)]
    fn plan(&self, year: u16) -> String {
        TENANT_PLAN.tick();
        format!("{}-{year}", self.id)
    }
}

#[test]
fn key_self_puts_the_receiver_in_the_key_as_self() {
    let (a, b) = (Tenant { id: 1 }, Tenant { id: 2 });
    assert_eq!(a.plan(2025), "1-2025");
    assert_eq!(b.plan(2025), "2-2025");
    assert_eq!(a.plan(2025), "1-2025");
    assert_eq!(TENANT_PLAN.get(), 2);
    assert_eq!(
        a.plan_cache_key(2025).unwrap(),
        key(
            "tenant:plan",
            &Args::new().kwarg("self", &a).kwarg("year", &2025)
        )
    );
}

#[test]
fn typed_receivers_and_a_store_expression_using_self_type_work() {
    let tenant = Arc::new(Tenant { id: 10 });
    assert_eq!(Arc::clone(&tenant).seats(1), 11);
    assert_eq!(
        Arc::new(Tenant { id: 99 }).seats(1),
        11,
        "self is not in the key"
    );
    assert_eq!(TENANT_SEATS.get(), 1);
    assert!(tenant.seats_invalidate(1).unwrap());
    assert_eq!(
        tenant.seats_cache_key(1).unwrap(),
        key("tenant:seats", &Args::new().kwarg("extra", &1))
    );
}

/// A generic impl: the memoizer's `static` is shared by every `T`.
struct Labelled<T> {
    label: T,
}

static LABELLED: Runs = Runs::new();

impl<T: Display> Labelled<T> {
    #[cache_wrapper(store = MemoryStore::new(), namespace = "labelled", skip_self)]
    fn render(&self, width: usize) -> String {
        LABELLED.tick();
        format!("{:>width$}", self.label)
    }
}

#[test]
fn methods_of_generic_impls_are_cached() {
    let a = Labelled { label: "x" };
    assert_eq!(a.render(3), "  x");
    assert_eq!(a.render(3), "  x");
    assert_eq!(LABELLED.get(), 1);
    // Not in the key: `self`, and so `T`.
    assert_eq!(Labelled { label: 7 }.render(3), "  x");
    assert_eq!(LABELLED.get(), 1);
}

// -------------------------------------------------------- generics, params

static DESCRIBE: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "describe")]
fn describe<T>(value: T) -> String
where
    T: Serialize + Display,
{
    DESCRIBE.tick();
    format!("<{value}>")
}

#[test]
fn generic_fn_is_cached_per_serialized_argument() {
    assert_eq!(describe(5), "<5>");
    assert_eq!(describe("five"), "<five>");
    assert_eq!(describe(5), "<5>");
    assert_eq!(DESCRIBE.get(), 2);
    // 5u8 and 5i64 serialize alike: one key, as in Python.
    assert_eq!(describe(5u8), "<5>");
    assert_eq!(DESCRIBE.get(), 2);
}

static PARSE_AS: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "parse_as")]
fn parse_as<T: FromStr + memocache::Cacheable>(text: &str) -> Option<T> {
    PARSE_AS.tick();
    text.parse().ok()
}

#[test]
fn a_type_parameter_only_the_return_type_uses_is_not_a_companion_parameter() {
    assert_eq!(parse_as::<u32>("42"), Some(42));
    assert_eq!(parse_as::<u32>("42"), Some(42));
    assert_eq!(PARSE_AS.get(), 1);
    // `parse_as_cache_key` needs no turbofish: `T` is not in the key.
    assert_eq!(
        parse_as_cache_key("42").unwrap(),
        key("parse_as", &Args::new().kwarg("text", &"42"))
    );
    assert!(parse_as_invalidate("42").unwrap());
}

/// Options passed by reference.
#[derive(Serialize)]
struct Filter {
    min: i64,
}

static TOTAL: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "total")]
fn total(name: &str, values: &[i64], filter: &Filter, tags: &BTreeMap<String, u8>) -> String {
    TOTAL.tick();
    let sum: i64 = values.iter().filter(|v| **v >= filter.min).sum();
    format!("{name}:{sum}:{}", tags.len())
}

#[test]
fn parameters_by_reference_are_keyed_by_value() {
    let tags = BTreeMap::from([("a".to_owned(), 1)]);
    assert_eq!(total("t", &[1, 2, 3], &Filter { min: 2 }, &tags), "t:5:1");
    let owned = String::from("t");
    let values = vec![1, 2, 3];
    assert_eq!(total(&owned, &values, &Filter { min: 2 }, &tags), "t:5:1");
    assert_eq!(TOTAL.get(), 1);
    assert_eq!(total("t", &[1, 2, 3], &Filter { min: 1 }, &tags), "t:6:1");
    assert_eq!(TOTAL.get(), 2);
    assert_eq!(
        total_cache_key("t", &[1, 2, 3], &Filter { min: 2 }, &tags).unwrap(),
        key(
            "total",
            &Args::new()
                .kwarg("name", &"t")
                .kwarg("values", &[1, 2, 3])
                .kwarg("filter", &Filter { min: 2 })
                .kwarg("tags", &tags)
        )
    );
}

static SHOW: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "show")]
fn show(mut count: u32, r#type: &str, label: impl Serialize + Display) -> String {
    SHOW.tick();
    count += 1;
    format!("{type}:{label}:{count}")
}

#[test]
fn mut_bindings_raw_identifiers_and_impl_trait_arguments_work() {
    assert_eq!(show(1, "a", "x"), "a:x:2");
    assert_eq!(show(1, "a", "x"), "a:x:2");
    assert_eq!(SHOW.get(), 1);
    assert_eq!(
        show_cache_key(1, "a", "x").unwrap(),
        key(
            "show",
            &Args::new()
                .kwarg("count", &1)
                .kwarg("type", &"a")
                .kwarg("label", &"x")
        )
    );
}

// ------------------------------------------------------------ return kinds

static FETCH: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "fetch")]
fn fetch(id: u64) -> Result<String, String> {
    FETCH.tick();
    if id % 2 == 1 {
        return Err(format!("{id} is odd"));
    }
    Ok(format!("item-{id}"))
}

#[test]
fn result_caches_ok_and_computes_err_again() {
    assert_eq!(fetch(1), Err("1 is odd".to_owned()));
    assert_eq!(fetch(1), Err("1 is odd".to_owned()));
    assert_eq!(FETCH.get(), 2);
    assert_eq!(fetch(2).as_deref(), Ok("item-2"));
    assert_eq!(fetch(2).as_deref(), Ok("item-2"));
    assert_eq!(FETCH.get(), 3);
}

static PARSE_NUM: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "parse_num")]
fn parse_num(text: &str) -> Result<i64, std::num::ParseIntError> {
    PARSE_NUM.tick();
    let n: i64 = text.trim().parse()?;
    if n < 0 {
        return Ok(0);
    }
    Ok(n * 2)
}

#[test]
fn question_mark_and_return_in_a_sync_body() {
    assert!(parse_num("x").is_err());
    assert!(parse_num("x").is_err());
    assert_eq!(PARSE_NUM.get(), 2);
    assert_eq!(parse_num("-3"), Ok(0));
    assert_eq!(parse_num("21"), Ok(42));
    assert_eq!(parse_num("21"), Ok(42));
    assert_eq!(PARSE_NUM.get(), 4);
}

static READ_LEN: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "read_len")]
async fn read_len(text: &str) -> std::io::Result<usize> {
    READ_LEN.tick();
    tokio::task::yield_now().await;
    if text.is_empty() {
        return Err(std::io::Error::other("empty"));
    }
    let n: usize = text.len();
    let checked = u32::try_from(n).map_err(std::io::Error::other)?;
    Ok(checked as usize)
}

#[tokio::test]
async fn question_mark_and_return_in_an_async_body_with_a_result_alias() {
    assert!(read_len("").await.is_err());
    assert!(read_len("").await.is_err());
    assert_eq!(READ_LEN.get(), 2);
    assert_eq!(read_len("abc").await.unwrap(), 3);
    assert_eq!(read_len("abc").await.unwrap(), 3);
    assert_eq!(READ_LEN.get(), 3);
}

static EARLY: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "early")]
async fn early(n: i32) -> i32 {
    EARLY.tick();
    if n < 0 {
        return 0;
    }
    n * 2
}

#[tokio::test]
async fn return_in_an_async_body_returns_the_value_and_caches_it() {
    assert_eq!(early(-1).await, 0);
    assert_eq!(early(-1).await, 0);
    assert_eq!(early(4).await, 8);
    assert_eq!(EARLY.get(), 2);
}

/// A `Result` that the return type does not spell.
type Outcome<T> = Result<T, String>;

static FORCED: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "forced", result)]
fn forced(id: u8) -> Outcome<u8> {
    FORCED.tick();
    if id == 0 { Err("zero".into()) } else { Ok(id) }
}

static PLAIN: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "plain", plain)]
fn plain(id: u8) -> Result<u8, String> {
    PLAIN.tick();
    if id == 0 { Err("zero".into()) } else { Ok(id) }
}

#[test]
fn result_flag_forces_ok_only_and_plain_caches_errors_too() {
    assert!(forced(0).is_err());
    assert!(forced(0).is_err());
    assert_eq!(FORCED.get(), 2);
    assert_eq!(forced(1), Ok(1));
    assert_eq!(forced(1), Ok(1));
    assert_eq!(FORCED.get(), 3);

    assert!(plain(0).is_err());
    assert!(plain(0).is_err());
    assert_eq!(PLAIN.get(), 1);
}

static WARM: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "warm", expire = 60)]
fn warm(id: u64) {
    WARM.tick();
    let _ = id;
}

#[test]
fn a_function_without_a_return_value_runs_once_per_argument() {
    warm(1);
    warm(1);
    assert_eq!(WARM.get(), 1);
}

// ---------------------------------------------------- skip and conditions

static PRODUCT: Runs = Runs::new();

/// A connection that cannot be serialized.
struct Db;

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "product:details",
    skip_cache_keys = ["request_id", "db"],
)]
fn product(product_id: u64, request_id: &str, db: &Db) -> String {
    PRODUCT.tick();
    let _ = db;
    format!("product-{product_id} for {request_id}")
}

#[test]
fn skipped_parameters_are_not_in_the_key_and_need_not_serialize() {
    assert_eq!(product(1, "req-a", &Db), "product-1 for req-a");
    assert_eq!(product(1, "req-b", &Db), "product-1 for req-a");
    assert_eq!(PRODUCT.get(), 1);
    assert_eq!(
        product_cache_key(1, "req-z", &Db).unwrap(),
        key("product:details", &Args::new().kwarg("product_id", &1))
    );
}

static ORDERS: Runs = Runs::new();

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "orders",
    cache_only_for = [("status", ["completed", "shipped"]), ("limit", [10, 20])],
)]
fn orders(user_id: u64, status: &str, limit: u32) -> Vec<String> {
    ORDERS.tick();
    vec![format!("{user_id}-{status}-{limit}")]
}

#[test]
fn cache_only_for_matches_any_condition_by_parameter_name() {
    let runs = || ORDERS.get();
    orders(1, "pending", 5);
    orders(1, "pending", 5);
    assert_eq!(runs(), 2, "no condition matches: never cached");
    orders(1, "shipped", 5);
    orders(1, "shipped", 5);
    assert_eq!(runs(), 3, "status matches");
    orders(1, "pending", 20);
    orders(1, "pending", 20);
    assert_eq!(runs(), 4, "limit matches");
}

static FLAGGED: Runs = Runs::new();

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "flagged",
    cache_only_for = [("flag", [None, Some(true)]), ("mode", ["fast", "slow"])],
    skip_cache_keys = ["flag"],
)]
fn flagged(id: u32, flag: Option<bool>, mode: &str) -> u32 {
    FLAGGED.tick();
    let _ = (flag, mode);
    id
}

#[test]
fn none_is_a_condition_value_and_a_skipped_parameter_can_be_conditioned() {
    flagged(1, None, "x");
    flagged(1, None, "x");
    assert_eq!(FLAGGED.get(), 1, "None matches");
    flagged(1, Some(false), "x");
    flagged(1, Some(false), "x");
    assert_eq!(FLAGGED.get(), 3, "Some(false) matches nothing");
    flagged(2, Some(false), "slow");
    flagged(2, Some(false), "slow");
    assert_eq!(FLAGGED.get(), 4, "mode matches");
    // `flag` is skipped: not in the key even though a condition reads it.
    assert_eq!(
        flagged_cache_key(2, Some(true), "slow").unwrap(),
        key(
            "flagged",
            &Args::new().kwarg("id", &2).kwarg("mode", &"slow")
        )
    );
}

// ------------------------------------------------------------------- keys

#[cache_wrapper(store = MemoryStore::new(), namespace = "user")]
fn no_arguments() -> u8 {
    0
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "user", positional = 1)]
fn one_positional(user_id: u64) -> u64 {
    user_id
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "ns")]
fn a_then_b(a: u8, b: u8) -> u8 {
    a + b
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "ns")]
fn b_then_a(b: u8, a: u8) -> u8 {
    a + b
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "ns", skip_cache_keys = ["request_id"])]
fn skip_one(user_id: u64, request_id: &str) -> u64 {
    let _ = request_id;
    user_id
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "ns",
    skip_cache_keys = ["request_id", "timestamp"],
)]
fn skip_all(request_id: &str, timestamp: &str) -> u8 {
    let _ = (request_id, timestamp);
    0
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "ns:", positional = 1)]
fn colon_namespace(x: u8, a: u8) -> u8 {
    x + a
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "")]
fn empty_namespace(a: u8) -> u8 {
    a
}

#[test]
fn macro_keys_equal_the_python_reference_vectors() {
    let cases = support::vectors::key_cases();
    let reference = |name: &str| support::vectors::KeyCase::named(&cases, name).key.clone();
    let checks = [
        ("no arguments", no_arguments_cache_key()),
        ("one positional int", one_positional_cache_key(123)),
        ("keyword status", user_positional_cache_key(123, "active")),
        ("keyword order a,b", a_then_b_cache_key(1, 2)),
        ("keyword order b,a", b_then_a_cache_key(2, 1)),
        ("skip one of two", skip_one_cache_key(789, "abc-123")),
        ("skip all keywords", skip_all_cache_key("abc", "t")),
        (
            "namespace ending in ':' with args",
            colon_namespace_cache_key(1, 1),
        ),
        ("empty namespace with kwargs", empty_namespace_cache_key(1)),
    ];
    for (name, ours) in checks {
        assert_eq!(ours.unwrap(), reference(name), "vector {name:?}");
    }
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "user")]
fn user(user_id: u64, status: &str) -> String {
    format!("{user_id}:{status}")
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "user", positional = 1)]
fn user_positional(user_id: u64, status: &str) -> String {
    format!("{user_id}:{status}")
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "user", positional = 2)]
fn user_all_positional(user_id: u64, status: &str) -> String {
    format!("{user_id}:{status}")
}

#[test]
fn the_key_is_the_reference_key_of_a_keyword_call() {
    let expected = key(
        "user",
        &Args::new()
            .kwarg("user_id", &123)
            .kwarg("status", &"active"),
    );
    assert_eq!(user_cache_key(123, "active").unwrap(), expected);
    // The layout, spelled out: namespace, then the hash of the kwargs.
    let (ns, hash) = expected.split_once(':').unwrap();
    assert_eq!(ns, "user");
    assert_eq!(hash.len(), 64);
}

#[test]
fn positional_n_makes_the_first_n_parameters_positional() {
    assert_eq!(
        user_positional_cache_key(123, "active").unwrap(),
        key("user", &Args::new().arg(&123).kwarg("status", &"active"))
    );
    assert_ne!(
        user_positional_cache_key(123, "active").unwrap(),
        user_cache_key(123, "active").unwrap()
    );
    let all = user_all_positional_cache_key(123, "active").unwrap();
    assert_eq!(all, key("user", &Args::new().arg(&123).arg(&"active")));
    assert_eq!(all.matches(':').count(), 1, "no kwargs part");
}

static POSITIONAL_CONDITION: Runs = Runs::new();

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "pc",
    positional = 1,
    cache_only_for = [("user_id", [1])],
)]
fn positional_condition(user_id: u64) -> u64 {
    POSITIONAL_CONDITION.tick();
    user_id
}

#[test]
fn conditions_still_see_positional_parameters_by_name() {
    positional_condition(1);
    positional_condition(1);
    assert_eq!(POSITIONAL_CONDITION.get(), 1);
    positional_condition(2);
    positional_condition(2);
    assert_eq!(POSITIONAL_CONDITION.get(), 3);
}

// ------------------------------------------------- store, expiry, sharing

static SHARED: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);
const TTL: u64 = 120;

#[cache_wrapper(store = SHARED.clone(), namespace = "shared:secs", expire = 30)]
fn shared_secs(id: u32) -> Vec<u32> {
    vec![id; 2]
}

#[cache_wrapper(store = SHARED.clone(), namespace = "shared:dur", expire = Duration::from_millis(90_500))]
fn shared_duration(id: u32) -> u32 {
    id
}

#[cache_wrapper(store = SHARED.clone(), namespace = "shared:const", expire = TTL)]
fn shared_const(id: u32) -> u32 {
    id
}

#[cache_wrapper(store = SHARED.clone(), namespace = "shared:none")]
fn shared_forever(id: u32) -> u32 {
    id
}

fn ttl_of(key: &str) -> KeyTtl {
    BlockingStore::ttl(&*SHARED, key).unwrap()
}

fn expires_within(ttl: KeyTtl, low: u64, high: u64) -> bool {
    matches!(ttl, KeyTtl::Expires(d) if d > Duration::from_secs(low) && d <= Duration::from_secs(high))
}

#[test]
fn the_stored_value_is_the_reference_format_with_the_configured_expiry() {
    assert_eq!(shared_secs(4), [4, 4]);
    let key = shared_secs_cache_key(4).unwrap();
    let stored = BlockingStore::get(&*SHARED, &key).unwrap().unwrap();
    let decoded: Vec<u32> = JsonZlib::default().decode(&stored).unwrap();
    assert_eq!(decoded, [4, 4]);
    assert!(expires_within(ttl_of(&key), 25, 30));

    shared_duration(1);
    let ttl = ttl_of(&shared_duration_cache_key(1).unwrap());
    assert!(expires_within(ttl, 85, 91), "{ttl:?}");
    shared_const(1);
    assert!(expires_within(
        ttl_of(&shared_const_cache_key(1).unwrap()),
        115,
        120
    ));
    shared_forever(1);
    assert_eq!(
        ttl_of(&shared_forever_cache_key(1).unwrap()),
        KeyTtl::Persistent
    );
}

static MEMO: LazyLock<Memoizer<MemoryStore>> = LazyLock::new(|| {
    Memoizer::builder(MemoryStore::new())
        .namespace("lazy")
        .build()
});
static LAZY: Runs = Runs::new();

#[cache_wrapper(memoizer = MEMO, skip_cache_keys = ["trace"])]
fn lazy(id: u32, trace: &Db) -> u32 {
    LAZY.tick();
    let _ = trace;
    id
}

#[test]
fn memoizer_can_be_a_lazy_static_and_skip_still_applies() {
    lazy(1, &Db);
    lazy(1, &Db);
    assert_eq!(LAZY.get(), 1);
    assert_eq!(
        lazy_cache_key(1, &Db).unwrap(),
        key("lazy", &Args::new().kwarg("id", &1))
    );
    assert!(lazy_invalidate(1, &Db).unwrap());
}

// ------------------------------------------------------- invalidation

static PRICE: Runs = Runs::new();

#[cache_wrapper(store = MemoryStore::new(), namespace = "price", expire = 30)]
async fn price(symbol: &str) -> f64 {
    PRICE.tick();
    symbol.len() as f64 * 1.5
}

#[tokio::test]
async fn invalidate_deletes_exactly_that_call() {
    assert_eq!(price("AAPL").await, 6.0);
    assert_eq!(price("MSFT").await, 6.0);
    assert_eq!(PRICE.get(), 2);
    assert!(price_invalidate("AAPL").await.unwrap());
    assert!(!price_invalidate("AAPL").await.unwrap(), "already gone");
    price("MSFT").await;
    assert_eq!(PRICE.get(), 2, "MSFT untouched");
    price("AAPL").await;
    assert_eq!(PRICE.get(), 3, "AAPL computed again");
}

// ------------------------------------------- docs and visibility preserved

/// Functions cached in another module.
pub mod catalog {
    use memocache::{MemoryStore, cache_wrapper};

    /// How many times [`stock`] ran.
    pub static STOCK_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// The stock of an item: documented, public, and so are its companions
    /// (`#![deny(missing_docs)]` on this crate checks it).
    #[must_use]
    #[cache_wrapper(store = MemoryStore::new(), namespace = "catalog:stock")]
    pub fn stock(item: u32) -> u32 {
        STOCK_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        item * 10
    }

    #[cache_wrapper(store = MemoryStore::new(), namespace = "catalog:restricted")]
    pub(crate) fn restricted(item: u32) -> u32 {
        item + 1
    }
}

#[test]
fn visibility_and_attributes_are_kept() {
    assert_eq!(catalog::stock(2), 20);
    assert_eq!(catalog::stock(2), 20);
    assert_eq!(catalog::STOCK_RUNS.load(SeqCst), 1);
    assert!(catalog::stock_invalidate(2).unwrap());
    assert_eq!(catalog::restricted(1), 2);
    assert!(catalog::restricted_invalidate(1).unwrap());
    assert!(
        catalog::restricted_cache_key(1)
            .unwrap()
            .starts_with("catalog:restricted:")
    );
}

// ------------------------------------------------------- writes and stores

#[cache_wrapper(store = MemoryStore::new(), namespace = "written")]
async fn written(n: u64) -> u64 {
    n
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "behind",
    write_behind = true,
    op_timeout = Duration::from_secs(2)
)]
async fn behind(n: u64) -> u64 {
    n
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "unbounded", op_timeout = None)]
async fn unbounded(n: u64) -> u64 {
    n
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_waits_for_its_write_unless_write_behind_is_asked_for() {
    use memocache::store::Store;
    let stored = |memo: &'static Memoizer<memocache::__private::AsyncStore>, n: u64| async move {
        let key = memo.key(&Args::new().kwarg("n", &n)).unwrap();
        Store::get(&**memo.store(), &key).await.unwrap().is_some()
    };
    // By default the entry is in the store when the call returns.
    assert_eq!(written(1).await, 1);
    assert!(stored(written_memoizer(), 1).await);
    // With write-behind, the write is a task of this (single-threaded)
    // runtime, which has not run yet; the flush waits for it.
    assert_eq!(behind(1).await, 1);
    assert!(!stored(behind_memoizer(), 1).await);
    behind_memoizer().flush().await;
    assert!(stored(behind_memoizer(), 1).await);
    assert_eq!(unbounded(2).await, 2);
    assert!(stored(unbounded_memoizer(), 2).await);
}

static UNBUILT: Runs = Runs::new();

/// A store constructor that fails, as `RedisStore::connect_lazy` does on
/// a malformed `REDIS_URL`.
fn unbuildable_store() -> memocache::Result<MemoryStore> {
    Err(memocache::Error::config(
        "REDIS_URL: the port is not a number; set it to redis://host:port/db",
    ))
}

#[cache_wrapper(store = unbuildable_store(), namespace = "unbuilt")]
fn unbuilt(n: u64) -> u64 {
    UNBUILT.tick();
    n
}

#[test]
fn a_store_that_could_not_be_built_is_logged_once_and_the_function_runs_uncached() {
    let (events, _guard) = support::logs::capture();
    for _ in 0..3 {
        assert_eq!(unbuilt(4), 4);
    }
    assert_eq!(UNBUILT.get(), 3, "every call computes");
    let stats = unbuilt_memoizer().stats();
    assert_eq!((stats.hits, stats.misses, stats.bypassed), (0, 0, 3));
    assert_eq!(stats.store_errors, 0, "no store operation was tried");
    // The companion that asks the store directly is told why.
    let error = unbuilt_invalidate(4).unwrap_err().to_string();
    assert!(error.contains("REDIS_URL"), "{error}");

    let logged: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| e.field("function") == Some("unbuilt"))
        .collect();
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0].level, tracing::Level::ERROR);
    let error = logged[0].field("error").unwrap();
    assert!(error.contains("REDIS_URL"), "names the variable: {error}");
}

/// One store for several functions, sync and async, as a service shares
/// its Redis store.
static ONE_STORE: LazyLock<memocache::Result<MemoryStore>> =
    LazyLock::new(|| Ok(MemoryStore::new()));

#[cache_wrapper(store = &ONE_STORE, namespace = "shared:sync")]
fn shared_sync(n: u64) -> u64 {
    n + 1
}

#[cache_wrapper(store = &ONE_STORE, namespace = "shared:async")]
async fn shared_async(n: u64) -> u64 {
    n + 2
}

#[tokio::test]
async fn functions_given_one_shared_store_write_to_that_store() {
    assert_eq!(shared_sync(1), 2);
    assert_eq!(shared_async(1).await, 3);
    let store = ONE_STORE.as_ref().unwrap();
    let sync_key = shared_sync_cache_key(1).unwrap();
    let async_key = shared_async_cache_key(1).unwrap();
    assert!(BlockingStore::get(store, &sync_key).unwrap().is_some());
    assert!(BlockingStore::get(store, &async_key).unwrap().is_some());
}
