use memocache::cache_wrapper;

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "iter")]
fn numbers(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "boxed")]
fn boxed(n: u32) -> Vec<Box<impl std::fmt::Display>> {
    vec![Box::new(n)]
}

#[cache_wrapper(store = memocache::MemoryStore::new(), namespace = "const")]
const fn constant(n: u32) -> u32 {
    n
}

fn main() {}
