use memocache::cache_wrapper;

#[cache_wrapper(store = "redis://localhost", namespace = "users")]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(store = 6379, namespace = "users")]
async fn user_async(user_id: u64) -> String {
    user_id.to_string()
}

#[cache_wrapper(memoizer = "redis://localhost")]
fn user_given_a_memoizer(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
