//! The piece of the store's Redis commands that is plain data: the `SET`
//! expiry.

use std::time::Duration;

use fred::types::Expiration;

/// The `PX` argument of `SET key value PX ms` for `expire`: rounded up to
/// whole milliseconds (at least 1), so a sub-millisecond expiry still
/// expires rather than being refused by Redis as zero.
pub(crate) fn expiration(expire: Duration) -> Expiration {
    Expiration::PX(i64::try_from(memocache_core::expire_millis(expire)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_rounded_up_to_whole_milliseconds() {
        assert_eq!(expiration(Duration::from_micros(1500)), Expiration::PX(2));
        assert_eq!(expiration(Duration::from_nanos(1)), Expiration::PX(1));
        assert_eq!(expiration(Duration::from_secs(60)), Expiration::PX(60_000));
        assert_eq!(expiration(Duration::MAX), Expiration::PX(i64::MAX));
    }
}
