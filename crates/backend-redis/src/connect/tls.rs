//! TLS on rustls and ring (the `tls` feature): the CA certificate
//! check, the certificates redis-rs is given, the crypto provider.

use memocache_core::{Error, Result};
use redis::cluster::ClusterClientBuilder;
use redis::{TlsCertificates, TlsMode};

/// `builder` connecting over TLS, trusting `root_cert`'s CA or else
/// the system's roots.
pub(super) fn secure_cluster(
    builder: ClusterClientBuilder,
    root_cert: Option<Vec<u8>>,
) -> Result<ClusterClientBuilder> {
    install_crypto_provider();
    let builder = builder.tls(TlsMode::Secure);
    match root_cert {
        Some(root_cert) => {
            check_pem(&root_cert)?;
            Ok(builder.certs(certificates(root_cert)))
        }
        None => Ok(builder),
    }
}

/// The certificates that trust `root_cert`'s CA (PEM).
pub(super) fn certificates(root_cert: Vec<u8>) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(root_cert),
    }
}

/// Checks that a CA's PEM holds certificates, and only well-formed ones.
pub(super) fn check_pem(pem: &[u8]) -> Result<()> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    let mut certificates = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        certificate.map_err(|e| {
            Error::config_with_source(
                "the CA certificate is not valid PEM; give the CA's `-----BEGIN CERTIFICATE-----` file",
                e,
            )
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(Error::config(
            "the CA certificate holds no certificate; give the CA's `-----BEGIN CERTIFICATE-----` PEM file",
        ));
    }
    Ok(())
}

/// Makes ring rustls' process-wide crypto provider unless one is set, so
/// TLS works even when other crates enable a second provider (rustls
/// refuses to guess then).
pub(super) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_pem_that_does_not_parse_keeps_the_parser_error() {
        let pem = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let error = check_pem(pem).unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert!(error.to_string().contains("BEGIN CERTIFICATE"), "{error}");
        let source = error.source().expect("the PEM parser's error");
        assert!(!error.to_string().contains(&source.to_string()), "{error}");
    }
}
