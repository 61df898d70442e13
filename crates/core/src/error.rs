//! The one error type of memocache.
//!
//! Callers of the [`Memoizer`](crate::Memoizer) never see it: cache failures
//! are logged and the computation's own result is returned. It surfaces where
//! a user asks the cache something directly (a store's methods, a codec, the
//! key builder) and in configuration.
//!
//! An [`Error`] says what memocache was doing; the error that made it fail
//! (serde_json's, zlib's, redis-rs', ...) is its
//! [`source`](std::error::Error::source), not repeated in its message.
//! [`Error::report`] prints the whole chain on one line, for logs and
//! command lines.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a backend's own client library, or from a codec's
/// serializer or compressor.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong between a value and the store.
///
/// The message of each variant says what failed; the underlying error, when
/// there is one, is [`source`](std::error::Error::source) (and the message
/// does not repeat it). Print [`report`](Self::report) to see both.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A value or argument could not be serialized; the serializer's error
    /// is the source.
    Encode(BoxError),
    /// Serialized bytes could not be compressed; the compressor's error is
    /// the source.
    Compress {
        /// The compression that failed, e.g. `"zstd"`.
        compression: &'static str,
        /// What the compressor reported.
        source: BoxError,
    },
    /// Stored bytes could not be turned back into the requested type; the
    /// deserializer's error is the source.
    Decode(BoxError),
    /// Stored bytes are not a valid stream of the configured compression;
    /// the decompressor's error is the source.
    Decompress {
        /// The compression that failed, e.g. `"zlib"`.
        compression: &'static str,
        /// What the decompressor reported.
        source: BoxError,
    },
    /// A stored value inflates to more than the configured bound.
    TooLarge {
        /// The bound that was exceeded, in bytes.
        limit: usize,
    },
    /// The store did not answer within the operation timeout.
    Timeout(std::time::Duration),
    /// The store was not asked: its circuit breaker is open after
    /// consecutive failures, until its cool-down ends.
    BreakerOpen {
        /// The backend's name, e.g. `"redis"`.
        backend: &'static str,
    },
    /// Invalid configuration, with a message that says how to fix it (and
    /// as source, the error that revealed it, if any).
    Config(ConfigError),
    /// An error from a backend's client library, which is the source.
    Backend {
        /// The backend's name, e.g. `"redis"`.
        backend: &'static str,
        /// The client library's error.
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

    /// A configuration mistake, with `message` saying how to fix it.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Error::Config(ConfigError::new(message))
    }

    /// A configuration mistake revealed by `source` (a parser's or a file
    /// system's error, say), with `message` saying how to fix it.
    pub fn config_with_source(
        message: impl Into<Cow<'static, str>>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Config(ConfigError::new(message).with_source(source))
    }

    /// The error with its causes, for a log line or a command line:
    /// `message: cause: cause`.
    ///
    /// ```
    /// use memocache::Error;
    /// use memocache::codec::{Codec, JsonZlib};
    ///
    /// let error = JsonZlib::default().decode::<u32>(b"not zlib").unwrap_err();
    /// assert!(matches!(error, Error::Decompress { .. }));
    /// assert_eq!(error.to_string(), "cannot decompress value (zlib)");
    /// assert!(error.report().to_string().starts_with("cannot decompress value (zlib): "));
    /// ```
    pub fn report(&self) -> Report<'_> {
        Report::new(self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Encode(_) => f.write_str("cannot encode value"),
            Error::Compress { compression, .. } => {
                write!(f, "cannot compress value ({compression})")
            }
            Error::Decode(_) => f.write_str("cannot decode value"),
            Error::Decompress { compression, .. } => {
                write!(f, "cannot decompress value ({compression})")
            }
            Error::TooLarge { limit } => {
                write!(
                    f,
                    "value inflates to more than {limit} bytes; refusing to decode it"
                )
            }
            Error::Timeout(after) => write!(f, "store operation timed out after {after:?}"),
            Error::BreakerOpen { backend } => write!(
                f,
                "the {backend} store was not asked: its circuit breaker is open after \
                 consecutive failures"
            ),
            Error::Config(config) => write!(f, "invalid configuration: {config}"),
            Error::Backend { backend, .. } => write!(f, "{backend} backend error"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Encode(source)
            | Error::Decode(source)
            | Error::Compress { source, .. }
            | Error::Decompress { source, .. }
            | Error::Backend { source, .. } => Some(&**source),
            // The configuration error's message is this one's: its cause
            // comes next.
            Error::Config(config) => config.source(),
            Error::TooLarge { .. } | Error::Timeout(_) | Error::BreakerOpen { .. } => None,
        }
    }
}

/// A computation did not finish within its memoizer's hard timeout
/// ([`MemoizerBuilder::hard_timeout`](crate::MemoizerBuilder::hard_timeout)):
/// what a fallible memoized call returns then, turned into the function's
/// own error type (`E: From<Elapsed>`), when no stale value can stand in.
/// The computation itself goes on in the background and updates the entry
/// when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the computation did not finish within its hard timeout of {after:?}")]
pub struct Elapsed {
    after: std::time::Duration,
}

impl Elapsed {
    pub(crate) fn new(after: std::time::Duration) -> Self {
        Elapsed { after }
    }

    /// The hard timeout that elapsed.
    pub fn after(&self) -> std::time::Duration {
        self.after
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::Config(error)
    }
}

/// A configuration mistake: what to fix, and the error that revealed it
/// (an unparseable URL, an unreadable file), if any.
///
/// Its message never holds a password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: Cow<'static, str>,
    #[source]
    source: Option<BoxError>,
}

impl ConfigError {
    /// A mistake described by `message`, which says how to fix it.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        ConfigError {
            message: message.into(),
            source: None,
        }
    }

    /// The same mistake, revealed by `source`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What is wrong and how to fix it, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError::new(message)
    }
}

impl From<&'static str> for ConfigError {
    fn from(message: &'static str) -> Self {
        ConfigError::new(message)
    }
}

/// An error and its causes, displayed on one line as
/// `message: cause: cause`; see [`Error::report`].
///
/// A cause whose message the error before it already ends with (client
/// libraries that print their source in their own message) is not printed
/// twice.
#[derive(Clone, Copy)]
pub struct Report<'a>(&'a (dyn StdError + 'static));

impl<'a> Report<'a> {
    /// The report of `error`: any error, memocache's or another's.
    pub fn new(error: &'a (dyn StdError + 'static)) -> Self {
        Report(error)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let message = error.to_string();
            if !said.ends_with(&message) {
                write!(f, ": {message}")?;
            }
            said = message;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The result type of memocache's fallible operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// An underlying error: its message, and the error under it, if any.
    #[derive(Debug)]
    struct Cause(&'static str, Option<Box<Cause>>);

    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Cause {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1
                .as_deref()
                .map(|under| under as &(dyn StdError + 'static))
        }
    }

    /// A [`Cause`] with nothing under it.
    fn cause(message: &'static str) -> Cause {
        Cause(message, None)
    }

    /// `error`'s source is a [`Cause`] saying `cause`, and its message does
    /// not repeat it.
    fn assert_caused_by(error: &Error, cause: &str) {
        let source = error.source().expect("a source");
        assert_eq!(
            source.downcast_ref::<Cause>().map(|c| c.0),
            Some(cause),
            "{error:?}"
        );
        assert!(!error.to_string().contains(cause), "{error}");
        assert_eq!(error.report().to_string(), format!("{error}: {cause}"));
    }

    #[test]
    fn every_variant_with_a_cause_keeps_it_as_source() {
        let text = "the underlying failure";
        let boxed = || Box::new(cause(text));
        assert_caused_by(&Error::Encode(boxed()), text);
        assert_caused_by(&Error::Decode(boxed()), text);
        assert_caused_by(
            &Error::Compress {
                compression: "zstd",
                source: boxed(),
            },
            text,
        );
        assert_caused_by(
            &Error::Decompress {
                compression: "zlib",
                source: boxed(),
            },
            text,
        );
        let backend = Error::backend("redis", cause(text));
        assert_eq!(backend.to_string(), "redis backend error");
        assert_caused_by(&backend, text);
        let config = Error::config_with_source("set a valid url", cause(text));
        assert_eq!(config.to_string(), "invalid configuration: set a valid url");
        assert_caused_by(&config, text);
    }

    #[test]
    fn a_config_error_keeps_its_fix_and_may_have_no_cause() {
        let error = Error::config("max_connections must be at least 1");
        assert!(error.source().is_none());
        assert_eq!(
            error.report().to_string(),
            "invalid configuration: max_connections must be at least 1"
        );
        let Error::Config(config) = &error else {
            unreachable!()
        };
        assert_eq!(config.message(), "max_connections must be at least 1");
        let from_text: Error = ConfigError::from("fix it").into();
        assert!(matches!(from_text, Error::Config(c) if c.message() == "fix it"));
    }

    #[test]
    fn errors_without_a_cause_have_no_source() {
        let timeout = Error::Timeout(std::time::Duration::from_millis(5));
        assert!(timeout.source().is_none());
        assert_eq!(timeout.report().to_string(), timeout.to_string());
        assert!(Error::TooLarge { limit: 1 }.source().is_none());
    }

    #[test]
    fn a_report_walks_the_whole_chain() {
        let refused = || Some(Box::new(cause("connection refused")));
        let error = Error::backend("fred", Cause("cannot connect to h:1", refused()));
        assert_eq!(
            error.report().to_string(),
            "fred backend error: cannot connect to h:1: connection refused"
        );
        // A client that prints its source in its own message.
        let verbose = Error::backend("redis", Cause("I/O error: connection refused", refused()));
        assert_eq!(
            verbose.report().to_string(),
            "redis backend error: I/O error: connection refused"
        );
    }
}
