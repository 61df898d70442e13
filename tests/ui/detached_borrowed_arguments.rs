use std::time::Duration;

use memocache::{Elapsed, MemoryStore, cache_wrapper};

#[derive(Debug)]
struct TimedOut;

impl From<Elapsed> for TimedOut {
    fn from(_: Elapsed) -> Self {
        TimedOut
    }
}

// The body runs on its own, after the call returns: it cannot borrow the
// caller's arguments.
#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "f",
    hard_timeout = Duration::from_secs(1)
)]
fn f(x: &str) -> Result<usize, TimedOut> {
    Ok(x.len())
}

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "g",
    expire = 60,
    refresh_ahead = 0.8,
    soft_timeout = Duration::from_secs(1)
)]
async fn g(id: u64, tags: Vec<&'static str>, names: &[String]) -> usize {
    id as usize + tags.len() + names.len()
}

struct Catalog {
    region: String,
}

impl Catalog {
    #[cache_wrapper(
        store = MemoryStore::new(),
        namespace = "price",
        skip_self,
        soft_timeout = Duration::from_secs(1)
    )]
    async fn price(&self, product_id: u64) -> String {
        format!("{}-{product_id}", self.region)
    }

    #[cache_wrapper(
        store = MemoryStore::new(),
        namespace = "label",
        skip_self,
        hard_timeout = Duration::from_secs(1)
    )]
    fn label(self, product_id: u64, currency: &str) -> Result<String, TimedOut> {
        Ok(format!("{}-{product_id}-{currency}", self.region))
    }
}

fn main() {}
