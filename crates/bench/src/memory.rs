//! The in-memory store's hits: memocache (`MemoryStore` through
//! `Memoizer::call_blocking`) against a bare moka get plus a decode of the
//! same bytes with the same codec; and with a local tier, against typed
//! in-process caches that keep the value decoded (a moka
//! `Cache<String, T>` get and the `cached` crate's `LruCache` behind a
//! mutex, each cloning the value).

use std::collections::BTreeMap;
use std::sync::Mutex;

use cached::{Cached as _, LruCache};
use memocache::codec::{Codec as _, JsonZlib};
use memocache::{LocalTier, Memoizer, MemoryStore};
use moka::sync::Cache;
use serde::Serialize;

use crate::keys;
use crate::remote::args;
use crate::sampling::{median, nanos_per_op, paired_ratio, round_order};
use crate::schedule::Schedule;
use crate::value::{ORDER_ID, Order, Size};

/// Nanoseconds per hit on one value, and what they are made of.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryHits {
    /// memocache's hit: arguments, key, store read, decode (median of
    /// rounds).
    pub memocache_ns: f64,
    /// The floor: `moka::sync::Cache::get` of the key plus the decode.
    pub moka_get_decode_ns: f64,
    /// memocache over the floor, the median of per-round ratios (lower is
    /// better).
    pub ratio: f64,
    /// memocache's figure per round.
    pub memocache_rounds: Vec<f64>,
    /// The floor's figure per round.
    pub moka_rounds: Vec<f64>,
    /// memocache with its resilience features switched off one by one
    /// (measured in the same rounds): what each costs on a hit.
    pub variants: BTreeMap<String, f64>,
    /// Part of both: decoding the stored bytes alone.
    pub decode_only_ns: f64,
    /// Part of memocache's: building the call's arguments and its key.
    pub args_and_key_ns: f64,
    /// memocache's hit with a local tier over the store (a decoded copy
    /// cloned, no decode).
    pub tier_ns: f64,
    /// A typed moka get of the decoded value (cloned).
    pub moka_typed_ns: f64,
    /// A get from the `cached` crate's `LruCache` behind a mutex, as its
    /// `#[cached]` functions do (cloned).
    pub cached_lru_ns: f64,
    /// The tier hit over the typed moka get, median of per-round ratios.
    pub tier_vs_moka_typed: f64,
    /// The tier hit over the `LruCache` get, median of per-round ratios.
    pub tier_vs_cached_lru: f64,
    /// The tier hit per round.
    pub tier_rounds: Vec<f64>,
    /// The typed moka get per round.
    pub moka_typed_rounds: Vec<f64>,
    /// The `LruCache` get per round.
    pub cached_lru_rounds: Vec<f64>,
}

/// One in-process operation under test.
type LocalOp = Box<dyn FnMut()>;

/// The variants' names.
pub mod variant {
    /// `single_flight(false)`.
    pub const NO_SINGLE_FLIGHT: &str = "without single-flight";
    /// `circuit_breaker(None)`.
    pub const NO_BREAKER: &str = "without circuit breaker";
    /// Both off.
    pub const NEITHER: &str = "without either";
}

/// Measures memory-store hits on `size` values.
pub fn hits(size: Size, schedule: &Schedule) -> MemoryHits {
    let order = Order::new(size);
    let codec = JsonZlib::default();
    let bytes = memocache::store::Bytes::from(codec.encode(&order).expect("encodes"));

    let memoizer = |single_flight: bool, breaker: bool, tier: bool| {
        let mut builder = Memoizer::builder(MemoryStore::new())
            .namespace(crate::remote::NAMESPACE)
            .expire_secs(3600)
            .single_flight(single_flight);
        if tier {
            builder = builder.local_tier(LocalTier::bytes(64 << 20));
        }
        let memo = if breaker {
            builder.build()
        } else {
            builder.circuit_breaker(None).build()
        };
        // The miss writes; with a tier, the next read keeps the copy.
        for _ in 0..2 {
            let _: Order = memo.call_blocking(&args(0, size), || order.clone());
        }
        memo
    };
    let memocache_hit = |memo: Memoizer<MemoryStore>| {
        let order = order.clone();
        move || {
            let value: Order = memo.call_blocking(&args(0, size), || order.clone());
            debug_assert_eq!(value.id, ORDER_ID);
            std::hint::black_box(value);
        }
    };
    let key = keys::sha256_key(&args(0, size));
    let moka: Cache<String, memocache::store::Bytes> = Cache::new(10_000);
    moka.insert(key.clone(), bytes.clone());
    let moka_hit = {
        let key = key.clone();
        move || {
            let stored = moka.get(&key).expect("a moka hit");
            let value: Order = codec.decode(&stored).expect("decodes");
            debug_assert_eq!(value.id, ORDER_ID);
            std::hint::black_box(value);
        }
    };
    let typed: Cache<String, Order> = Cache::new(10_000);
    typed.insert(key.clone(), order.clone());
    let typed_hit = {
        let key = key.clone();
        move || {
            let value = typed.get(&key).expect("a moka hit");
            debug_assert_eq!(value.id, ORDER_ID);
            std::hint::black_box(value);
        }
    };
    let lru: Mutex<LruCache<String, Order>> = Mutex::new(
        LruCache::builder()
            .max_size(10_000)
            .build()
            .expect("a bounded LruCache"),
    );
    lru.lock()
        .expect("unpoisoned")
        .cache_set(key.clone(), order.clone());
    let lru_hit = move || {
        let value: Order = lru
            .lock()
            .expect("unpoisoned")
            .cache_get(&key)
            .cloned()
            .expect("an LruCache hit");
        debug_assert_eq!(value.id, ORDER_ID);
        std::hint::black_box(value);
    };

    let mut subjects: Vec<(&str, LocalOp)> = vec![
        (
            "memocache",
            Box::new(memocache_hit(memoizer(true, true, false))),
        ),
        ("moka", Box::new(moka_hit)),
        (
            variant::NO_SINGLE_FLIGHT,
            Box::new(memocache_hit(memoizer(false, true, false))),
        ),
        (
            variant::NO_BREAKER,
            Box::new(memocache_hit(memoizer(true, false, false))),
        ),
        (
            variant::NEITHER,
            Box::new(memocache_hit(memoizer(false, false, false))),
        ),
        ("tier", Box::new(memocache_hit(memoizer(true, true, true)))),
        ("moka typed", Box::new(typed_hit)),
        ("cached LruCache", Box::new(lru_hit)),
    ];
    let batch = match size {
        Size::Small => 200,
        Size::Large => 10,
    };
    for (_, op) in &mut subjects {
        nanos_per_op(schedule.warm_up / 2, batch, op);
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    for round in 0..schedule.rounds {
        for s in round_order(round, subjects.len()) {
            rounds[s].push(nanos_per_op(
                schedule.local_batch,
                batch,
                &mut subjects[s].1,
            ));
        }
    }
    let decode_only_ns = nanos_per_op(schedule.local_batch, batch, || {
        let value: Order = codec.decode(&bytes).expect("decodes");
        std::hint::black_box(value);
    });
    let args_and_key_ns = nanos_per_op(schedule.local_batch, 1_000, || {
        std::hint::black_box(keys::sha256_key(&args(0, size)));
    });
    let variants = subjects
        .iter()
        .zip(&rounds)
        .skip(2)
        .take(3)
        .map(|((name, _), rounds)| ((*name).to_owned(), median(rounds)))
        .collect();
    let mut rounds = rounds.into_iter();
    let memocache_rounds = rounds.next().expect("memocache rounds");
    let moka_rounds = rounds.next().expect("moka rounds");
    let mut rounds = rounds.skip(3);
    let tier_rounds = rounds.next().expect("tier rounds");
    let moka_typed_rounds = rounds.next().expect("typed moka rounds");
    let cached_lru_rounds = rounds.next().expect("LruCache rounds");
    MemoryHits {
        tier_ns: median(&tier_rounds),
        moka_typed_ns: median(&moka_typed_rounds),
        cached_lru_ns: median(&cached_lru_rounds),
        tier_vs_moka_typed: paired_ratio(&tier_rounds, &moka_typed_rounds),
        tier_vs_cached_lru: paired_ratio(&tier_rounds, &cached_lru_rounds),
        tier_rounds,
        moka_typed_rounds,
        cached_lru_rounds,
        memocache_ns: median(&memocache_rounds),
        moka_get_decode_ns: median(&moka_rounds),
        ratio: paired_ratio(&memocache_rounds, &moka_rounds),
        memocache_rounds,
        moka_rounds,
        variants,
        decode_only_ns,
        args_and_key_ns,
    }
}
