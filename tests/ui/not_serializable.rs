use memocache::{MemoryStore, cache_wrapper};

struct Report {
    total: u64,
}

struct DbConn;

// A return type that cannot be memoized: one error, at the return type.
#[cache_wrapper(store = MemoryStore::new(), namespace = "report")]
fn report(day: u32) -> Report {
    Report { total: day.into() }
}

// The same for an `async fn`, and for the `Ok` type of a `Result`.
#[cache_wrapper(store = MemoryStore::new(), namespace = "report")]
async fn report_async(day: u32) -> Result<Report, String> {
    Ok(Report { total: day.into() })
}

// A parameter of the key that is not `Serialize`: one error, at it, that
// names it and says how to leave it out of the key.
#[cache_wrapper(store = MemoryStore::new(), namespace = "count")]
fn count(conn: &DbConn, day: u32) -> u64 {
    let _ = conn;
    day.into()
}

struct Pool;

impl Pool {
    // The receiver in the key (`key_self`), and a positional parameter: the
    // same, with the fix that fits each.
    #[cache_wrapper(store = MemoryStore::new(), namespace = "size", key_self, positional = 2)]
    fn size(&self, conn: &DbConn, day: u32) -> u64 {
        let _ = conn;
        day.into()
    }
}

fn main() {}
