use std::sync::LazyLock;

use memocache::{Memoizer, MemoryStore, cache_wrapper};

static MEMO: LazyLock<Memoizer<MemoryStore>> =
    LazyLock::new(|| Memoizer::builder(MemoryStore::new()).build());

#[cache_wrapper(memoizer = MEMO, namespace = "users")]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(memoizer = MEMO, expire = 60, cache_only_for = [("user_id", [1])])]
fn other(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
