//! Optional TLS on client connections, as RocketMQ's `tls.server.mode`:
//! `disabled` (plain only), `permissive` (TLS or plain, told apart by the
//! first byte a client sends: a TLS handshake record starts with 0x16, a
//! remoting frame with the high byte of its length, which is 0 for any
//! frame under 16 MiB), `enforcing` (TLS only). rustls does the TLS; the
//! certificate chain and key are PEM files.
//!
//! A TLS connection gives up zero-copy: file ranges are read and
//! encrypted like any other reply bytes.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The first byte of a TLS handshake record (`ContentType::handshake`).
pub const TLS_HANDSHAKE_FIRST_BYTE: u8 = 0x16;

/// RocketMQ's `TlsMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain connections only; TLS is never negotiated.
    #[default]
    Disabled,
    /// TLS or plain, chosen per connection by its first byte.
    Permissive,
    /// TLS only; a connection that does not start a TLS handshake is refused.
    Enforcing,
}

impl TlsMode {
    /// The mode named by `text` (`disabled`, `permissive` or `enforcing`, any
    /// case, surrounding whitespace ignored); `None` for anything else.
    pub fn parse(text: &str) -> Option<TlsMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "disabled" => Some(TlsMode::Disabled),
            "permissive" => Some(TlsMode::Permissive),
            "enforcing" => Some(TlsMode::Enforcing),
            _ => None,
        }
    }

    /// The lower-case name [`TlsMode::parse`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Permissive => "permissive",
            TlsMode::Enforcing => "enforcing",
        }
    }
}

/// Why TLS could not be set up from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file could not be read, is not PEM, holds no
    /// certificate, or (client side) holds one rustls cannot trust.
    #[error("reading the certificate chain {path}: {reason}")]
    Certificates {
        /// Path of the certificate file.
        path: String,
        /// What went wrong, for logs.
        reason: String,
    },
    /// The private key file could not be read or holds no PEM private key.
    #[error("reading the private key {path}: {reason}")]
    Key {
        /// Path of the key file.
        path: String,
        /// What went wrong, for logs.
        reason: String,
    },
    /// rustls refused the configuration, for example a key that does not
    /// match the certificate; the text is rustls's reason.
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
}

/// A server's TLS: its mode and, unless disabled, its rustls config.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// How connections are admitted.
    pub mode: TlsMode,
    /// The rustls config; `None` when the mode is [`TlsMode::Disabled`].
    pub config: Option<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
    /// No TLS: every connection is served plain.
    pub fn disabled() -> ServerTls {
        ServerTls {
            mode: TlsMode::Disabled,
            config: None,
        }
    }

    /// Loads the PEM certificate chain and private key for `mode`.
    pub fn load(
        mode: TlsMode,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<ServerTls, TlsSetupError> {
        if mode == TlsMode::Disabled {
            return Ok(ServerTls::disabled());
        }
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .and_then(|certs| certs.collect())
            .map_err(|e| TlsSetupError::Certificates {
                path: cert_path.display().to_string(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsSetupError::Certificates {
                path: cert_path.display().to_string(),
                reason: "no certificate in the file".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsSetupError::Key {
            path: key_path.display().to_string(),
            reason: e.to_string(),
        })?;
        // The provider is named: with both of rustls' providers compiled in
        // (other crates may enable `ring`), `builder()` would not pick one.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        Ok(ServerTls {
            mode,
            config: Some(Arc::new(config)),
        })
    }

    /// What to do with a connection whose first byte is `first`.
    pub fn decide(&self, first: u8) -> Admission {
        let tls = first == TLS_HANDSHAKE_FIRST_BYTE;
        match (self.mode, tls, &self.config) {
            (TlsMode::Disabled, _, _) | (TlsMode::Permissive, false, _) => Admission::Plain,
            (_, true, Some(config)) => Admission::Tls(config.clone()),
            (TlsMode::Enforcing, false, _) => Admission::Refuse,
            (_, true, None) => Admission::Refuse,
        }
    }
}

/// A client's TLS: the certificates it trusts (a PEM file holding the
/// broker's own self-signed certificate or the CA that issued it). The name
/// checked against the certificate is the host of the address dialled, as
/// RocketMQ clients check it when `tls.client.authServer` is on.
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl ClientTls {
    /// Loads the trusted certificates from the PEM file at `trusted_path`;
    /// fails if it cannot be read or holds no usable certificate.
    pub fn load(trusted_path: &Path) -> Result<ClientTls, TlsSetupError> {
        let certs_err = |reason: String| TlsSetupError::Certificates {
            path: trusted_path.display().to_string(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(trusted_path)
            .and_then(|certs| certs.collect())
            .map_err(|e| certs_err(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| certs_err(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(certs_err("no certificate in the file".into()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// Runs the handshake over `stream`, connected to `addr` (`host:port`).
    pub async fn connect<S>(
        &self,
        addr: &str,
        stream: S,
    ) -> std::io::Result<futures_rustls::client::TlsStream<S>>
    where
        S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
    {
        futures_rustls::TlsConnector::from(self.config.clone())
            .connect(server_name(addr)?, stream)
            .await
    }

    /// A client session for a blocking stream to `addr` (`host:port`); the
    /// handshake runs with the first read or write.
    pub fn session(&self, addr: &str) -> std::io::Result<rustls::ClientConnection> {
        rustls::ClientConnection::new(self.config.clone(), server_name(addr)?)
            .map_err(std::io::Error::other)
    }
}

/// The name a server's certificate is checked against: the host of `addr`.
fn server_name(addr: &str) -> std::io::Result<rustls::pki_types::ServerName<'static>> {
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host} is not a name TLS can check: {e}"),
        )
    })
}

/// How a new connection is served.
#[derive(Debug)]
pub enum Admission {
    /// Serve the remoting protocol directly on the socket.
    Plain,
    /// Run a TLS handshake with this config, then serve over TLS.
    Tls(Arc<rustls::ServerConfig>),
    /// Close the connection without serving it.
    Refuse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_decide() {
        assert_eq!(TlsMode::parse("Permissive"), Some(TlsMode::Permissive));
        assert_eq!(TlsMode::parse("nope"), None);
        let disabled = ServerTls::disabled();
        assert!(matches!(
            disabled.decide(TLS_HANDSHAKE_FIRST_BYTE),
            Admission::Plain
        ));
        let enforcing = ServerTls {
            mode: TlsMode::Enforcing,
            config: None,
        };
        assert!(matches!(enforcing.decide(0), Admission::Refuse));
        assert!(matches!(
            enforcing.decide(TLS_HANDSHAKE_FIRST_BYTE),
            Admission::Refuse
        ));
    }

    #[test]
    fn missing_files_are_clear_errors() {
        let e = ServerTls::load(
            TlsMode::Permissive,
            Path::new("/nonexistent.pem"),
            Path::new("/x"),
        );
        assert!(matches!(e, Err(TlsSetupError::Certificates { .. })));
    }
}
