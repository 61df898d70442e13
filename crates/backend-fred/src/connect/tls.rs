//! TLS on rustls and ring (the `tls` feature): the connector fred is
//! given, trusting a custom CA or the system's roots.

use std::sync::Arc;

use fred::types::config::TlsConnector;
use memocache_core::{Error, Result};

/// A rustls connector on ring that trusts `ca_pem`'s certificates, or the
/// system's roots without one; verifies the server's certificate and name.
pub(super) fn connector(ca_pem: Option<Vec<u8>>) -> Result<TlsConnector> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                let certificate = certificate.map_err(|e| {
                    Error::config_with_source(
                        "the CA certificate is not valid PEM; give the CA's \
                         `-----BEGIN CERTIFICATE-----` file",
                        e,
                    )
                })?;
                roots.add(certificate).map_err(|e| {
                    Error::config_with_source("the CA certificate cannot be trusted", e)
                })?;
            }
            if roots.is_empty() {
                return Err(Error::config(
                    "the CA certificate holds no certificate; give the CA's \
                     `-----BEGIN CERTIFICATE-----` PEM file",
                ));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(Error::config(
                    "TLS is on but this system has no trusted root certificates: give the \
                     server's CA with ca_cert_file(...) or ca_cert_pem(...)",
                ));
            }
        }
    }
    // An explicit provider: no reliance on (or conflict with) a
    // process-wide default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config_with_source("cannot set up TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(tls))
}
