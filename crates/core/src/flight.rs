//! Single-flight: concurrent misses on one key run the computation once.
//!
//! The first caller for a key becomes its leader and does the store read,
//! the computation and the write; callers that arrive meanwhile wait for the
//! leader's outcome (its decoded value, so no waiter decodes) instead of
//! doing the same work. The flight stays
//! registered until the leader's write has finished, so a caller arriving
//! while the value is still being written gets it from the flight instead
//! of missing.
//!
//! Nobody waits forever on a leader that is gone: if the leader is
//! cancelled or panics, its guard is dropped and the waiters start over (one
//! of them leads). If the leader's result cannot be shared (an `Err`, or a
//! value that did not encode), each waiter computes for itself.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::tier::Shared;

/// What a flight ended with, as its waiters see it.
#[derive(Debug, Clone)]
pub(crate) enum Landing {
    /// The leader's decoded value: return a clone of it.
    Shared(Shared),
    /// A stale value the leader served because its computation failed
    /// (fail-safe): return a clone of it.
    Stale(Shared),
    /// The leader's computation passed its hard timeout: return that, if
    /// your kind of call can, else compute for yourself.
    Elapsed(std::time::Duration),
    /// The leader's result is not shareable: compute for yourself.
    Unshared,
    /// The leader went away: try again.
    Abandoned,
}

/// One flight's state; callers wait on it through wakers, whether they are
/// async tasks or threads parked by the blocking entry points.
#[derive(Default)]
struct Flight {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    landing: Option<Landing>,
    /// The leader is gone, and with it any write it was doing.
    finished: bool,
    wakers: Vec<Waker>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent
    // (every critical section is a plain field update).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Flight {
    /// Updates the state and wakes everyone waiting on it.
    fn update(&self, change: impl FnOnce(&mut State)) {
        let wakers = {
            let mut state = lock(&self.state);
            change(&mut state);
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Polls for what `done` finds in the state, registering the waker
    /// while it finds nothing.
    fn poll<T>(&self, cx: &mut Context<'_>, done: impl FnOnce(&State) -> Option<T>) -> Poll<T> {
        let mut state = lock(&self.state);
        if let Some(found) = done(&state) {
            return Poll::Ready(found);
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn land(&self, landing: Landing) {
        self.update(|state| {
            state.landing.get_or_insert(landing);
        });
    }
}

/// The flights of one memoizer, by key.
#[derive(Default)]
pub(crate) struct Flights {
    by_key: Mutex<HashMap<Arc<str>, Arc<Flight>>>,
}

/// A caller's part in a flight.
pub(crate) enum Role {
    /// Do the work, then [`Leader::share`] or [`Leader::unshared`].
    Leader(Leader),
    /// Wait for the leader: [`Waiter::wait`].
    Waiter(Waiter),
}

impl Flights {
    /// Joins the flight for `key`, leading it if there is none.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut by_key = lock(&self.by_key);
        if let Some(flight) = by_key.get(key) {
            return Role::Waiter(Waiter(Arc::clone(flight)));
        }
        let flight = Arc::new(Flight::default());
        let key: Arc<str> = Arc::from(key);
        by_key.insert(Arc::clone(&key), Arc::clone(&flight));
        Role::Leader(Leader {
            flights: Arc::clone(self),
            key,
            flight,
            keeper: None,
        })
    }

    /// The flight for `key`, if one is registered: its write may still be
    /// pending.
    pub(crate) fn current(&self, key: &str) -> Option<Finish> {
        lock(&self.by_key).get(key).map(|f| Finish(Arc::clone(f)))
    }

    /// How many flights are registered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.by_key).len()
    }
}

/// Leads a flight; dropping it ends the flight (as abandoned unless it
/// landed) and unregisters it.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: Arc<str>,
    flight: Arc<Flight>,
    /// What the flight keeps until it ends: the keeper of the key's
    /// cross-process lock, which releases it once dropped.
    keeper: Option<Box<dyn Send + Sync>>,
}

impl Leader {
    /// Keeps `keeper` until the flight ends (after its write), then drops
    /// it.
    pub(crate) fn keep(&mut self, keeper: Option<Box<dyn Send + Sync>>) {
        self.keeper = keeper;
    }

    /// Releases the waiters with the decoded value. The flight stays
    /// registered, serving late arrivals, until the leader is dropped.
    pub(crate) fn share(&self, value: Shared) {
        self.flight.land(Landing::Shared(value));
    }

    /// Releases the waiters to compute for themselves.
    pub(crate) fn unshared(&self) {
        self.flight.land(Landing::Unshared);
    }

    /// A handle that lands this flight from elsewhere (the caller of a
    /// computation that runs on its own, at its timeouts), while the
    /// leader itself goes on with the computation and the write.
    pub(crate) fn lander(&self) -> Lander {
        Lander(Arc::clone(&self.flight))
    }
}

/// Lands a flight whose leader runs elsewhere; the first landing wins.
pub(crate) struct Lander(Arc<Flight>);

impl Lander {
    /// Releases the waiters with a stale value.
    pub(crate) fn stale(&self, value: Shared) {
        self.0.land(Landing::Stale(value));
    }

    /// Releases the waiters with the hard timeout's error.
    pub(crate) fn elapsed(&self, after: std::time::Duration) {
        self.0.land(Landing::Elapsed(after));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        {
            let mut by_key = lock(&self.flights.by_key);
            if by_key
                .get(&*self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                by_key.remove(&*self.key);
            }
        }
        self.flight.update(|state| {
            state.landing.get_or_insert(Landing::Abandoned);
            state.finished = true;
        });
    }
}

/// Waits for a flight to finish, its write included.
pub(crate) struct Finish(Arc<Flight>);

impl Finish {
    /// Waits for the leader to be gone.
    pub(crate) fn wait(self) -> impl Future<Output = ()> {
        std::future::poll_fn(move |cx| self.0.poll(cx, |state| state.finished.then_some(())))
    }
}

/// Waits for a flight's landing.
pub(crate) struct Waiter(Arc<Flight>);

impl Waiter {
    /// Waits for the leader's landing.
    pub(crate) fn wait(self) -> impl Future<Output = Landing> {
        std::future::poll_fn(move |cx| self.0.poll(cx, |state| state.landing.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::block_on;

    fn leader(role: Role) -> Leader {
        match role {
            Role::Leader(l) => l,
            Role::Waiter(_) => panic!("expected to lead"),
        }
    }

    fn waiter(role: Role) -> Waiter {
        match role {
            Role::Waiter(w) => w,
            Role::Leader(_) => panic!("expected to wait"),
        }
    }

    #[test]
    fn waiters_get_the_shared_value_and_late_arrivals_too() {
        let flights = Arc::new(Flights::default());
        let lead = leader(flights.join("k"));
        let early = waiter(flights.join("k"));
        let other = leader(flights.join("other key"));
        lead.share(Arc::new("v"));
        assert!(
            matches!(block_on(early.wait()), Landing::Shared(v) if v.downcast_ref::<&str>() == Some(&"v"))
        );
        let late = waiter(flights.join("k"));
        assert!(matches!(block_on(late.wait()), Landing::Shared(_)));
        drop(lead);
        drop(other);
        assert_eq!(flights.len(), 0);
        let _next = leader(flights.join("k"));
    }

    #[test]
    fn a_dropped_leader_releases_its_waiters() {
        let flights = Arc::new(Flights::default());
        let lead = leader(flights.join("k"));
        let w = waiter(flights.join("k"));
        let t = std::thread::spawn(move || block_on(w.wait()));
        drop(lead);
        assert!(matches!(t.join().unwrap(), Landing::Abandoned));
        let _takeover = leader(flights.join("k"));
    }

    #[test]
    fn a_panicking_leader_releases_its_waiters() {
        let flights = Arc::new(Flights::default());
        let w = {
            let in_thread = Arc::clone(&flights);
            let (led, leading) = std::sync::mpsc::channel();
            let (joined, waiting) = std::sync::mpsc::channel::<()>();
            let handle = std::thread::spawn(move || {
                let _lead = leader(in_thread.join("k"));
                led.send(()).unwrap();
                // Panics only once the waiter has joined.
                waiting.recv().unwrap();
                panic!("computation failed");
            });
            leading.recv().unwrap();
            let w = waiter(flights.join("k"));
            joined.send(()).unwrap();
            assert!(handle.join().is_err());
            w
        };
        assert!(matches!(block_on(w.wait()), Landing::Abandoned));
        assert!(flights.current("k").is_none());
    }

    #[test]
    fn finish_waits_for_the_leader_to_be_dropped() {
        let flights = Arc::new(Flights::default());
        let lead = leader(flights.join("k"));
        lead.share(Arc::new("v"));
        let finish = flights.current("k").expect("registered until dropped");
        let t = std::thread::spawn(move || block_on(finish.wait()));
        // Once it waits (its waker registered), it has seen the flight
        // unfinished; only the leader's drop can end it.
        while lock(&lead.flight.state).wakers.is_empty() {
            std::thread::yield_now();
        }
        assert!(!t.is_finished(), "finished before the leader was dropped");
        drop(lead);
        t.join().unwrap();
        assert!(flights.current("k").is_none());
    }

    #[test]
    fn parked_waiters_are_woken_by_the_landing() {
        let flights = Arc::new(Flights::default());
        let lead = leader(flights.join("k"));
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..3 {
            let w = waiter(flights.join("k"));
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(block_on(w.wait())).unwrap());
        }
        // Land only once all three wait with their wakers registered, so
        // the landing has to wake them rather than be seen on their way in.
        while lock(&lead.flight.state).wakers.len() < 3 {
            std::thread::yield_now();
        }
        lead.share(Arc::new("v"));
        for _ in 0..3 {
            let landing = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a sleeping waiter was not woken");
            assert!(
                matches!(landing, Landing::Shared(v) if v.downcast_ref::<&str>() == Some(&"v"))
            );
        }
        assert!(lock(&lead.flight.state).wakers.is_empty());
    }
}
