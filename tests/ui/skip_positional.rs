use memocache::cache_wrapper;

#[cache_wrapper(
    store = memocache::MemoryStore::new(),
    namespace = "user",
    positional = 2,
    skip_cache_keys = ["request_id"],
)]
fn user(user_id: u64, request_id: &str) -> String {
    format!("{user_id}{request_id}")
}

fn main() {}
