//! Key building: nanoseconds per key with SHA-256 (the reference's hash)
//! and BLAKE3, for a typical call and a larger one.

use memocache::Args;
use memocache::key::{Blake3, KeyHasher, Sha256, cache_key};
use serde::Serialize;

use crate::sampling::nanos_per_op;
use crate::schedule::Schedule;

/// The namespace of the key scenarios.
const NAMESPACE: &str = "orders:user";

/// Nanoseconds per key of one call shape with one hasher.
#[derive(Debug, Clone, Serialize)]
pub struct KeyCost {
    /// Which call: `"typical"` or `"large"`.
    pub call: &'static str,
    /// Which hasher: `"sha256"` or `"blake3"`.
    pub hasher: &'static str,
    /// Building the `Args` (encoding each value) and the key, per call.
    pub args_and_key_ns: f64,
    /// Building the key from ready `Args` (the hashing and layout alone).
    pub key_only_ns: f64,
}

/// A filter object of the larger call.
#[derive(Serialize)]
struct Filters {
    statuses: Vec<&'static str>,
    placed_after: &'static str,
    min_total: f64,
    countries: Vec<&'static str>,
    include_archived: bool,
}

/// The typical call: `f(123, status="active")`.
fn typical() -> Args {
    Args::new().arg(&123).kwarg("status", &"active")
}

/// The larger call: a report query with a user id, a filter object, 200
/// ids, a page and a status (about 1.8 KiB of JSON).
fn large() -> Args {
    let ids: Vec<u64> = (0..200).map(|i| 1_000_000 + i * 7919).collect();
    Args::new()
        .arg(&4_815_162_342u64)
        .kwarg(
            "filters",
            &Filters {
                statuses: vec!["completed", "shipped", "refunded"],
                placed_after: "2026-01-01T00:00:00+00:00",
                min_total: 99.5,
                countries: vec!["DE", "FR", "NL", "BE", "AT", "CH"],
                include_archived: false,
            },
        )
        .kwarg("ids", &ids)
        .kwarg("page", &3)
        .kwarg("status", &"active")
}

/// The SHA-256 key of `args` in the hit scenarios' namespace.
pub fn sha256_key(args: &Args) -> String {
    cache_key(crate::remote::NAMESPACE, args, &[], &Sha256).expect("a key")
}

/// Measures both call shapes with both hashers.
pub fn costs(schedule: &Schedule) -> Vec<KeyCost> {
    let mut costs = Vec::new();
    for (call, build) in [("typical", typical as fn() -> Args), ("large", large)] {
        costs.push(cost(call, "sha256", build, &Sha256, schedule));
        costs.push(cost(call, "blake3", build, &Blake3, schedule));
    }
    costs
}

fn cost<H: KeyHasher>(
    call: &'static str,
    hasher_name: &'static str,
    build: fn() -> Args,
    hasher: &H,
    schedule: &Schedule,
) -> KeyCost {
    let ready = build();
    let args_and_key_ns = nanos_per_op(schedule.local_batch, 500, || {
        let args = build();
        std::hint::black_box(cache_key(NAMESPACE, &args, &[], hasher).expect("a key"));
    });
    let key_only_ns = nanos_per_op(schedule.local_batch, 500, || {
        std::hint::black_box(cache_key(NAMESPACE, &ready, &[], hasher).expect("a key"));
    });
    KeyCost {
        call,
        hasher: hasher_name,
        args_and_key_ns,
        key_only_ns,
    }
}
