use std::time::Duration;

use memocache::{MemoryStore, cache_wrapper};

// A hard timeout with no stale value returns `Err(E::from(Elapsed))`: the
// error type must say how.
#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "user",
    hard_timeout = Duration::from_secs(2)
)]
async fn user(id: u64) -> Result<String, String> {
    Ok(id.to_string())
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "count",
    expire = 60,
    refresh_ahead = 0.8
)]
fn count(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

// A value of the wrong type is an error at the value.
#[cache_wrapper(store = MemoryStore::new(), namespace = "n", hard_timeout = 2)]
fn n(id: u64) -> u64 {
    id
}

fn main() {}
