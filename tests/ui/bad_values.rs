use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = 5)]
fn a(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "b", expire = "60")]
fn b(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "c", expire = -1, positional = "1")]
fn c(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "d", skip_cache_keys = "id")]
fn d(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "e", skip_cache_keys = [id, "id", "id"])]
fn e(id: u64) -> u64 {
    id
}

#[cache_wrapper(
    store = memocache::MemoryStore::new(),
    namespace = "f",
    cache_only_for = [("id", 1), (id, [1]), ("id", []), "id"],
)]
fn f(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "g", cache_only_for = [])]
fn g(id: u64) -> u64 {
    id
}

fn main() {}
