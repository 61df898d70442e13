//! The memory store's bound.

use memocache_core::{BlockingStore, Bytes};
use memocache_memory::{Capacity, MemoryStore};

#[test]
fn an_entry_bound_evicts_past_it() {
    let store = MemoryStore::with_capacity(Capacity::Entries(100));
    for i in 0..1000 {
        store
            .set(&format!("k{i}"), Bytes::from_static(b"v"), None)
            .unwrap();
    }
    let len = store.len();
    assert!(len <= 100, "{len} entries kept under a bound of 100");
    assert!(len > 0);
}

#[test]
fn a_byte_bound_counts_keys_and_values() {
    let store = MemoryStore::with_capacity(Capacity::Bytes(64 * 1024));
    let value = Bytes::from(vec![0u8; 1024]);
    for i in 0..1000 {
        store.set(&format!("k{i:04}"), value.clone(), None).unwrap();
    }
    let len = store.len();
    assert!(
        len <= 64,
        "{len} entries of 1 KiB kept under a 64 KiB bound"
    );
    assert!(len > 0);
}
