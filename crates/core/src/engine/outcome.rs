//! What a computation returns, and which part of it is cached.

use serde::Serialize;

use crate::error::Elapsed;
use serde::de::DeserializeOwned;

/// What a memoized call can return: a value that is stored encoded
/// (`Serialize + DeserializeOwned`) and handed out as clones of one decoded
/// copy, to the flight's waiters and from the local tier (`Clone + Send +
/// Sync + 'static`). Implemented for every such type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be memoized",
    note = "a memoized value must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`: \
            derive `Serialize, Deserialize, Clone` on it"
)]
pub trait Cacheable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Cacheable for T {}

/// A computation's result as the engine sees it.
pub(crate) trait Outcome {
    /// The cached part; cloned out of the local tier and to the flight's
    /// waiters.
    type Value: Cacheable;
    /// The part to cache, if any.
    fn cacheable(&self) -> Option<&Self::Value>;
    /// The result a cached value stands for.
    fn from_cached(value: Self::Value) -> Self;
    /// Whether the computation failed (an `Err`), so that fail-safe may
    /// serve a stale value instead.
    fn failed(&self) -> bool;
    /// The result of a call whose computation passed its hard timeout, if
    /// this kind of result can say so.
    fn elapsed(elapsed: Elapsed) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = elapsed;
        None
    }
}

/// Every value is cached (`call`).
pub(crate) struct Always<T>(pub(crate) T);

impl<T: Cacheable> Outcome for Always<T> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        Some(&self.0)
    }

    fn from_cached(value: T) -> Self {
        Always(value)
    }

    fn failed(&self) -> bool {
        false
    }
}

/// Only `Ok` values are cached (`try_call`).
impl<T: Cacheable, E> Outcome for Result<T, E> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_cached(value: T) -> Self {
        Ok(value)
    }

    fn failed(&self) -> bool {
        self.is_err()
    }
}

/// Only `Ok` values are cached, and a hard timeout is an `Err`
/// (`try_call_owned`).
pub(crate) struct Bounded<T, E>(pub(crate) Result<T, E>);

impl<T: Cacheable, E: From<Elapsed>> Outcome for Bounded<T, E> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        self.0.as_ref().ok()
    }

    fn from_cached(value: T) -> Self {
        Bounded(Ok(value))
    }

    fn failed(&self) -> bool {
        self.0.is_err()
    }

    fn elapsed(elapsed: Elapsed) -> Option<Self> {
        Some(Bounded(Err(elapsed.into())))
    }
}
