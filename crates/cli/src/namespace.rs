//! Whole namespaces: `keys`, `clear` and `stats`, by `SCAN` (never `KEYS`):
//! the [`Walk`] memocache's stores sweep a namespace with.
//!
//! A namespace `NS` holds the entries the reference and memocache write for
//! it: `NS` itself (calls without arguments; trailing `:` stripped) and
//! `NS:<hash>` or `NS:<hash>:<hash>` (hex digests: 64 digits for SHA-256
//! and BLAKE3), the stale copies fail-safe keeps beside them (each
//! entry's key and `|stale`) and the entries' distributed locks (the key
//! and `|lock`, with a hash tag), as [`KeyMatch::Namespace`] and
//! [`stale_key`] say. Other keys under `NS:`, such as the entries of a nested
//! namespace `NS:sub` or a service's own data, are left alone unless
//! `--prefix` asks for every key starting with `NS:`.

use std::time::Duration;

use memocache_core::{KeyMatch, block_on, stale_key};
use memocache_redis::redis_rs;
use memocache_redis_plumbing::keyspace::Walk;

use crate::connection::{Link, Redis, walk_failed};
use crate::entry::seconds;

/// The keys of one namespace.
pub struct Namespace {
    /// The key of calls without arguments and its stale copy, if the
    /// namespace has one.
    exact: Vec<String>,
    /// Which keys under the prefix belong to it.
    keys: KeyMatch,
}

impl Namespace {
    /// The namespace `name`; with `everything`, every key starting with
    /// `name:` belongs to it.
    pub fn new(name: &str, everything: bool) -> Result<Self, String> {
        if name.is_empty() {
            return Err(
                "refusing an empty --namespace: its entries cannot be told apart from every \
                 other key of the database"
                    .into(),
            );
        }
        let exact = name.trim_end_matches(':');
        Ok(Namespace {
            exact: if exact.is_empty() {
                Vec::new()
            } else {
                vec![exact.to_owned(), stale_key(exact)]
            },
            keys: if everything {
                KeyMatch::Prefix(format!("{name}:"))
            } else {
                KeyMatch::Namespace(name.to_owned())
            },
        })
    }

    /// Whether `key` (found under the prefix) belongs to the namespace:
    /// one of its entries (what a memoizer's `clear_namespace` removes
    /// too), or with `everything` any key under the prefix. (The walk
    /// filters its pages with the same [`KeyMatch`].)
    #[cfg(test)]
    fn holds(&self, key: &[u8]) -> bool {
        self.keys.matches_bytes(key)
    }

    /// The walk over the namespace's keys under the prefix: on each node
    /// holding keys (every primary of a cluster), each key once.
    fn walk<'a>(&'a self, link: &'a Link) -> Result<Walk<'a, Link>, String> {
        block_on(Walk::start(link, &self.keys)).map_err(walk_failed)
    }

    /// Calls `visit` with each batch of the namespace's keys, each key
    /// once: the argument-less key and its stale copy first (if they
    /// exist), then the pages of its [`walk`](Self::walk).
    fn scan(
        &self,
        link: &Link,
        mut visit: impl FnMut(Vec<Vec<u8>>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut walk = self.walk(link)?;
        for exact in &self.exact {
            let exists: bool = link.query(redis_rs::cmd("EXISTS").arg(exact))?;
            if exists {
                visit(vec![exact.clone().into_bytes()])?;
            }
        }
        while let Some(page) = block_on(walk.next_page()).map_err(walk_failed)? {
            visit(page)?;
        }
        Ok(())
    }
}

/// Calls `print` with each key of the namespace; answers how many.
pub fn keys(
    redis: &Redis,
    namespace: &Namespace,
    mut print: impl FnMut(&str),
) -> Result<u64, String> {
    let link = redis.link()?;
    let mut count = 0;
    namespace.scan(&link, |batch| {
        for key in batch {
            print(&String::from_utf8_lossy(&key));
            count += 1;
        }
        Ok(())
    })?;
    Ok(count)
}

/// Removes every key of the namespace: the argument-less key and its
/// stale copy, then an `UNLINK` per page of its walk (in a cluster, split
/// by slot); answers how many were removed.
pub fn clear(redis: &Redis, namespace: &Namespace) -> Result<u64, String> {
    let link = redis.link()?;
    let walk = namespace.walk(&link)?;
    let mut removed = 0;
    if !namespace.exact.is_empty() {
        // In a cluster, redis-rs splits a multi-key UNLINK by slot.
        let unlinked: u64 = link.query(redis_rs::cmd("UNLINK").arg(&namespace.exact))?;
        removed += unlinked;
    }
    Ok(removed + block_on(walk.unlink_all()).map_err(walk_failed)?)
}

/// What `stats` reports about a namespace.
#[derive(Debug, Default)]
pub struct Stats {
    /// How many keys it has.
    pub keys: u64,
    /// Their memory use in bytes, as `MEMORY USAGE` counts it.
    pub total_bytes: u64,
    /// The largest key and its size in bytes.
    pub largest: Option<(String, u64)>,
    /// The shortest and longest time to live of the keys that expire.
    pub ttl_range: Option<(Duration, Duration)>,
    /// How many keys never expire.
    pub persistent: u64,
}

/// Counts the namespace's keys, their memory and their expiries.
pub fn stats(redis: &Redis, namespace: &Namespace) -> Result<Stats, String> {
    let link = redis.link()?;
    let mut stats = Stats::default();
    namespace.scan(&link, |batch| {
        let commands = batch.iter().flat_map(|key| {
            let mut usage = redis_rs::cmd("MEMORY");
            usage.arg("USAGE").arg(key).arg("SAMPLES").arg(0);
            let mut pttl = redis_rs::cmd("PTTL");
            pttl.arg(key);
            [usage, pttl]
        });
        // In a cluster, each command goes to the node owning its key.
        let answers: Vec<(Option<u64>, i64)> = link.query_all(commands)?;
        for (key, (bytes, pttl)) in batch.iter().zip(answers) {
            // A key gone since SCAN saw it (PTTL -2) is not counted.
            let Some(bytes) = bytes.filter(|_| pttl != -2) else {
                continue;
            };
            stats.keys += 1;
            stats.total_bytes += bytes;
            if stats.largest.as_ref().is_none_or(|(_, most)| bytes > *most) {
                stats.largest = Some((String::from_utf8_lossy(key).into_owned(), bytes));
            }
            match u64::try_from(pttl) {
                Ok(millis) => {
                    let left = Duration::from_millis(millis);
                    stats.ttl_range = Some(match stats.ttl_range {
                        None => (left, left),
                        Some((low, high)) => (low.min(left), high.max(left)),
                    });
                }
                Err(_) => stats.persistent += 1,
            }
        }
        Ok(())
    })?;
    Ok(stats)
}

impl Stats {
    /// The report, one `name: value` line each.
    pub fn report(&self) -> String {
        let mut lines = vec![
            format!("keys: {}", self.keys),
            format!("total bytes: {}", self.total_bytes),
        ];
        if let Some((key, bytes)) = &self.largest {
            lines.push(format!("largest: {bytes} bytes, {key}"));
        }
        match self.ttl_range {
            Some((low, high)) => {
                lines.push(format!("ttl min: {} s", seconds(low)));
                lines.push(format!("ttl max: {} s", seconds(high)));
            }
            None => lines.push("ttl: none expires".into()),
        }
        lines.push(format!("no expiry: {}", self.persistent));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_entries_belong_to_a_namespace() {
        let ns = Namespace::new("user", false).unwrap();
        assert!(ns.holds(format!("user:{H}").as_bytes()));
        assert!(ns.holds(format!("user:{H}:{H}").as_bytes()));
        assert!(
            !ns.holds(format!("user:profile:{H}").as_bytes()),
            "nested namespace"
        );
        assert!(!ns.holds(b"user:123"), "a service's own key");
        assert!(!ns.holds(format!("user:{}", H.to_uppercase()).as_bytes()));
        assert!(!ns.holds(format!("users:{H}").as_bytes()));
        let all = Namespace::new("user", true).unwrap();
        assert!(all.holds(b"user:123"));
        assert!(!all.holds(b"users:1"));
    }

    #[test]
    fn glob_characters_are_escaped_and_empty_namespaces_refused() {
        let ns = Namespace::new("a*b?[c]\\", false).unwrap();
        assert_eq!(ns.keys.scan_pattern(), "a\\*b\\?\\[c\\]\\\\:*");
        assert!(Namespace::new("", false).is_err());
        let colons = Namespace::new("ns:", false).unwrap();
        assert_eq!(colons.exact, ["ns", "ns|stale"]);
        assert_eq!(colons.keys.prefix(), "ns::");
    }
}
