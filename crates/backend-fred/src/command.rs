//! The pieces of the store's Redis commands that are plain data: the
//! `SET` expiry, the meaning of a `PTTL` answer and the `SCAN` pattern.

use std::time::Duration;

use fred::types::Expiration;
use memocache_core::{Bytes, KeyMatch, KeyTtl};

/// How many keys one `SCAN` step is asked to look at.
pub(crate) const SCAN_COUNT: u32 = 500;

/// The `PX` argument of `SET key value PX ms` for `expire`: rounded up to
/// whole milliseconds (at least 1), so a sub-millisecond expiry still
/// expires rather than being refused by Redis as zero.
pub(crate) fn expiration(expire: Duration) -> Expiration {
    let millis = expire.as_nanos().div_ceil(1_000_000).max(1);
    Expiration::PX(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// What a `PTTL` answer means: -2 no key, -1 no expiry, else milliseconds.
pub(crate) fn key_ttl(pttl: i64) -> KeyTtl {
    match pttl {
        -1 => KeyTtl::Persistent,
        millis if millis >= 0 => KeyTtl::Expires(Duration::from_millis(millis.unsigned_abs())),
        _ => KeyTtl::Missing,
    }
}

/// The scanned keys that belong to `matching` (a `SCAN MATCH` on its
/// prefix also finds, say, a nested namespace's keys).
pub(crate) fn selected(keys: Vec<Bytes>, matching: &KeyMatch) -> Vec<Bytes> {
    keys.into_iter()
        .filter(|key| std::str::from_utf8(key).is_ok_and(|key| matching.matches(key)))
        .collect()
}

/// The `SCAN MATCH` pattern for every key starting with `prefix`: the
/// prefix with the glob characters `* ? [ ] \` escaped, then `*`.
pub(crate) fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 8);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(prefix_pattern("ns:a?c*[x]\\:"), "ns:a\\?c\\*\\[x\\]\\\\:*");
        assert_eq!(prefix_pattern(""), "*");
    }

    #[test]
    fn pttl_answers_map_to_key_ttl() {
        assert_eq!(key_ttl(-2), KeyTtl::Missing);
        assert_eq!(key_ttl(-1), KeyTtl::Persistent);
        assert_eq!(key_ttl(0), KeyTtl::Expires(Duration::ZERO));
        assert_eq!(key_ttl(1500), KeyTtl::Expires(Duration::from_millis(1500)));
    }

    #[test]
    fn expiry_is_rounded_up_to_whole_milliseconds() {
        assert_eq!(expiration(Duration::from_micros(1500)), Expiration::PX(2));
        assert_eq!(expiration(Duration::from_nanos(1)), Expiration::PX(1));
        assert_eq!(expiration(Duration::from_secs(60)), Expiration::PX(60_000));
        assert_eq!(expiration(Duration::MAX), Expiration::PX(i64::MAX));
    }
}
