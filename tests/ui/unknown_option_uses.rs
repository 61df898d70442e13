// After an error in the options, what the other options use is still used:
// the error alone, with no "unused import" warning.
use std::time::Duration;

use memocache::{Memoizer, MemoryStore, cache_wrapper};

mod names {
    pub const ACTIVE: &str = "active";
    pub const SETTINGS: &str = "settings";
}

use names::{ACTIVE, SETTINGS};

#[cache_wrapper(
    store = MemoryStore::new(),
    namespace = "users",
    expir = 60,
    expire = Duration::from_secs(60),
    cache_if = |name| !name.is_empty(),
    cache_only_for = [("status", [ACTIVE, None])],
)]
fn user(user_id: u64, status: Option<&str>) -> String {
    format!("{user_id}-{status:?}")
}

struct Service {
    cache: Memoizer<MemoryStore>,
}

impl Service {
    #[cache_wrapper(memoizer = self.cache, skip_self, ttl = 5)]
    fn name(&self, id: u64) -> String {
        id.to_string()
    }
}

#[cache_wrapper(store = MemoryStore::new(), namespace = SETTINGS)]
struct Settings;

fn main() {}
