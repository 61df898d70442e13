use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "s")]
struct Settings {
    ttl: u64,
}

fn main() {}
