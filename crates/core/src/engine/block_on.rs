//! Driving an engine future to its end on the calling thread, for the
//! blocking entry points.
//!
//! The blocking path's store operations complete when first polled, so its
//! futures only ever wait on another caller (a flight's leader, a pending
//! write): the thread parks until that caller's waker unparks it, with no
//! polling loop and no async runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker, made once.
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Runs `future` to completion on this thread, parking it whenever the
/// future waits.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // A wake that came before this park makes it return at once.
            thread::park();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;

    #[test]
    fn a_ready_future_returns_at_once() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    #[test]
    fn a_waiting_future_is_woken_by_another_thread() {
        let notify = Arc::new(Notify::new());
        let waiting = {
            let notify = Arc::clone(&notify);
            thread::spawn(move || block_on(async move { notify.notified().await }))
        };
        // notify_one keeps a permit if the waiter has not registered yet.
        notify.notify_one();
        waiting.join().unwrap();
    }
}
