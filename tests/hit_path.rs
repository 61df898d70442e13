//! What a hit does and does not do: a memoizer finds a call's key again by
//! a keyed hash of its arguments (never another call's, even for
//! arguments built to collide), and the memory store serves values it
//! keeps decoded (decoded once at the write, so a hit serves what a read
//! of the bytes would, and a value the codec does not keep is caught as
//! over Redis).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use memocache::{Args, LocalTier, Memoizer, MemoryStore, cache_wrapper};
use serde::{Deserialize, Deserializer, Serialize};
use support::codec::CountingCodec;

/// The argument lists a naive hash of their concatenated text, or of
/// their values without their positions, kinds or names, would confuse.
fn colliding() -> Vec<(&'static str, Args)> {
    vec![
        ("ab|c", Args::new().arg(&"ab").arg(&"c")),
        ("a|bc", Args::new().arg(&"a").arg(&"bc")),
        ("abc", Args::new().arg(&"abc")),
        ("a=bc", Args::new().kwarg("a", &"bc")),
        ("ab=c", Args::new().kwarg("ab", &"c")),
        ("named a=bc", Args::new().named_arg("a", &"bc")),
        ("a, b=c", Args::new().arg(&"a").kwarg("b", &"c")),
        ("[a, bc]", Args::new().arg(&["a", "bc"])),
        ("1", Args::new().arg(&1)),
        ("\"1\"", Args::new().arg(&"1")),
        ("none", Args::new()),
    ]
}

fn each_gets_its_own_value(memo: &Memoizer<MemoryStore>) {
    for round in 0..3 {
        for (name, args) in colliding() {
            let value: String = memo.call_blocking(&args, || name.to_owned());
            assert_eq!(value, name, "round {round}");
        }
    }
    let stats = memo.stats();
    let calls = colliding().len() as u64;
    let local = stats.tier.map_or(0, |tier| tier.hits);
    assert_eq!((stats.misses, stats.hits + local), (calls, 2 * calls));
}

#[test]
fn arguments_built_to_collide_get_their_own_values() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:collide")
        .build();
    each_gets_its_own_value(&memo);
}

#[test]
fn arguments_built_to_collide_get_their_own_values_from_the_local_tier() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:collide:tier")
        .local_tier(LocalTier::bytes(1 << 20))
        .build();
    each_gets_its_own_value(&memo);
    assert!(memo.stats().tier.is_some_and(|tier| tier.hits > 0));
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "hit:collide:attribute")]
fn joined(a: &str, b: &str) -> String {
    format!("{a}|{b}")
}

#[test]
fn the_attribute_s_arguments_built_to_collide_get_their_own_values() {
    let pairs = [("ab", "c"), ("a", "bc"), ("abc", ""), ("", "abc")];
    for _ in 0..3 {
        for (a, b) in pairs {
            assert_eq!(joined(a, b), format!("{a}|{b}"));
        }
    }
    let stats = joined_memoizer().stats();
    assert_eq!((stats.misses, stats.hits), (4, 8));
}

#[test]
fn a_call_resolved_first_is_cached_under_the_reference_key() {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone())
        .namespace("hit:resolved")
        .build();
    let args = Args::new().arg(&7).kwarg("user", &"ada");
    let resolved = memo.resolve(&args);
    assert_eq!(memo.call_blocking(&resolved, || 49_u32), 49);
    assert_eq!(memo.call_blocking(&args, || 0_u32), 49);
    let key = memo.key(&args).unwrap();
    assert_eq!(
        memocache::key::cache_key("hit:resolved", &args, &[], &memocache::key::Sha256).unwrap(),
        key
    );
    assert_eq!(memo.get_data_blocking::<u32>(&key), Some(49));
}

#[test]
fn memory_store_hits_decode_nothing() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:decoded")
        .codec(CountingCodec::default())
        .build();
    for _ in 0..100 {
        let rows: Vec<u64> = memo.call_blocking(&Args::new().arg(&1), || (0..100).collect());
        assert_eq!(rows.len(), 100);
    }
    assert_eq!(memo.stats().hits, 99);
    assert_eq!(
        memo.codec().decodes.load(Ordering::SeqCst),
        1,
        "the write decoded its bytes once; no hit decoded"
    );
}

#[tokio::test]
async fn memory_store_hits_decode_nothing_on_the_async_path() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:decoded:async")
        .codec(CountingCodec::default())
        .build();
    for _ in 0..10 {
        let text: String = memo
            .call(&Args::new().arg(&1), || async { "text".to_owned() })
            .await;
        assert_eq!(text, "text");
    }
    assert_eq!(memo.codec().decodes.load(Ordering::SeqCst), 1);
}

/// A value with a field the codec does not keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WithSkipped {
    kept: u32,
    #[serde(skip)]
    skipped: u32,
}

#[test]
fn a_hit_serves_what_the_stored_bytes_decode_to() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:skipped")
        .build();
    let value = || WithSkipped {
        kept: 1,
        skipped: 2,
    };
    let first = memo.call_blocking(&Args::new(), value);
    let hit = memo.call_blocking(&Args::new(), value);
    assert_eq!(first.skipped, 2, "the caller that computed gets its value");
    assert_eq!(
        hit,
        WithSkipped {
            kept: 1,
            skipped: 0
        },
        "a hit gets what the bytes hold, as from Redis"
    );
}

/// A value that encodes but never decodes back.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct OneWay(u32);

impl<'de> Deserialize<'de> for OneWay {
    fn deserialize<D: Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom("a OneWay never decodes"))
    }
}

#[test]
fn a_value_that_does_not_decode_back_is_never_a_hit() {
    let memo = Memoizer::builder(MemoryStore::new())
        .namespace("hit:one-way")
        .build();
    let computed = AtomicUsize::new(0);
    for _ in 0..3 {
        let value = memo.call_blocking(&Args::new(), || {
            computed.fetch_add(1, Ordering::SeqCst);
            OneWay(7)
        });
        assert_eq!(value, OneWay(7));
    }
    assert_eq!(computed.load(Ordering::SeqCst), 3, "every call computes");
    assert_eq!(memo.stats().decode_errors, 2);
}

/// Three calls: a miss, then hits, the last served from the copy the
/// memoizer remembered for the arguments.
fn warm(memo: &Memoizer<MemoryStore>, value: &str) {
    for _ in 0..3 {
        let got: String = memo.call_blocking(&Args::new().arg(&1), || value.to_owned());
        assert_eq!(got, value);
    }
}

fn served(memo: &Memoizer<MemoryStore>) -> String {
    memo.call_blocking(&Args::new().arg(&1), || "computed".to_owned())
}

#[test]
fn a_remembered_copy_is_never_served_after_its_entry_changes() {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone())
        .namespace("hit:remembered")
        .build();
    let other = Memoizer::builder(store.clone())
        .namespace("hit:remembered")
        .build();
    warm(&memo, "first");
    // Another memoizer's write of the same entry.
    other.refresh_blocking(&Args::new().arg(&1), || "second".to_owned());
    assert_eq!(served(&memo), "second");
    // `cache_data` writes bytes alone.
    let key = memo.key(&Args::new().arg(&1)).unwrap();
    other.cache_data_blocking(&key, "third".to_owned());
    assert_eq!(served(&memo), "third");
    warm(&memo, "third");
    assert!(other.invalidate_blocking(&Args::new().arg(&1)).unwrap());
    assert_eq!(served(&memo), "computed");
    warm(&memo, "computed");
    other.clear_namespace_blocking().unwrap();
    assert_eq!(
        memo.call_blocking(&Args::new().arg(&1), || "after clear".to_owned()),
        "after clear"
    );
}

#[test]
fn a_remembered_tier_copy_is_never_served_after_a_change_or_a_flush() {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone())
        .namespace("hit:remembered:tier")
        .local_tier(LocalTier::bytes(1 << 20))
        .build();
    let other = Memoizer::builder(store.clone())
        .namespace("hit:remembered:tier")
        .build();
    warm(&memo, "first");
    assert!(memo.stats().tier.is_some_and(|tier| tier.hits >= 1));
    // A write elsewhere: the store reports the change to the tier.
    other.refresh_blocking(&Args::new().arg(&1), || "second".to_owned());
    assert_eq!(served(&memo), "second");
    warm(&memo, "second");
    // A flush drops every copy.
    memo.clear_namespace_blocking().unwrap();
    assert_eq!(served(&memo), "computed");
}

#[test]
fn arguments_resolved_by_another_memoizer_bypass_the_cache() {
    let store = MemoryStore::new();
    let one = Memoizer::builder(store.clone())
        .namespace("hit:one")
        .build();
    let other = Memoizer::builder(store.clone())
        .namespace("hit:other")
        .build();
    let resolved = one.resolve(&Args::new().arg(&1));
    for _ in 0..2 {
        assert_eq!(other.call_blocking(&resolved, || 2_u32), 2);
    }
    let stats = other.stats();
    assert_eq!((stats.bypassed, stats.hits, stats.misses), (2, 0, 0));
    assert!(store.is_empty(), "nothing cached under another's key");
}

#[test]
fn arguments_resolved_before_a_change_are_not_served_the_old_copy() {
    let store = MemoryStore::new();
    let memo = Memoizer::builder(store.clone())
        .namespace("hit:resolved:early")
        .build();
    warm(&memo, "first");
    let resolved = memo.resolve(&Args::new().arg(&1));
    memo.refresh_blocking(&Args::new().arg(&1), || "second".to_owned());
    assert_eq!(
        memo.call_blocking(&resolved, || "computed".to_owned()),
        "second"
    );
}
