//! What a computation returns, and which part of it is cached.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A computation's result as the engine sees it.
pub(crate) trait Outcome {
    /// The cached part.
    type Value: Serialize + DeserializeOwned;
    /// The part to cache, if any.
    fn cacheable(&self) -> Option<&Self::Value>;
    /// The result a cached value stands for.
    fn from_cached(value: Self::Value) -> Self;
}

/// Every value is cached (`call`).
pub(crate) struct Always<T>(pub(crate) T);

impl<T: Serialize + DeserializeOwned> Outcome for Always<T> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        Some(&self.0)
    }

    fn from_cached(value: T) -> Self {
        Always(value)
    }
}

/// Only `Ok` values are cached (`try_call`).
impl<T: Serialize + DeserializeOwned, E> Outcome for Result<T, E> {
    type Value = T;

    fn cacheable(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_cached(value: T) -> Self {
        Ok(value)
    }
}
