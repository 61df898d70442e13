use memocache::{MemoryStore, cache_wrapper};

// A literal fraction must lie strictly between 0 and 1.
#[cache_wrapper(store = MemoryStore::new(), namespace = "a", expire = 60, refresh_ahead = 1.5)]
async fn a(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "b", expire = 60, refresh_ahead = 0.0)]
async fn b(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "c", expire = 60, refresh_ahead = -0.5)]
fn c(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "d", expire = 60, refresh_ahead = 1)]
fn d(id: u64) -> u64 {
    id
}

// Any other expression is an `f64`: a value of another type is an error at it.
const FRACTION: f32 = 0.8;

#[cache_wrapper(store = MemoryStore::new(), namespace = "e", expire = 60, refresh_ahead = FRACTION)]
fn e(id: u64) -> u64 {
    id
}

fn main() {}
