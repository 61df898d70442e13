use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "p", skip_cache_keys = ["request"])]
fn product(product_id: u64, request_id: &str) -> String {
    format!("{product_id}{request_id}")
}

struct Service;

impl Service {
    #[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "s", skip_cache_keys = ["self"])]
    fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
