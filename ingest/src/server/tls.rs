//! RTMPS: rustls server configuration with a certificate resolver that reloads the certificate and key
//! files when they change (checked every 2 s) and sees the SNI name of each handshake. Without a
//! configured certificate a self-signed development one is generated once (rcgen) and reused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ring provider, named explicitly: this build links more than one rustls backend.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process's default rustls provider (both ring and aws-lc are linked, so
/// rustls cannot choose by itself); the ingest's own configs name `provider()` explicitly, this
/// covers any other rustls user in the process. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificate in use, replaced in place on reload.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // One certificate for every name today; the SNI name is where per-name selection goes.
        let _sni = hello.server_name();
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(
        cert_path,
    )?))
    .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        cert_path.display()
    );
    let key =
        rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(key_path)?))?
            .ok_or_else(|| anyhow::anyhow!("{} holds no private key", key_path.display()))?;
    let signing = provider.key_provider.load_private_key(key)?;
    let ck = CertifiedKey::new(certs, signing);
    // A key that does not belong to the certificate would make every handshake fail later.
    ck.keys_match().map_err(|e| {
        anyhow::anyhow!(
            "{} and {} do not belong together: {e}",
            cert_path.display(),
            key_path.display()
        )
    })?;
    Ok(Arc::new(ck))
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl ReloadingCert {
    pub fn open(cert_path: PathBuf, key_path: PathBuf) -> anyhow::Result<Arc<ReloadingCert>> {
        let ck = load(&cert_path, &key_path, &provider())?;
        Ok(Arc::new(ReloadingCert {
            current: RwLock::new(ck),
            cert_path,
            key_path,
        }))
    }

    /// Polls the files and swaps the certificate when they change; a broken new file keeps the old one.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let provider = provider();
            let mut seen = (modified(&me.cert_path), modified(&me.key_path));
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let now = (modified(&me.cert_path), modified(&me.key_path));
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&me.cert_path, &me.key_path, &provider) {
                    Ok(ck) => {
                        *me.current.write().unwrap_or_else(|p| p.into_inner()) = ck;
                        tracing::info!(cert = %me.cert_path.display(), "RTMPS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "RTMPS certificate changed but does not load; keeping the old one")
                    }
                }
            }
        })
    }
}

/// The certificate and key files to use: the configured ones, or a development pair generated once
/// under `dev_dir`.
pub fn cert_files(
    cert: Option<&Path>,
    key: Option<&Path>,
    dev_dir: &Path,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(c), Some(k)) = (cert, key) {
        return Ok((c.to_path_buf(), k.to_path_buf()));
    }
    anyhow::ensure!(
        cert.is_none() && key.is_none(),
        "set both INLET_TLS_CERT and INLET_TLS_KEY, or neither"
    );
    let (c, k) = (dev_dir.join("dev-cert.pem"), dev_dir.join("dev-key.pem"));
    if !(c.exists() && k.exists()) {
        std::fs::create_dir_all(dev_dir)?;
        let generated = rcgen::generate_simple_self_signed(vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ])?;
        std::fs::write(&c, generated.cert.pem())?;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&k)?;
        f.write_all(generated.key_pair.serialize_pem().as_bytes())?;
        tracing::info!(cert = %c.display(), "generated a self-signed development certificate for RTMPS");
    }
    Ok((c, k))
}

/// A rustls server configuration (TLS 1.2 and 1.3) serving the resolver's certificate.
pub fn server_config(resolver: Arc<ReloadingCert>) -> anyhow::Result<Arc<ServerConfig>> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Ok(Arc::new(config))
}

/// Why a TLS handshake failed, for the close-reason metric and a log line an operator can act on:
/// the client refused our certificate (`tls_bad_certificate`: OBS ignores IP addresses in
/// certificates, so `rtmps://` needs a name the certificate carries, and a self-signed one must be
/// trusted), the client did not speak TLS at all (`tls_not_tls`: an `rtmp://` URL on the RTMPS
/// port), or anything else (`tls_error`).
pub fn classify_failure(e: &std::io::Error) -> (&'static str, &'static str) {
    use rustls::AlertDescription as A;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::UnsupportedCertificate
            | A::AccessDenied,
        )) => (
            "tls_bad_certificate",
            "the client refused this server's certificate: the rtmps:// host must be a name the certificate carries (OBS ignores IP addresses in certificates), and a self-signed certificate must be trusted by the client (docs/troubleshooting.md)",
        ),
        Some(rustls::Error::InvalidMessage(_)) => (
            "tls_not_tls",
            "the client did not speak TLS: an rtmp:// URL on the rtmps:// port?",
        ),
        _ => ("tls_error", "see the error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn a_refused_certificate_is_told_apart_from_a_plain_rtmp_client() {
        let refused = io(rustls::Error::AlertReceived(
            rustls::AlertDescription::UnknownCA,
        ));
        assert_eq!(classify_failure(&refused).0, "tls_bad_certificate");
        let bad = io(rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate,
        ));
        assert_eq!(classify_failure(&bad).0, "tls_bad_certificate");
        let plain = io(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(classify_failure(&plain).0, "tls_not_tls");
        let other = std::io::Error::other("reset");
        assert_eq!(classify_failure(&other).0, "tls_error");
    }
}
