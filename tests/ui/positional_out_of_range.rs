use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "user", positional = 3)]
fn user(user_id: u64, status: &str) -> String {
    format!("{user_id}{status}")
}

fn main() {}
