//! A hit allocates nothing: a function returning `Arc<T>` through
//! `#[cache_wrapper]`, with an integer and a string argument, served from
//! its local tier or from the memory store's decoded value, makes no heap
//! allocation once its key and copy are known. Counted by this binary's
//! global allocator, on the calling thread only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use memocache::{LocalTier, MemoryStore, cache_wrapper};
use serde::{Deserialize, Serialize};

/// The system allocator, counting the allocations of a thread that asks.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted now.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    /// This thread's counted allocations: each test thread has its own.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations `calls` makes on this thread.
fn allocations(calls: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTED.with(|counted| counted.set(true));
    calls();
    COUNTED.with(|counted| counted.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    id: u64,
    owner: String,
    rows: Vec<u64>,
}

fn report(id: u64, owner: &str) -> Arc<Report> {
    Arc::new(Report {
        id,
        owner: owner.to_owned(),
        rows: (0..100).collect(),
    })
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "allocations:tier",
    local_tier = LocalTier::bytes(1 << 20)
)]
fn tiered(id: u64, owner: &str) -> Arc<Report> {
    report(id, owner)
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "allocations:memory")]
fn stored(id: u64, owner: &str) -> Arc<Report> {
    report(id, owner)
}

/// Calls `f` on a few keys until each is a hit served from memory, then
/// counts what a thousand more hits allocate.
fn hits_allocate(f: fn(u64, &str) -> Arc<Report>) -> u64 {
    let owners = ["ada", "grace", "edsger"];
    for _ in 0..4 {
        for (id, owner) in owners.iter().enumerate() {
            assert_eq!(f(id as u64, owner).owner, *owner);
        }
    }
    allocations(|| {
        for i in 0..1_000 {
            let id = i % 3;
            let report = f(id, owners[id as usize]);
            assert_eq!(report.id, id);
        }
    })
}

#[test]
fn the_count_sees_an_allocation() {
    assert_eq!(
        allocations(|| {
            std::hint::black_box(vec![1_u8; 10]);
        }),
        1
    );
}

#[test]
fn a_tier_hit_of_an_arc_allocates_nothing() {
    let allocated = hits_allocate(tiered);
    println!("1,000 tier hits allocated {allocated} times");
    assert_eq!(allocated, 0);
    let stats = tiered_memoizer().stats();
    assert_eq!(stats.misses, 3, "{stats:?}");
}

#[test]
fn a_memory_store_hit_of_an_arc_allocates_nothing() {
    let allocated = hits_allocate(stored);
    println!("1,000 memory-store hits allocated {allocated} times");
    assert_eq!(allocated, 0);
    let stats = stored_memoizer().stats();
    assert_eq!(stats.misses, 3, "{stats:?}");
}
