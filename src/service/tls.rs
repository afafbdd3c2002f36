//! TLS client configuration shared by IMAP and SMTP: the public web roots, the system's
//! roots, and an optional private CA file named in the config.
//!
//! Invariant: certificates are always verified; there is no "accept invalid" switch.
//! Plaintext exists only as `tls = "none"`, chosen explicitly by the operator.

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the CA file {0} holds no certificate")]
    EmptyCa(String),
}

/// The PEM certificates of a CA file.
pub fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::EmptyCa(path.display().to_string()));
    }
    Ok(certs)
}

/// The system's CA certificates, read once per process (a blocking read of many files:
/// the daemon calls this first on the blocking pool). What cannot be read or parsed is
/// said once, in the log, instead of being skipped silently.
pub fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            // The system store may be absent (minimal containers); the web roots apply.
            tracing::warn!(error = %e, "part of the system's CA store could not be read");
        }
        let (_, unusable) =
            RootCertStore::empty().add_parsable_certificates(found.certs.iter().cloned());
        if unusable > 0 {
            tracing::warn!(
                unusable,
                "some certificates of the system's CA store cannot be used and are left out"
            );
        }
        found.certs
    })
}

/// A rustls client configuration trusting the web roots, the system roots and `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Those rustls cannot use were named once, when the store was read.
    roots.add_parsable_certificates(native_roots().iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_ca(path)? {
            if let Err(e) = roots.add(cert) {
                tracing::warn!(file = %path.display(), error = %e, "a certificate of the CA file cannot be used");
            }
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
