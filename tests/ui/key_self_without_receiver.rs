use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "user", key_self)]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
