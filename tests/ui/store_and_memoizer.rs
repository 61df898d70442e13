use std::sync::LazyLock;

use memocache::{Memoizer, MemoryStore, cache_wrapper};

static MEMO: LazyLock<Memoizer<MemoryStore>> =
    LazyLock::new(|| Memoizer::builder(MemoryStore::new()).build());

#[cache_wrapper(store = MemoryStore::new(), memoizer = MEMO, namespace = "users")]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
