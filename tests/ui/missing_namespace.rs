use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), expire = 60)]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
