use std::sync::LazyLock;
use std::time::Duration;

use memocache::{Memoizer, MemoryStore, cache_wrapper};

static MEMO: LazyLock<Memoizer<MemoryStore>> =
    LazyLock::new(|| Memoizer::builder(MemoryStore::new()).build());

// These configure the memoizer `store = ...` builds: set them on your own
// memoizer's builder instead.
#[cache_wrapper(memoizer = MEMO, fail_safe = Duration::from_secs(600))]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(
    memoizer = MEMO,
    fail_safe_throttle = Duration::from_secs(5),
    refresh_ahead = 0.8,
    soft_timeout = Duration::from_secs(1),
    hard_timeout = Duration::from_secs(2)
)]
async fn other(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
