//! memocache's metrics on a Prometheus dashboard.
//!
//! ```text
//! cargo run --example metrics --features metrics
//! curl http://127.0.0.1:9898/metrics
//! ```
//!
//! It installs the `metrics-exporter-prometheus` recorder (before any
//! memoizer is built: a memoizer registers its metrics when it is built),
//! calls a memoized `square(n)` for n in 1, 2, 3, 1, 2, 3, 1, 2, 3, 1 (3
//! misses, then 7 hits: the store is read twice per miss, once for each
//! key's first hit, and the later hits are served the copy the first one
//! was), prints `ready`, and serves the Prometheus text at
//! `http://127.0.0.1:$METRICS_PORT/metrics` (port 9898 by default) until it
//! is stopped. Among what it serves:
//!
//! ```text
//! memocache_calls_total{namespace="metrics:square",outcome="miss"} 3
//! memocache_calls_total{namespace="metrics:square",outcome="hit"} 7
//! db_client_operation_duration_count{db_system_name="memory",db_operation_name="GET",namespace="metrics:square"} 9
//! ```

use std::net::{Ipv4Addr, SocketAddr};

use memocache::{MemoryStore, cache_wrapper};
use metrics_exporter_prometheus::PrometheusBuilder;

/// The port when `METRICS_PORT` is not set.
const DEFAULT_PORT: u16 = 9898;

#[cache_wrapper(store = MemoryStore::new(), namespace = "metrics:square")]
async fn square(n: u64) -> u64 {
    n * n
}

#[tokio::main]
async fn main() {
    let port = match std::env::var("METRICS_PORT") {
        Ok(port) => port
            .parse()
            .expect("METRICS_PORT must be a port number, e.g. 9898"),
        Err(_) => DEFAULT_PORT,
    };
    PrometheusBuilder::new()
        .with_http_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .install()
        .expect("cannot serve the metrics on that port");

    for n in [1, 2, 3, 1, 2, 3, 1, 2, 3, 1] {
        assert_eq!(square(n).await, n * n);
    }
    println!("ready");
    std::future::pending::<()>().await;
}
