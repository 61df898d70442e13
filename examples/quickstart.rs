//! memocache in one page: memoize a slow function, call it twice.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It caches in memory, or in Redis when `REDIS_URL` is set
//! (`REDIS_URL=redis://127.0.0.1:6379/0 cargo run --example quickstart`),
//! and prints what each call really did, from the memoizer's `Stats`: in
//! memory the first call computes (slowly) and the second is a hit; on
//! Redis, a second run of the program finds the first run's entry, so
//! both its calls are hits.
//! Entries written to Redis are in the Python reference's format, so a
//! Python service running `dtpyfw.redis.caching` reads them too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache::store::BlockingStore;
use memocache::{Args, Memoizer, MemoryStore, RedisBlockingStore, RedisConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    customer_id: u64,
    orders: u32,
    revenue: f64,
}

/// The expensive call we want to cache: a report that takes a while.
fn build_report(customer_id: u64) -> Report {
    std::thread::sleep(Duration::from_millis(300));
    Report {
        customer_id,
        orders: 42,
        revenue: 1234.5,
    }
}

/// Redis when `REDIS_URL` is set, else memory.
fn store() -> Arc<dyn BlockingStore> {
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let config = RedisConfig::new().url(url);
            println!("store: redis at {}", config.redacted_url());
            match RedisBlockingStore::connect(&config) {
                Ok(store) => Arc::new(store),
                Err(e) => {
                    eprintln!("cannot use REDIS_URL: {e}");
                    std::process::exit(1);
                }
            }
        }
        Err(_) => {
            println!("store: memory (set REDIS_URL to use Redis)");
            Arc::new(MemoryStore::new())
        }
    }
}

fn main() {
    let memo = Memoizer::builder(store())
        .namespace("reports:customer")
        .expire(Duration::from_secs(600))
        .build();

    let args = Args::new().kwarg("customer_id", &7u64);
    println!(
        "cache key: {}",
        memo.key(&args).expect("encodable arguments")
    );

    let report = |label: &str| {
        let before = memo.stats();
        let start = Instant::now();
        let report: Report = memo.call_blocking(&args, || build_report(7));
        let took = start.elapsed();
        let after = memo.stats();
        let what = if after.hits > before.hits {
            "a hit"
        } else if after.misses > before.misses {
            "computed"
        } else {
            "computed, uncached"
        };
        println!("{label} ({what}): {took:>12.3?}  {report:?}");
    };
    report("first call ");
    report("second call");
}
