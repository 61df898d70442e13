use memocache::cache_wrapper;

#[cache_wrapper(
    store = memocache::MemoryStore::new(),
    namespace = "orders",
    cache_only_for = [("status", ["shipped"]), ("state", ["active"])],
)]
fn orders(user_id: u64, status: &str) -> Vec<String> {
    vec![format!("{user_id}{status}")]
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "none", cache_only_for = [("id", [1])])]
fn constant() -> u8 {
    1
}

fn main() {}
