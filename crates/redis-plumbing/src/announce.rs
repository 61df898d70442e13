//! The line a store logs once when it is built, naming the server it uses
//! (never a password), the same for both clients: a service's log then
//! says where its cache lives, and a store that went to a default server
//! nobody meant shows.
//!
//! One `info` event, target `memocache`, with the fields `backend`,
//! `server` and `tracking`:
//!
//! ```text
//! INFO memocache: RedisStore on redis://127.0.0.1:6380/0 (tracking off)
//! ```

use crate::config::RedisConfig;

/// Logs that `store` (the type's name, `RedisStore`), a store of
/// `backend`, was built from `config`, on the server(s) it names: a single
/// node's URL, a cluster's seeds, or a Sentinel master's name and its
/// sentinels, passwords redacted.
pub fn built(store: &str, backend: &'static str, config: &RedisConfig) {
    let server = match config.sentinel_master() {
        Some(master) => format!(
            "the primary `{master}` of the sentinels {}",
            config.redacted_url()
        ),
        None if config.is_cluster() => format!("the cluster at {}", config.redacted_url()),
        None => config.redacted_url(),
    };
    log(store, backend, &server, config.settings().client_tracking());
}

/// Logs that `store`, a store of `backend`, was built over a client of the
/// caller's own, connected to `server` (as the client names it, without
/// credentials); such a store tracks no changes.
pub fn built_on(store: &str, backend: &'static str, server: &str) {
    log(store, backend, server, false);
}

fn log(store: &str, backend: &'static str, server: &str, tracking: bool) {
    let shown = if tracking { "on" } else { "off" };
    tracing::info!(
        target: "memocache",
        backend,
        server,
        tracking,
        "{store} on {server} (tracking {shown})"
    );
}
