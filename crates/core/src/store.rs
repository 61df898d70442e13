//! Stores: where encoded values live.
//!
//! A store maps `&str` keys to byte values with an optional time to live, as
//! Redis does. [`Store`] is the async interface every backend implements;
//! [`BlockingStore`] is its twin for backends with a real blocking client,
//! so blocking code needs no async runtime.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;
use crate::key::KeyMatch;

/// The remaining life of a key, as Redis' `PTTL` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyTtl {
    /// No such key (`PTTL` answers -2).
    Missing,
    /// The key never expires (`PTTL` answers -1).
    Persistent,
    /// The key expires after this long.
    Expires(Duration),
}

impl KeyTtl {
    /// What a Redis `PTTL` answer means: -2 no key, -1 no expiry, else
    /// milliseconds left.
    pub fn from_pttl(pttl: i64) -> Self {
        match pttl {
            -1 => KeyTtl::Persistent,
            millis if millis >= 0 => KeyTtl::Expires(Duration::from_millis(millis.unsigned_abs())),
            _ => KeyTtl::Missing,
        }
    }
}

/// The `PX` argument of a Redis `SET key value PX ms` for `expire`: whole
/// milliseconds rounded up (at least 1), so a sub-millisecond expiry still
/// expires rather than being refused by Redis as zero.
pub fn expire_millis(expire: Duration) -> u64 {
    let millis = expire.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pttl_answers_map_to_key_ttl() {
        assert_eq!(KeyTtl::from_pttl(-2), KeyTtl::Missing);
        assert_eq!(KeyTtl::from_pttl(-1), KeyTtl::Persistent);
        assert_eq!(KeyTtl::from_pttl(0), KeyTtl::Expires(Duration::ZERO));
        assert_eq!(
            KeyTtl::from_pttl(1500),
            KeyTtl::Expires(Duration::from_millis(1500))
        );
    }

    #[test]
    fn expiries_round_up_to_whole_milliseconds() {
        assert_eq!(expire_millis(Duration::from_micros(1500)), 2);
        assert_eq!(expire_millis(Duration::from_nanos(1)), 1);
        assert_eq!(expire_millis(Duration::from_secs(3600)), 3_600_000);
    }
}

/// An async key-value store with per-key expiry.
///
/// Object safe: `Arc<dyn Store>` and `Box<dyn Store>` are stores too.
#[async_trait]
pub trait Store: Send + Sync {
    /// The backend's name for logs, e.g. `"redis"`.
    fn backend(&self) -> &'static str;

    /// The value at `key`, or `None` when there is none (or it expired).
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Stores `value` at `key` in one step, replacing any value and its
    /// expiry; with `expire` the key disappears after that long, without it
    /// the key is kept.
    async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()>;

    /// Removes `key`; answers whether it existed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// The remaining life of `key`.
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Removes every key in `keys`; answers how many. Backends scan the
    /// keys that start with [`KeyMatch::prefix`] (never `KEYS`) and remove
    /// those that [`KeyMatch::matches`].
    async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;
}

/// The blocking twin of [`Store`], for backends with a real blocking client.
pub trait BlockingStore: Send + Sync {
    /// The backend's name for logs, e.g. `"redis"`.
    fn backend(&self) -> &'static str;

    /// See [`Store::get`].
    fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// See [`Store::set`].
    fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()>;

    /// See [`Store::delete`].
    fn delete(&self, key: &str) -> Result<bool>;

    /// See [`Store::ttl`].
    fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// See [`Store::delete_matching`].
    fn delete_matching(&self, keys: &KeyMatch) -> Result<u64>;
}

// Both traits must stay object safe.
const _: Option<&dyn Store> = None;
const _: Option<&dyn BlockingStore> = None;

macro_rules! forward_store {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<S: Store + ?Sized> Store for $ptr<S> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }

            async fn get(&self, key: &str) -> Result<Option<Bytes>> {
                (**self).get(key).await
            }

            async fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
                (**self).set(key, value, expire).await
            }

            async fn delete(&self, key: &str) -> Result<bool> {
                (**self).delete(key).await
            }

            async fn ttl(&self, key: &str) -> Result<KeyTtl> {
                (**self).ttl(key).await
            }

            async fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
                (**self).delete_matching(keys).await
            }
        }

        impl<S: BlockingStore + ?Sized> BlockingStore for $ptr<S> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }

            fn get(&self, key: &str) -> Result<Option<Bytes>> {
                (**self).get(key)
            }

            fn set(&self, key: &str, value: Bytes, expire: Option<Duration>) -> Result<()> {
                (**self).set(key, value, expire)
            }

            fn delete(&self, key: &str) -> Result<bool> {
                (**self).delete(key)
            }

            fn ttl(&self, key: &str) -> Result<KeyTtl> {
                (**self).ttl(key)
            }

            fn delete_matching(&self, keys: &KeyMatch) -> Result<u64> {
                (**self).delete_matching(keys)
            }
        }
    )*};
}

forward_store!(Arc, Box);
