//! TLS is an opt-in feature of both Redis stores (`tls`, which pulls in
//! rustls and its crypto): a `rediss://` url given to a store built
//! without it is a config error that says how to turn it on, never a
//! plain-text connection to a TLS port.

use memocache_core::{Error, Result};

/// Refuses `url` when it asks for TLS (`rediss://`) and the store was
/// built without TLS; a store passes `cfg!(feature = "tls")` as
/// `built_with_tls`.
///
/// # Errors
///
/// [`Error::Config`] naming the `tls` feature.
pub fn require_tls_support(url: &str, built_with_tls: bool) -> Result<()> {
    if built_with_tls || !url.starts_with("rediss://") {
        return Ok(());
    }
    Err(Error::config(
        "TLS (rediss://, ssl(true)) needs memocache's `tls` feature: \
         add it with `cargo add memocache --features tls`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_url_without_tls_support_is_a_config_error_naming_the_feature() {
        let error = require_tls_support("rediss://cache:6380/0", false).unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("`tls` feature"), "{message}");
        assert!(
            message.contains("cargo add memocache --features tls"),
            "{message}"
        );
    }

    #[test]
    fn plain_urls_and_stores_built_with_tls_pass() {
        require_tls_support("redis://cache:6379/0", false).unwrap();
        require_tls_support("rediss://cache:6380/0", true).unwrap();
        require_tls_support("redis://cache:6379/0", true).unwrap();
    }
}
