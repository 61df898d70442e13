//! The background writes of one memoizer, so that [`flush`] can wait for
//! them.
//!
//! [`flush`]: crate::Memoizer::flush

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts the background writes under way.
#[derive(Default)]
pub(crate) struct Writes {
    pending: AtomicUsize,
    done: Notify,
}

/// One background write under way; dropping it (when the write is done,
/// or its task is dropped) marks it done.
pub(crate) struct Pending(Arc<Writes>);

impl Writes {
    /// Marks a background write as started.
    pub(crate) fn start(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Pending(Arc::clone(self))
    }

    /// Waits until no background write is under way.
    pub(crate) async fn idle(&self) {
        loop {
            let done = self.done.notified();
            let mut done = std::pin::pin!(done);
            done.as_mut().enable();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}
