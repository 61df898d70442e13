//! In-process hits measured the way a user writes them: a `fn(u64) -> T`
//! under `#[cache_wrapper]` over `MemoryStore::new()` (and with a local
//! tier), against the same function under the `cached` crate's
//! `#[cached(max_size)]`; and a tier hit of an `Arc<T>` against a typed
//! moka get of the same `Arc<T>`. Each hit is of one of 1,000 keys, in
//! turn, after every key was computed once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cached::proc_macro::cached;
use memocache::{LocalTier, MemoryStore, cache_wrapper};
use moka::sync::Cache;
use serde::Serialize;

use crate::sampling::{median, nanos_per_op, paired_ratio, round_order};
use crate::schedule::Schedule;
use crate::value::{ORDER_ID, Order, Size};

/// How many distinct keys the hits cycle through.
const KEYS: u64 = 1_000;

/// The tiers' bound: every key fits.
const TIER_BYTES: u64 = 64 << 20;

/// Nanoseconds per hit of each subject (medians of rounds), and the
/// ratios the targets read.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeHits {
    /// Median nanoseconds per hit, by subject.
    pub ns: std::collections::BTreeMap<String, f64>,
    /// `#[cache_wrapper]` on `MemoryStore::new()` over `#[cached]`, a
    /// 9-byte `String` (median of per-round ratios; goal ≤ 3).
    pub attribute_hit_vs_cached_macro_small: f64,
    /// The same, a ~1 KiB struct (goal ≤ 1.5).
    pub attribute_hit_vs_cached_macro_1k: f64,
    /// The same with a local tier, a 9-byte `String`.
    pub attribute_tier_hit_vs_cached_macro_small: f64,
    /// The same with a local tier, a ~1 KiB struct.
    pub attribute_tier_hit_vs_cached_macro_1k: f64,
    /// A tier hit of an `Arc<T>` through the attribute over a typed moka
    /// get of the same `Arc<T>` (goal ≤ 1.5).
    pub tier_hit_arc_vs_moka_typed_arc: f64,
    /// Each ratio's smallest and largest per-round value.
    pub ranges: std::collections::BTreeMap<String, [f64; 2]>,
}

fn small(n: u64) -> String {
    format!("{n:09}")
}

fn order(n: u64) -> Order {
    let mut order = Order::new(Size::Small);
    order.user_id = n;
    order
}

#[cached(max_size = 10_000)]
fn cached_small(n: u64) -> String {
    small(n)
}

#[cached(max_size = 10_000)]
fn cached_1k(n: u64) -> Order {
    order(n)
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "bench:attribute:small")]
fn memo_small(n: u64) -> String {
    small(n)
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "bench:attribute:1k")]
fn memo_1k(n: u64) -> Order {
    order(n)
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "bench:attribute:tier:small",
    local_tier = LocalTier::bytes(TIER_BYTES)
)]
fn tier_small(n: u64) -> String {
    small(n)
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "bench:attribute:tier:1k",
    local_tier = LocalTier::bytes(TIER_BYTES)
)]
fn tier_1k(n: u64) -> Order {
    order(n)
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "bench:attribute:tier:arc",
    local_tier = LocalTier::bytes(TIER_BYTES)
)]
fn tier_arc(n: u64) -> Arc<Order> {
    Arc::new(order(n))
}

/// One subject: a hit of the next key in turn.
type Hit = Box<dyn FnMut()>;

/// A hit of key `n % KEYS`, `n` counting up.
fn cycling(mut hit: impl FnMut(u64) + 'static) -> Hit {
    let next = AtomicU64::new(0);
    Box::new(move || hit(next.fetch_add(1, Ordering::Relaxed) % KEYS))
}

/// The subjects' names.
mod subject {
    pub const CACHED_SMALL: &str = "#[cached] String(9)";
    pub const MEMO_SMALL: &str = "#[cache_wrapper] MemoryStore String(9)";
    pub const TIER_SMALL: &str = "#[cache_wrapper] MemoryStore + tier String(9)";
    pub const CACHED_1K: &str = "#[cached] 1 KiB";
    pub const MEMO_1K: &str = "#[cache_wrapper] MemoryStore 1 KiB";
    pub const TIER_1K: &str = "#[cache_wrapper] MemoryStore + tier 1 KiB";
    pub const TIER_ARC: &str = "#[cache_wrapper] tier Arc<1 KiB>";
    pub const MOKA_ARC: &str = "moka typed Arc<1 KiB>";
}

/// Measures every subject in interleaved rounds.
pub fn hits(schedule: &Schedule) -> AttributeHits {
    let moka: Cache<u64, Arc<Order>> = Cache::new(10_000);
    for n in 0..KEYS {
        // Every key computed (and, with a tier, read back into it) first.
        for _ in 0..2 {
            cached_small(n);
            cached_1k(n);
            memo_small(n);
            memo_1k(n);
            tier_small(n);
            tier_1k(n);
            tier_arc(n);
        }
        moka.insert(n, Arc::new(order(n)));
    }
    let check = |order: &Order| debug_assert_eq!(order.id, ORDER_ID);
    let mut subjects: Vec<(&str, Hit)> = vec![
        (
            subject::CACHED_SMALL,
            cycling(|n| {
                std::hint::black_box(cached_small(n));
            }),
        ),
        (
            subject::MEMO_SMALL,
            cycling(|n| {
                std::hint::black_box(memo_small(n));
            }),
        ),
        (
            subject::TIER_SMALL,
            cycling(|n| {
                std::hint::black_box(tier_small(n));
            }),
        ),
        (
            subject::CACHED_1K,
            cycling(move |n| {
                let order = cached_1k(n);
                check(&order);
                std::hint::black_box(order);
            }),
        ),
        (
            subject::MEMO_1K,
            cycling(move |n| {
                let order = memo_1k(n);
                check(&order);
                std::hint::black_box(order);
            }),
        ),
        (
            subject::TIER_1K,
            cycling(move |n| {
                let order = tier_1k(n);
                check(&order);
                std::hint::black_box(order);
            }),
        ),
        (
            subject::TIER_ARC,
            cycling(move |n| {
                let order = tier_arc(n);
                check(&order);
                std::hint::black_box(order);
            }),
        ),
        (
            subject::MOKA_ARC,
            cycling(move |n| {
                let order = moka.get(&n).expect("a moka hit");
                check(&order);
                std::hint::black_box(order);
            }),
        ),
    ];
    for (_, hit) in &mut subjects {
        nanos_per_op(schedule.warm_up / 2, 1_000, hit);
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    for round in 0..schedule.rounds {
        for s in round_order(round, subjects.len()) {
            rounds[s].push(nanos_per_op(
                schedule.local_batch,
                1_000,
                &mut subjects[s].1,
            ));
        }
    }
    let of = |name: &str| {
        let at = subjects
            .iter()
            .position(|(subject, _)| *subject == name)
            .expect("a subject");
        &rounds[at]
    };
    let mut ranges = std::collections::BTreeMap::new();
    let mut ratio = |name: &str, over: &str, of_name: &str| {
        let (a, b) = (of(over), of(of_name));
        let per_round: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        ranges.insert(name.to_owned(), [lo, hi]);
        paired_ratio(a, b)
    };
    let attribute_hit_vs_cached_macro_small = ratio(
        "attribute_hit_vs_cached_macro_small",
        subject::MEMO_SMALL,
        subject::CACHED_SMALL,
    );
    let attribute_hit_vs_cached_macro_1k = ratio(
        "attribute_hit_vs_cached_macro_1k",
        subject::MEMO_1K,
        subject::CACHED_1K,
    );
    let attribute_tier_hit_vs_cached_macro_small = ratio(
        "attribute_tier_hit_vs_cached_macro_small",
        subject::TIER_SMALL,
        subject::CACHED_SMALL,
    );
    let attribute_tier_hit_vs_cached_macro_1k = ratio(
        "attribute_tier_hit_vs_cached_macro_1k",
        subject::TIER_1K,
        subject::CACHED_1K,
    );
    let tier_hit_arc_vs_moka_typed_arc = ratio(
        "tier_hit_arc_vs_moka_typed_arc",
        subject::TIER_ARC,
        subject::MOKA_ARC,
    );
    AttributeHits {
        ns: subjects
            .iter()
            .zip(&rounds)
            .map(|((name, _), rounds)| ((*name).to_owned(), median(rounds)))
            .collect(),
        attribute_hit_vs_cached_macro_small,
        attribute_hit_vs_cached_macro_1k,
        attribute_tier_hit_vs_cached_macro_small,
        attribute_tier_hit_vs_cached_macro_1k,
        tier_hit_arc_vs_moka_typed_arc,
        ranges,
    }
}

/// Hits of one subject alone, for a profile: `SUBJECT:N`, the subject
/// one of `memo_small`, `tier_small`, `tier_arc`, `cached_small`.
pub fn hits_only(spec: &str) {
    let (subject, n) = spec.split_once(':').expect("SUBJECT:N");
    let n: u64 = n.parse().expect("N, a count");
    let hit: fn(u64) = match subject {
        "memo_small" => |n| {
            std::hint::black_box(memo_small(n));
        },
        "tier_small" => |n| {
            std::hint::black_box(tier_small(n));
        },
        "tier_arc" => |n| {
            std::hint::black_box(tier_arc(n));
        },
        "cached_small" => |n| {
            std::hint::black_box(cached_small(n));
        },
        other => panic!("no subject {other}"),
    };
    for i in 0..KEYS * 2 {
        hit(i % KEYS);
    }
    for i in 0..n {
        hit(i % KEYS);
    }
}
