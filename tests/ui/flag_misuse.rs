use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "a", result = true)]
fn a(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace, expire = 60)]
fn b(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "c", result, plain)]
fn c(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "d", expire = 1, expire = 2)]
fn d(id: u64) -> u64 {
    id
}

fn main() {}
