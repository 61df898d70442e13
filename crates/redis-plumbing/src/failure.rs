//! How a failed command or connection becomes a [`memocache_core::Error`],
//! and when a command is sent once more: the same rules for both clients.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use memocache_core::{BoxError, Error, Result};

/// The error of a failed command: one that did not get its reply within
/// `limit` is [`Error::Timeout`], so memoizers count it as one on every
/// client; any other is the backend's error.
pub fn command_error(
    backend: &'static str,
    error: impl Into<BoxError>,
    timed_out: bool,
    limit: Duration,
) -> Error {
    if timed_out {
        Error::Timeout(limit)
    } else {
        Error::backend(backend, error)
    }
}

/// A connection to a server that could not be made or was lost: names the
/// server (never a password) and, when the client can tell, what was wrong
/// (a certificate problem, say); the client's error is the source.
#[derive(Debug)]
pub struct ConnectError {
    server: String,
    problem: Option<&'static str>,
    source: BoxError,
}

impl ConnectError {
    /// `server` (as the store names it: `host:port`, `over TLS` when it is)
    /// could not be reached; `source` is the client's error.
    pub fn new(server: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ConnectError {
            server: server.into(),
            problem: None,
            source: source.into(),
        }
    }

    /// What was wrong, in words a user acts on, if the client could tell.
    #[must_use]
    pub fn problem(mut self, problem: Option<&'static str>) -> Self {
        self.problem = problem;
        self
    }

    /// The [`Error`] of `backend`'s store, with this as its cause.
    pub fn into_error(self, backend: &'static str) -> Error {
        Error::backend(backend, self)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.server)?;
        match self.problem {
            Some(problem) => write!(f, ": {problem}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Sends a command with `send`, once more if it timed out and
/// `retry_on_timeout` is on (a retry doubles the wait on a sick server, so
/// it is off by default). A blocking client's `send` completes when first
/// polled; drive it with [`memocache_core::block_on`].
pub async fn send_retrying<T, F, Fut>(retry_on_timeout: bool, mut send: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    match send().await {
        Err(Error::Timeout(_)) if retry_on_timeout => send().await,
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::error::Error as _;

    #[test]
    fn a_connect_error_names_the_server_and_the_problem_and_keeps_its_cause() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = ConnectError::new("cache.internal:6380 over TLS", refused)
            .problem(Some("the server's certificate is not trusted"));
        assert_eq!(
            error.to_string(),
            "cannot connect to cache.internal:6380 over TLS: the server's certificate is not \
             trusted"
        );
        assert_eq!(error.source().expect("a cause").to_string(), "refused");
        let plain = ConnectError::new("127.0.0.1:6379", std::io::Error::other("reset"));
        assert_eq!(plain.to_string(), "cannot connect to 127.0.0.1:6379");
        let error = plain.into_error("fred");
        assert!(error.report().to_string().contains("reset"), "{error:?}");
    }

    fn attempts(retry: bool, first: Error) -> (usize, Result<u8>) {
        let tries = Cell::new(0);
        let mut first = Some(first);
        let result = memocache_core::block_on(send_retrying(retry, || {
            tries.set(tries.get() + 1);
            let answer = first.take().map_or(Ok(7), Err);
            async move { answer }
        }));
        (tries.get(), result)
    }

    #[test]
    fn a_timeout_is_sent_again_only_when_retries_are_on() {
        let timeout = || Error::Timeout(Duration::from_millis(5));
        assert!(matches!(attempts(true, timeout()), (2, Ok(7))));
        assert!(matches!(
            attempts(false, timeout()),
            (1, Err(Error::Timeout(_)))
        ));
    }

    #[test]
    fn other_failures_are_not_sent_again() {
        let refused = Error::backend("redis", "connection refused");
        assert!(matches!(
            attempts(true, refused),
            (1, Err(Error::Backend { .. }))
        ));
    }

    #[test]
    fn a_timed_out_command_is_a_timeout_with_the_limit() {
        let limit = Duration::from_millis(200);
        assert!(matches!(
            command_error("fred", "timed out", true, limit),
            Error::Timeout(l) if l == limit
        ));
        assert!(matches!(
            command_error("fred", "refused", false, limit),
            Error::Backend {
                backend: "fred",
                ..
            }
        ));
    }
}
