//! The peer: the `cached` crate's async Redis store (`AsyncRedisCache`
//! behind `#[concurrent_cached]`, its current name for `#[io_cached]`),
//! caching the same function and value on the same server, over a
//! `ConnectionManager` like memocache's `RedisStore`; and the same with its
//! Redis client-side caching on (RESP3 tracking, redis-rs' own cache), the
//! peer of memocache's local tier.

use std::sync::OnceLock;

use cached::AsyncRedisCache;
use cached::macros::concurrent_cached;

use crate::value::{Order, Size};

/// The server the peer's cache connects to; set once before the first call.
static URL: OnceLock<String> = OnceLock::new();

/// Ids at or above this are large values; below, small ones. Each caller of
/// a scenario uses an id of its own, so the peer's keys are distinct per
/// caller like memocache's.
pub const LARGE_ID_BASE: u64 = 1_000_000;

/// A failure of the peer's store.
#[derive(Debug, Clone)]
pub struct PeerError(pub String);

/// Points the peer at `url`. Later calls are ignored (the cache is built
/// once, on first use).
pub fn connect_to(url: &str) {
    let _ = URL.set(url.to_owned());
}

/// The id under which `caller` of a scenario on `size` values calls
/// [`cached_order`].
pub fn id(size: Size, caller: usize) -> u64 {
    let base = match size {
        Size::Small => 0,
        Size::Large => LARGE_ID_BASE,
    };
    base + caller as u64
}

/// The memoized function: returns the order of the size `id` stands for.
#[concurrent_cached(
    map_error = |e| PeerError(format!("{e:?}")),
    ty = "AsyncRedisCache<u64, Order>",
    create = r##" {
        AsyncRedisCache::builder("memocache-bench:cached")
            .connection_string(URL.get().expect("peer::connect_to was not called"))
            .connection_manager(true)
            .ttl_secs(3600)
            .build()
            .await
            .expect("cannot build the cached crate's Redis store")
    } "##
)]
pub async fn cached_order(id: u64) -> Result<Order, PeerError> {
    Ok(order_of(id))
}

/// [`cached_order`] with the cached crate's client-side caching on.
#[concurrent_cached(
    map_error = |e| PeerError(format!("{e:?}")),
    ty = "AsyncRedisCache<u64, Order>",
    create = r##" {
        AsyncRedisCache::builder("memocache-bench:cached-client-side")
            .connection_string(URL.get().expect("peer::connect_to was not called"))
            .client_side_caching(true)
            .ttl_secs(3600)
            .build()
            .await
            .expect("cannot build the cached crate's client-side-caching Redis store")
    } "##
)]
pub async fn cached_order_client_side(id: u64) -> Result<Order, PeerError> {
    Ok(order_of(id))
}

/// The order the id stands for.
fn order_of(id: u64) -> Order {
    Order::new(if id >= LARGE_ID_BASE {
        Size::Large
    } else {
        Size::Small
    })
}
