//! The removals a memoizer could not make: `invalidate` and
//! `clear_namespace` calls that did not reach the store, kept until they
//! can be made again, so that after an outage the store holds no entry
//! the user asked to remove.
//!
//! The queue is bounded: past [`BOUND`] keys it gives them up for one
//! removal of the whole namespace (logged and counted), which removes
//! them too. A key the memoizer writes again leaves the queue (the write
//! supersedes the removal), and while a removal is pending a read of its
//! key is a miss, so the entry is never served meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many keys wait at most; beyond, the whole namespace is removed.
pub(crate) const BOUND: usize = 10_000;

/// The first delay before a retry, doubled after each failed round.
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// The longest delay between two retries: an entry is gone at most this
/// long (and the removal's round trip) after the store is reachable again.
const LAST_RETRY: Duration = Duration::from_secs(1);

/// The delays between two rounds of retries: [`FIRST_RETRY`], doubled up
/// to [`LAST_RETRY`].
pub(crate) fn retry_delays() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_RETRY), |delay| {
        Some((*delay * 2).min(LAST_RETRY))
    })
}

/// A memoizer's pending removals.
#[derive(Default)]
pub(crate) struct Removals {
    queue: Mutex<Queue>,
    /// How many removals wait (keys, and the namespace as one).
    pending: AtomicU64,
    /// Times the queue overflowed into a removal of the whole namespace.
    pub(crate) overflows: AtomicU64,
    /// Whether a retry loop runs.
    retrying: AtomicBool,
    /// Bumped by every removal as it begins, so that a write prepared
    /// before it (a refresh ahead) can tell it must not land.
    epoch: AtomicU64,
    /// Held by a retried removal of a key and, while removals wait, by
    /// every write: so that a retry never removes a write that superseded
    /// it.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Queue {
    /// Each key with the number of its latest removal.
    keys: HashMap<String, u64>,
    /// The number of the latest removal of the namespace, if one waits.
    namespace: Option<u64>,
    next: u64,
}

/// One removal to retry, as the queue held it when taken.
pub(crate) enum Removal {
    /// The entry at this key.
    Key(String, u64),
    /// Every entry of the namespace.
    Namespace(u64),
}

impl Queue {
    fn number(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn len(&self) -> u64 {
        u64::try_from(self.keys.len()).unwrap_or(u64::MAX) + u64::from(self.namespace.is_some())
    }
}

impl Removals {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update<T>(&self, change: impl FnOnce(&mut Queue) -> T) -> T {
        let mut queue = self.lock();
        let out = change(&mut queue);
        self.pending.store(queue.len(), Ordering::Release);
        out
    }

    /// A removal begins: writes prepared before it must not land.
    pub(crate) fn begin(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The number of removals begun so far.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// How many removals wait.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Whether a read of `key` must be a miss: its removal, or the
    /// namespace's, waits.
    pub(crate) fn hides(&self, key: &str) -> bool {
        if self.pending() == 0 {
            return false;
        }
        let queue = self.lock();
        queue.namespace.is_some() || queue.keys.contains_key(key)
    }

    /// Queues the removal of `key`; answers `false` when the queue was
    /// full: it then gives its keys up for a removal of the whole namespace
    /// if `clearable` (the memoizer can clear its namespace), else its
    /// oldest key.
    pub(crate) fn push_key(&self, key: &str, clearable: bool) -> bool {
        self.update(|queue| {
            let number = queue.number();
            if queue.keys.len() < BOUND || queue.keys.contains_key(key) {
                queue.keys.insert(key.to_owned(), number);
                return true;
            }
            self.overflows.fetch_add(1, Ordering::Relaxed);
            if clearable {
                queue.keys.clear();
                queue.namespace = Some(number);
            } else {
                // Nothing wider to fall back on: the oldest key goes.
                let oldest = queue.keys.iter().min_by_key(|(_, n)| **n);
                if let Some(oldest) = oldest.map(|(k, _)| k.clone()) {
                    queue.keys.remove(&oldest);
                }
                queue.keys.insert(key.to_owned(), number);
            }
            false
        })
    }

    /// Queues the removal of every entry of the namespace, which covers
    /// the keys queued before it.
    pub(crate) fn push_namespace(&self) {
        self.update(|queue| {
            let number = queue.number();
            queue.keys.clear();
            queue.namespace = Some(number);
        });
    }

    /// `key` was written (which supersedes its removal) or removed after
    /// its removal was asked: the removal no longer waits.
    pub(crate) fn settled(&self, key: &str) {
        if self.pending() > 0 {
            self.update(|queue| queue.keys.remove(key));
        }
    }

    /// While removals wait, the gate a write and a retried removal of a key
    /// hold, so that a retry never removes a write that superseded it;
    /// nothing otherwise.
    pub(crate) async fn gate(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.pending() == 0 {
            return None;
        }
        Some(self.gate.lock().await)
    }

    /// Whether `removal` still waits as it was taken (not superseded by a
    /// write, nor asked again).
    pub(crate) fn waits(&self, removal: &Removal) -> bool {
        let queue = self.lock();
        match removal {
            Removal::Key(key, number) => queue.keys.get(key) == Some(number),
            Removal::Namespace(number) => queue.namespace == Some(*number),
        }
    }

    /// The removals waiting now, the namespace's first.
    pub(crate) fn waiting(&self) -> Vec<Removal> {
        let queue = self.lock();
        let keys = queue
            .keys
            .iter()
            .map(|(key, number)| Removal::Key(key.clone(), *number));
        queue
            .namespace
            .map(Removal::Namespace)
            .into_iter()
            .chain(keys)
            .collect()
    }

    /// A retried removal was made: it leaves the queue unless it was asked
    /// again meanwhile.
    pub(crate) fn done(&self, removal: &Removal) {
        self.update(|queue| match removal {
            Removal::Key(key, number) => {
                if queue.keys.get(key) == Some(number) {
                    queue.keys.remove(key);
                }
            }
            Removal::Namespace(number) => {
                if queue.namespace == Some(*number) {
                    queue.namespace = None;
                }
            }
        });
    }

    /// Claims the retry loop; `false` when one already runs.
    pub(crate) fn start_retrying(&self) -> bool {
        !self.retrying.swap(true, Ordering::AcqRel)
    }

    /// Ends the retry loop once nothing waits; answers whether it ended
    /// (a removal queued meanwhile keeps it going).
    pub(crate) fn stop_retrying(&self) -> bool {
        self.retrying.store(false, Ordering::Release);
        self.pending() == 0 || !self.start_retrying()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(removals: &Removals) -> Vec<String> {
        let mut keys: Vec<String> = removals
            .waiting()
            .into_iter()
            .map(|removal| match removal {
                Removal::Key(key, _) => key,
                Removal::Namespace(_) => "*".to_owned(),
            })
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_latest_removal_of_a_key_is_the_one_that_counts() {
        let removals = Removals::default();
        assert!(removals.push_key("a", true));
        let first = removals.waiting();
        assert!(removals.push_key("a", true));
        assert_eq!(removals.pending(), 1);
        // The retry of the first removal ends; the second still waits.
        removals.done(&first[0]);
        assert_eq!(keys(&removals), ["a"]);
        assert!(removals.hides("a") && !removals.hides("b"));
        for removal in removals.waiting() {
            removals.done(&removal);
        }
        assert_eq!(removals.pending(), 0);
        assert!(!removals.hides("a"));
    }

    #[test]
    fn a_write_supersedes_the_removal_of_its_key() {
        let removals = Removals::default();
        removals.push_key("a", true);
        removals.push_key("b", true);
        removals.settled("a");
        assert_eq!(keys(&removals), ["b"]);
    }

    #[test]
    fn a_full_queue_falls_back_on_the_whole_namespace() {
        let removals = Removals::default();
        for i in 0..BOUND {
            assert!(removals.push_key(&format!("k{i}"), true));
        }
        assert!(!removals.push_key("one more", true));
        assert_eq!(keys(&removals), ["*"]);
        assert_eq!(removals.overflows.load(Ordering::Relaxed), 1);
        assert!(removals.hides("anything"), "the namespace's entries wait");
        // A namespace that cannot be cleared keeps the newest keys instead.
        let removals = Removals::default();
        for i in 0..BOUND {
            assert!(removals.push_key(&format!("k{i}"), false));
        }
        assert!(!removals.push_key(&format!("k{BOUND}"), false));
        assert_eq!(removals.pending(), u64::try_from(BOUND).unwrap());
        assert!(!removals.hides("k0") && removals.hides(&format!("k{BOUND}")));
    }

    #[test]
    fn one_retry_loop_runs_and_a_removal_queued_as_it_ends_keeps_it_going() {
        let removals = Removals::default();
        assert!(removals.start_retrying());
        assert!(!removals.start_retrying());
        removals.push_namespace();
        assert!(!removals.stop_retrying(), "a removal waits: go on");
        for removal in removals.waiting() {
            removals.done(&removal);
        }
        assert!(removals.stop_retrying());
        assert!(removals.start_retrying());
    }
}
