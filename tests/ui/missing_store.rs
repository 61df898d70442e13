use memocache::cache_wrapper;

#[cache_wrapper(namespace = "users", expire = 60)]
fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
