use memocache::{MemoryStore, cache_wrapper};

struct Report {
    total: u64,
}

struct Connection;

#[cache_wrapper(store = MemoryStore::new(), namespace = "report")]
fn report(day: u32) -> Report {
    Report { total: day.into() }
}

#[cache_wrapper(store = MemoryStore::new(), namespace = "count")]
fn count(connection: &Connection, day: u32) -> u64 {
    let _ = connection;
    day.into()
}

fn main() {}
