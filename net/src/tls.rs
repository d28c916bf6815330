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
    #[default]
    Disabled,
    Permissive,
    Enforcing,
}

impl TlsMode {
    pub fn parse(text: &str) -> Option<TlsMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "disabled" => Some(TlsMode::Disabled),
            "permissive" => Some(TlsMode::Permissive),
            "enforcing" => Some(TlsMode::Enforcing),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Permissive => "permissive",
            TlsMode::Enforcing => "enforcing",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("reading the certificate chain {path}: {reason}")]
    Certificates { path: String, reason: String },
    #[error("reading the private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
}

/// A server's TLS: its mode and, unless disabled, its rustls config.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub mode: TlsMode,
    pub config: Option<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
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

/// How a new connection is served.
#[derive(Debug)]
pub enum Admission {
    Plain,
    Tls(Arc<rustls::ServerConfig>),
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
