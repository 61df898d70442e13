use memocache::{RedisBlockingStore, RedisConfig, RedisStore, cache_wrapper};

// A constructor's Result, not unwrapped.
#[cache_wrapper(
    store = RedisStore::connect_lazy(&RedisConfig::from_env()),
    namespace = "users"
)]
async fn user(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(
    store = RedisBlockingStore::connect_lazy(&RedisConfig::from_env()),
    namespace = "users"
)]
fn user_blocking(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
