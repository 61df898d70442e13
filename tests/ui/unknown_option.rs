use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "users", expir = 60)]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "users", ttl = 60)]
fn other(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
