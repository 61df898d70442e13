//! How a failed command becomes a [`memocache_core::Error`], and when it is
//! sent once more: the same rules for both clients.

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
