use memocache::{MemoryStore, cache_wrapper};

struct Catalog {
    region: String,
}

impl Catalog {
    // The result depends on `self.region`: saying nothing is an error.
    #[cache_wrapper(store = MemoryStore::new(), namespace = "catalog")]
    fn price(&self, product_id: u64) -> String {
        format!("{}-{product_id}", self.region)
    }
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "free", skip_self)]
fn free(id: u64) -> u64 {
    id
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "both", key_self, skip_self)]
fn both(id: u64) -> u64 {
    id
}

fn main() {}
