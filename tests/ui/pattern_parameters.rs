use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "sum")]
fn sum((a, b): (i32, i32), _: u8, ref c: i32) -> i32 {
    a + b + c
}

fn main() {}
