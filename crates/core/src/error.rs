//! The one error type of memocache.
//!
//! Callers of the [`Memoizer`](crate::Memoizer) never see it: cache failures
//! are logged and the computation's own result is returned. It surfaces where
//! a user asks the cache something directly (a store's methods, a codec, the
//! key builder) and in configuration.

use std::error::Error as StdError;

/// A boxed error from a backend's own client library.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong between a value and the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value or argument could not be serialized.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// Stored bytes could not be turned back into the requested type.
    #[error("cannot decode value: {0}")]
    Decode(String),
    /// Stored bytes are not a valid stream of the configured compression.
    #[error("cannot decompress value ({compression}): {message}")]
    Decompress {
        /// The compression that failed, e.g. `"zlib"`.
        compression: &'static str,
        /// What the decompressor reported.
        message: String,
    },
    /// A stored value inflates to more than the configured bound.
    #[error("value inflates to more than {limit} bytes; refusing to decode it")]
    TooLarge {
        /// The bound that was exceeded, in bytes.
        limit: usize,
    },
    /// The store did not answer within the operation timeout.
    #[error("store operation timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Invalid configuration, with a message that says how to fix it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An error from a backend's client library.
    #[error("{backend} backend error: {source}")]
    Backend {
        /// The backend's name, e.g. `"redis"`.
        backend: &'static str,
        /// The client library's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Wraps an error from a backend's client library.
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            backend,
            source: source.into(),
        }
    }
}

/// The result type of memocache's fallible operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
