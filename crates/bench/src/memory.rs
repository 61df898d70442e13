//! The in-memory store's hits: memocache (`MemoryStore` through
//! `Memoizer::call_blocking`) against a bare moka get plus a decode of the
//! same bytes with the same codec.

use std::collections::BTreeMap;

use memocache::codec::{Codec as _, JsonZlib};
use memocache::{Memoizer, MemoryStore};
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

    let memoizer = |single_flight: bool, breaker: bool| {
        let builder = Memoizer::builder(MemoryStore::new())
            .namespace(crate::remote::NAMESPACE)
            .expire_secs(3600)
            .single_flight(single_flight);
        let memo = if breaker {
            builder.build()
        } else {
            builder.circuit_breaker(None).build()
        };
        let _: Order = memo.call_blocking(&args(0, size), || order.clone());
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
    let moka_hit = move || {
        let stored = moka.get(&key).expect("a moka hit");
        let value: Order = codec.decode(&stored).expect("decodes");
        debug_assert_eq!(value.id, ORDER_ID);
        std::hint::black_box(value);
    };

    let mut subjects: Vec<(&str, LocalOp)> = vec![
        ("memocache", Box::new(memocache_hit(memoizer(true, true)))),
        ("moka", Box::new(moka_hit)),
        (
            variant::NO_SINGLE_FLIGHT,
            Box::new(memocache_hit(memoizer(false, true))),
        ),
        (
            variant::NO_BREAKER,
            Box::new(memocache_hit(memoizer(true, false))),
        ),
        (
            variant::NEITHER,
            Box::new(memocache_hit(memoizer(false, false))),
        ),
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
        .map(|((name, _), rounds)| ((*name).to_owned(), median(rounds)))
        .collect();
    let mut rounds = rounds.into_iter();
    let memocache_rounds = rounds.next().expect("memocache rounds");
    let moka_rounds = rounds.next().expect("moka rounds");
    MemoryHits {
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
