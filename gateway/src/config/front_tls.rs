//! `[gateway.tls]`: HTTPS on the client listener — the gateway's
//! certificate and key (`cert_file`, `key_file`), and optionally the CA
//! whose client certificates it accepts (`client_ca_file`, i.e. mTLS) with
//! `client_certificates = "required"` (the default with a CA: a client
//! without a valid certificate fails the handshake) or `"optional"` (a
//! client may still come with a bearer token alone). The rustls server
//! config is built here, at start, so an unreadable or mismatched file is
//! an error naming its key. TLS 1.2 and 1.3, ALPN h2 and http/1.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use micromcp_proto::quic::{load_certificates, load_private_key, load_roots};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;

/// `[gateway.tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFrontTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    pub client_certificates: Option<String>,
}

/// Whether clients present certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertificates {
    /// No certificates asked for (HTTPS only).
    NotAsked,
    /// Asked for; a client without one may still use a bearer token.
    Optional,
    /// A client without a valid certificate fails the handshake.
    Required,
}

/// The validated `[gateway.tls]`.
#[derive(Debug, Clone)]
pub struct FrontTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub client_certificates: ClientCertificates,
    /// Built from the files above at start.
    pub server_config: Arc<rustls::ServerConfig>,
}

impl PartialEq for FrontTls {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.cert_file,
            &self.key_file,
            &self.client_ca_file,
            self.client_certificates,
        ) == (
            &other.cert_file,
            &other.key_file,
            &other.client_ca_file,
            other.client_certificates,
        )
    }
}

/// Validates `[gateway.tls]` (absent: plain HTTP).
pub fn validate_front_tls(raw: Option<RawFrontTls>, errors: &mut Vec<String>) -> Option<FrontTls> {
    let raw = raw?;
    let (Some(cert_file), Some(key_file)) = (raw.cert_file, raw.key_file) else {
        errors.push(
            "gateway.tls: cert_file and key_file are both required (`micromcp tls-cert` makes a pair)"
                .into(),
        );
        return None;
    };
    let client_certificates = match (raw.client_certificates.as_deref(), &raw.client_ca_file) {
        (None | Some("required"), Some(_)) => ClientCertificates::Required,
        (Some("optional"), Some(_)) => ClientCertificates::Optional,
        (None, None) => ClientCertificates::NotAsked,
        (Some("required" | "optional"), None) => {
            errors.push(
                "gateway.tls.client_certificates: needs gateway.tls.client_ca_file (the CA client certificates must chain to)".into(),
            );
            return None;
        }
        (Some(other), _) => {
            errors.push(format!(
                "gateway.tls.client_certificates: {other:?} is not \"required\" or \"optional\""
            ));
            return None;
        }
    };
    let built = server_config(
        &cert_file,
        &key_file,
        raw.client_ca_file.as_ref(),
        client_certificates,
    )
    .map_err(|(key, error)| errors.push(format!("gateway.tls.{key}: {error}")))
    .ok()?;
    Some(FrontTls {
        cert_file,
        key_file,
        client_ca_file: raw.client_ca_file,
        client_certificates,
        server_config: built,
    })
}

/// The rustls config of the client listener; `Err` names the key at fault.
fn server_config(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&PathBuf>,
    client_certificates: ClientCertificates,
) -> Result<Arc<rustls::ServerConfig>, (&'static str, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = load_certificates(cert_file).map_err(|error| ("cert_file", error.to_string()))?;
    let key = load_private_key(key_file).map_err(|error| ("key_file", error.to_string()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ("cert_file", error.to_string()))?;
    let builder = match client_ca_file {
        Some(ca_file) => {
            let roots =
                load_roots(ca_file).map_err(|error| ("client_ca_file", error.to_string()))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match client_certificates {
                ClientCertificates::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|error| ("client_ca_file", error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| ("key_file", format!("does not match cert_file: {error}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_wrong_settings_are_named() {
        let mut errors = Vec::new();
        assert!(validate_front_tls(None, &mut errors).is_none() && errors.is_empty());
        let only_cert = RawFrontTls {
            cert_file: Some("cert.pem".into()),
            ..RawFrontTls::default()
        };
        assert!(validate_front_tls(Some(only_cert), &mut errors).is_none());
        assert!(
            errors[0].starts_with("gateway.tls: cert_file and key_file"),
            "{errors:?}"
        );
        let without_ca = RawFrontTls {
            cert_file: Some("cert.pem".into()),
            key_file: Some("key.pem".into()),
            client_certificates: Some("required".into()),
            ..RawFrontTls::default()
        };
        assert!(validate_front_tls(Some(without_ca), &mut errors).is_none());
        assert!(
            errors[1].starts_with("gateway.tls.client_certificates: needs"),
            "{errors:?}"
        );
        let missing_files = RawFrontTls {
            cert_file: Some("/nonexistent/cert.pem".into()),
            key_file: Some("/nonexistent/key.pem".into()),
            ..RawFrontTls::default()
        };
        assert!(validate_front_tls(Some(missing_files), &mut errors).is_none());
        assert!(
            errors[2].starts_with("gateway.tls.cert_file: /nonexistent/cert.pem"),
            "{errors:?}"
        );
        let odd_mode = RawFrontTls {
            cert_file: Some("cert.pem".into()),
            key_file: Some("key.pem".into()),
            client_ca_file: Some("ca.pem".into()),
            client_certificates: Some("sometimes".into()),
        };
        assert!(validate_front_tls(Some(odd_mode), &mut errors).is_none());
        assert!(errors[3].contains("\"sometimes\" is not"), "{errors:?}");
    }
}
