//! A store's health: the circuit breaker that every memoizer over the store
//! (and over its clones) shares, so that an outage one call learns of
//! spares every other call the wait.

use std::fmt;
use std::sync::Arc;

use crate::breaker::{Breaker, BreakerPolicy, BreakerState};

/// The health view of one store, shared by its clones and by every
/// memoizer over them; a cheap handle (clones share the state).
///
/// A store hands it out with [`Backend::health`](crate::Backend::health); the
/// memoizers record each store operation's success or failure in it and
/// skip the store while its breaker is open.
///
/// ```
/// use memocache::health::{BreakerPolicy, BreakerState, Health};
///
/// let health = Health::new(Some(BreakerPolicy::new().failure_threshold(3)));
/// assert_eq!(health.state(), BreakerState::Closed);
/// assert!(health.same(&health.clone()));
/// ```
#[derive(Clone)]
pub struct Health(Arc<Breaker>);

impl Health {
    /// A health view whose breaker follows `policy`; with `None` it never
    /// opens.
    pub fn new(policy: Option<BreakerPolicy>) -> Self {
        Health(Arc::new(Breaker::new(policy)))
    }

    /// The breaker's state now.
    pub fn state(&self) -> BreakerState {
        self.0.state()
    }

    /// The breaker's policy, `None` for one that never opens.
    pub fn policy(&self) -> Option<BreakerPolicy> {
        self.0.policy()
    }

    /// Whether `self` and `other` are one health view (as for clones of
    /// one store).
    pub fn same(&self, other: &Health) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn breaker(&self) -> &Breaker {
        &self.0
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("state", &self.state())
            .field("policy", &self.policy())
            .finish()
    }
}
