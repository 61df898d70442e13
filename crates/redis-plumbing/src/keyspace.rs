//! Visiting and removing the keys of a [`KeyMatch`]: `SCAN` steps on the
//! single node or on every primary of a cluster (never `KEYS`, which
//! blocks the server), each page filtered by [`KeyMatch::matches_bytes`]
//! and rid of the keys it already gave ([`Walk`]), then, to remove them,
//! `UNLINK` a page at a time ([`delete_matching`]).

use std::collections::{HashSet, VecDeque};
use std::future::Future;

use memocache_core::{KeyMatch, Result};

use crate::topology::{self, Node};

/// How many keys one `SCAN` step is asked to look at, and so about how
/// many keys one page (and one `UNLINK`) holds at the most.
pub const SCAN_COUNT: u32 = 500;

/// The commands a client sends for a [`Walk`] and [`delete_matching`]. A
/// blocking client's futures complete when first polled; drive the walk
/// with [`memocache_core::block_on`].
pub trait Keyspace: Sync {
    /// Whether the keys are spread over a cluster's primaries.
    fn is_cluster(&self) -> bool;

    /// The cluster's `CLUSTER NODES` reply.
    fn cluster_nodes(&self) -> impl Future<Output = Result<String>> + Send;

    /// One `SCAN cursor MATCH pattern COUNT` [`SCAN_COUNT`] step on `node`
    /// (`None`: the single node); answers the next cursor (0 when done) and
    /// the keys.
    fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> impl Future<Output = Result<(u64, Vec<Vec<u8>>)>> + Send;

    /// `UNLINK keys...` (split by hash slot on a cluster where the client
    /// does not); answers how many existed.
    fn unlink(&self, keys: Vec<Vec<u8>>) -> impl Future<Output = Result<u64>> + Send;
}

/// Removes every key of `matching` from `keyspace`, one `UNLINK` a page
/// of a [`Walk`]; answers how many.
pub async fn delete_matching<K: Keyspace>(keyspace: &K, matching: &KeyMatch) -> Result<u64> {
    Walk::start(keyspace, matching).await?.unlink_all().await
}

/// The keys of a [`KeyMatch`], page by page, removing none: one `SCAN`
/// sweep of the single node, or of each primary of a cluster in turn (as
/// `CLUSTER NODES` names them when the walk starts).
///
/// Each key is given once: `SCAN` may answer a key more than once (and a
/// key moving between a cluster's nodes may be seen on both), so the walk
/// remembers the keys it gave.
pub struct Walk<'a, K> {
    keyspace: &'a K,
    matching: &'a KeyMatch,
    pattern: String,
    /// The nodes still to sweep, the one being swept first.
    nodes: VecDeque<Option<Node>>,
    /// Where the sweep of the first node is.
    cursor: u64,
    /// The keys given so far.
    seen: HashSet<Vec<u8>>,
}

impl<'a, K: Keyspace> Walk<'a, K> {
    /// A walk over the keys of `matching` in `keyspace`; on a cluster,
    /// asks for its primaries.
    pub async fn start(keyspace: &'a K, matching: &'a KeyMatch) -> Result<Self> {
        let nodes = if keyspace.is_cluster() {
            let nodes = keyspace.cluster_nodes().await?;
            topology::primaries(&nodes).into_iter().map(Some).collect()
        } else {
            VecDeque::from([None])
        };
        Ok(Walk {
            keyspace,
            matching,
            pattern: matching.scan_pattern(),
            nodes,
            cursor: 0,
            seen: HashSet::new(),
        })
    }

    /// The next keys of the match, never empty, none given before; `None`
    /// once every node has been swept.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Vec<u8>>>> {
        while let Some(node) = self.nodes.front() {
            let (next, keys) = self
                .keyspace
                .scan(node.as_ref(), self.cursor, &self.pattern)
                .await?;
            if next == 0 {
                self.nodes.pop_front();
            }
            self.cursor = next;
            let page: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|key| self.matching.matches_bytes(key) && self.seen.insert(key.clone()))
                .collect();
            if !page.is_empty() {
                return Ok(Some(page));
            }
        }
        Ok(None)
    }

    /// Removes the keys the walk has still to give, one `UNLINK` a page;
    /// answers how many.
    ///
    /// The keys it removes are not remembered, so that removing a large
    /// match does not hold all of its keys: `SCAN` cannot answer a removed
    /// key again (one written again since is removed again), and `UNLINK`
    /// counts only the keys that existed.
    pub async fn unlink_all(mut self) -> Result<u64> {
        let mut removed = 0;
        while let Some(page) = self.next_page().await? {
            for key in &page {
                self.seen.remove(key);
            }
            removed += self.keyspace.unlink(page).await?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use memocache_core::block_on;

    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// An in-memory keyspace whose `SCAN` answers scripted pages: page `i`
    /// of a node for cursor `i`.
    struct Fake {
        /// `CLUSTER NODES`, for a cluster.
        cluster: Option<String>,
        /// Each node's pages.
        pages: Vec<(Option<Node>, Vec<Vec<String>>)>,
        /// The keys held.
        held: Mutex<BTreeSet<Vec<u8>>>,
        /// Each `SCAN` sent: node, cursor, pattern.
        scans: Mutex<Vec<(Option<Node>, u64, String)>>,
        /// Each `UNLINK` sent.
        unlinks: Mutex<Vec<Vec<Vec<u8>>>>,
    }

    impl Fake {
        fn new(cluster: Option<&str>, pages: Vec<(Option<Node>, Vec<Vec<String>>)>) -> Self {
            let held = pages
                .iter()
                .flat_map(|(_, pages)| pages.iter().flatten())
                .map(|key| key.clone().into_bytes())
                .collect();
            Fake {
                cluster: cluster.map(str::to_owned),
                pages,
                held: Mutex::new(held),
                scans: Mutex::default(),
                unlinks: Mutex::default(),
            }
        }
    }

    impl Keyspace for Fake {
        fn is_cluster(&self) -> bool {
            self.cluster.is_some()
        }

        async fn cluster_nodes(&self) -> Result<String> {
            Ok(self.cluster.clone().unwrap())
        }

        async fn scan(
            &self,
            node: Option<&Node>,
            cursor: u64,
            pattern: &str,
        ) -> Result<(u64, Vec<Vec<u8>>)> {
            let scan = (node.cloned(), cursor, pattern.to_owned());
            self.scans.lock().unwrap().push(scan);
            let (_, pages) = self.pages.iter().find(|(n, _)| n.as_ref() == node).unwrap();
            let at = usize::try_from(cursor).unwrap();
            let next = if at + 1 == pages.len() { 0 } else { cursor + 1 };
            let keys = pages[at].iter().map(|key| key.clone().into_bytes());
            Ok((next, keys.collect()))
        }

        async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
            let mut held = self.held.lock().unwrap();
            let removed = keys.iter().filter(|key| held.remove(*key)).count();
            self.unlinks.lock().unwrap().push(keys);
            Ok(removed as u64)
        }
    }

    fn page(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    fn strings(page: &[Vec<u8>]) -> Vec<String> {
        page.iter()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .collect()
    }

    /// Every page of a walk of `matching`.
    fn walk(keyspace: &Fake, matching: &KeyMatch) -> Vec<Vec<String>> {
        let mut walk = block_on(Walk::start(keyspace, matching)).unwrap();
        let mut pages = Vec::new();
        while let Some(page) = block_on(walk.next_page()).unwrap() {
            pages.push(strings(&page));
        }
        pages
    }

    #[test]
    fn a_walk_gives_the_matching_keys_of_each_page_and_removes_none() {
        let entry = format!("ns:{H}");
        let pair = format!("ns:{H}:{H}");
        let fake = Fake::new(
            None,
            vec![(
                None,
                vec![
                    page(&[&entry, "ns:sub:1", "ns:123"]),
                    page(&["ns:own", &format!("ns:{}", H.to_uppercase())]),
                    page(&[]),
                    page(&[&pair, "ns:x"]),
                ],
            )],
        );
        let namespace = KeyMatch::Namespace("ns".into());
        assert_eq!(walk(&fake, &namespace), [[entry], [pair]]);
        let scans = fake.scans.lock().unwrap().clone();
        let expected: Vec<_> = (0..4).map(|c| (None, c, "ns:*".to_owned())).collect();
        assert_eq!(scans, expected, "every page asked for, with the pattern");
        assert!(fake.unlinks.lock().unwrap().is_empty());
        assert_eq!(fake.held.lock().unwrap().len(), 7);

        let prefix = KeyMatch::Prefix("ns:s".into());
        assert_eq!(walk(&fake, &prefix), [vec!["ns:sub:1"]]);
    }

    #[test]
    fn a_walk_gives_each_key_once() {
        let fake = Fake::new(
            None,
            vec![(
                None,
                vec![
                    page(&["p:a", "p:b", "p:a"]),
                    page(&["p:b", "p:c"]),
                    page(&["p:a"]),
                ],
            )],
        );
        let pages = walk(&fake, &KeyMatch::Prefix("p:".into()));
        assert_eq!(pages, [vec!["p:a", "p:b"], vec!["p:c"]]);
        assert_eq!(fake.scans.lock().unwrap().len(), 3, "to the last page");
    }

    #[test]
    fn a_cluster_is_walked_on_each_healthy_primary_and_each_key_given_once() {
        let nodes = "\
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-8191
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1 2 connected 8192-16383
";
        let (one, two) = (
            ("127.0.0.1".to_owned(), 30001),
            ("127.0.0.1".to_owned(), 30002),
        );
        let fake = Fake::new(
            Some(nodes),
            vec![
                (
                    Some(one.clone()),
                    vec![page(&["p:a", "q:a"]), page(&["p:moving"])],
                ),
                (Some(two.clone()), vec![page(&["p:moving", "p:b"])]),
            ],
        );
        let pages = walk(&fake, &KeyMatch::Prefix("p:".into()));
        assert_eq!(pages, [vec!["p:a"], vec!["p:moving"], vec!["p:b"]]);
        let scanned: Vec<_> = fake
            .scans
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.clone())
            .collect();
        assert_eq!(scanned, [Some(one.clone()), Some(one), Some(two)]);
    }

    #[test]
    fn delete_matching_unlinks_each_page_of_the_walk() {
        let fake = Fake::new(
            None,
            vec![(
                None,
                vec![
                    page(&["p:a", "other", "p:b", "p:b"]),
                    page(&["p:a", "p:q"]),
                    page(&["pp:x"]),
                ],
            )],
        );
        let removed = block_on(delete_matching(&fake, &KeyMatch::Prefix("p:".into())));
        assert_eq!(removed.unwrap(), 3);
        let unlinks: Vec<_> = fake
            .unlinks
            .lock()
            .unwrap()
            .iter()
            .map(|u| strings(u))
            .collect();
        // Removed keys are forgotten: "p:a" sent again is not counted again.
        assert_eq!(unlinks, [vec!["p:a", "p:b"], vec!["p:a", "p:q"]]);
        let held: Vec<_> = fake.held.lock().unwrap().iter().cloned().collect();
        assert_eq!(strings(&held), ["other", "pp:x"]);
    }
}
