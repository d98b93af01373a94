//! Built-in TLS (`server.tls`): rustls with TLS 1.2 and 1.3 only, ECDHE key exchange with AEAD
//! ciphers only, HTTP/2 and HTTP/1.1 by ALPN (actix-web offers both), and a certificate that is
//! read again on SIGHUP or when its files change, served from the next handshake on. A reload
//! that fails (unreadable file, no certificate, a key that does not match) keeps serving the
//! previous certificate and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{self as provider, cipher_suite};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files' modification times are compared (besides SIGHUP).
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The suites offered: forward-secret key exchange and AEAD only (no CBC, no RSA key exchange).
const MODERN_SUITES: &[rustls::SupportedCipherSuite] = &[
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// A certificate or key that cannot be served; the message names the configuration key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path} (server.tls.{key}): {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} (server.tls.cert) holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} (server.tls.key): {problem}")]
    BadKey { path: PathBuf, problem: String },
    #[error("server.tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The served certificate and the files it comes from.
#[derive(Debug)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
}

/// The certificate handed to every new handshake.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(&key))
    }
}

impl ServerTls {
    /// Reads both files; an error names the file and the configuration key.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let certified = read_certified_key(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: Arc::new(Current(RwLock::new(Arc::new(certified)))),
        }))
    }

    /// The rustls configuration for the listener: TLS 1.3 and 1.2, the modern suites, the
    /// server's suite order, and the certificate of the moment.
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let provider = CryptoProvider {
            cipher_suites: MODERN_SUITES.to_vec(),
            ..provider::default_provider()
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.current.clone());
        config.ignore_client_order = true;
        Ok(config)
    }

    /// Reads the files again and serves them from the next handshake on.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read_certified_key(&self.cert, &self.key)?;
        let mut current = self
            .current
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(certified);
        Ok(())
    }

    /// Reloads on SIGHUP and whenever either file's modification time or size changes, for
    /// as long as the runtime runs.
    pub fn watch(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut hangups = hangup_signals();
            let mut tick = tokio::time::interval(WATCH_EVERY);
            let mut seen = this.stamps();
            loop {
                let signalled = tokio::select! {
                    () = next_hangup(&mut hangups) => true,
                    _ = tick.tick() => false,
                };
                let now = this.stamps();
                if !signalled && now == seen {
                    continue;
                }
                seen = now;
                match this.reload() {
                    Ok(()) => tracing::info!(signalled, "TLS certificate reloaded"),
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate not reloaded; serving the previous one");
                    }
                }
            }
        });
    }

    fn stamps(&self) -> [Option<(SystemTime, u64)>; 2] {
        let stamp = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        [stamp(&self.cert), stamp(&self.key)]
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files are still watched");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {
    None
}

async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(s) = hangups
        && s.recv().await.is_some()
    {
        return;
    }
    let _ = hangups;
    std::future::pending::<()>().await;
}

fn read_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |which, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key: which,
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read("cert", cert)?;
    let key_pem = read("key", key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let bad_key = |problem: String| TlsError::BadKey {
        path: key.to_owned(),
        problem,
    };
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad_key(format!("no usable PEM private key ({e})")))?;
    let signing = provider::default_provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| bad_key(format!("unsupported private key ({e})")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| bad_key(format!("does not match the certificate ({e})")))?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_certificate_file_is_named_with_its_configuration_key() {
        let err = ServerTls::load(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/nonexistent/key.pem"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("server.tls.cert"), "{msg}");
        assert!(msg.contains("/nonexistent/cert.pem"), "{msg}");
    }
}
