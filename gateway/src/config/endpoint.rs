//! A service's endpoint: `unix:/path`, `http://host:port` or
//! `quic://host:port`, and the TLS files a `quic://` endpoint needs
//! (checked by loading them, so a bad file is reported at start).

use std::path::PathBuf;

use micromcp_proto::quic::{self, ClientTls};

use super::RawService;

/// Where a service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:/path/to.sock`
    Unix(PathBuf),
    /// `http://host:port`
    Tcp(String),
    /// `quic://host:port`: the same gRPC over HTTP/3, with TLS settings.
    Quic {
        /// `host:port`, resolved when dialling.
        authority: String,
        tls: ClientTls,
    },
}

pub(super) fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("unix: needs a socket path".into());
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = text.strip_prefix("http://") {
        if rest.is_empty() || rest.contains('/') && !rest.ends_with('/') {
            return Err("expected http://host:port".into());
        }
        return Ok(Endpoint::Tcp(text.trim_end_matches('/').to_owned()));
    }
    if let Some(rest) = text.strip_prefix("quic://") {
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err("expected quic://host:port".into());
        }
        return Ok(Endpoint::Quic {
            authority: authority.to_owned(),
            tls: ClientTls {
                ca_file: PathBuf::new(),
                server_name: String::new(),
                identity: None,
            },
        });
    }
    Err("expected unix:/path, http://host:port or quic://host:port".into())
}

/// Fills in (and checks, by loading the files) the TLS settings of a
/// `quic://` endpoint; other endpoints must not carry any.
pub(super) fn resolve_tls(
    key: &str,
    raw: &RawService,
    endpoint: &mut Endpoint,
    errors: &mut Vec<String>,
) {
    let Endpoint::Quic { authority, tls } = endpoint else {
        for (field, given) in [
            ("tls_ca", raw.tls_ca.is_some()),
            ("tls_server_name", raw.tls_server_name.is_some()),
            ("tls_client_cert", raw.tls_client_cert.is_some()),
            ("tls_client_key", raw.tls_client_key.is_some()),
        ] {
            if given {
                errors.push(format!("{key}.{field}: only for quic:// endpoints"));
            }
        }
        return;
    };
    match &raw.tls_ca {
        None => errors.push(format!(
            "{key}.tls_ca: required for a quic:// endpoint (PEM CA of the service's certificate; `micromcp tls-cert` makes one)"
        )),
        Some(path) => match quic::load_roots(path) {
            Ok(_) => tls.ca_file = path.clone(),
            Err(error) => errors.push(format!("{key}.tls_ca: {error}")),
        },
    }
    tls.server_name = raw.tls_server_name.clone().unwrap_or_else(|| {
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    match (&raw.tls_client_cert, &raw.tls_client_key) {
        (None, None) => {}
        (Some(cert_file), Some(key_file)) => {
            if let Err(error) = quic::load_certificates(cert_file) {
                errors.push(format!("{key}.tls_client_cert: {error}"));
            }
            if let Err(error) = quic::load_private_key(key_file) {
                errors.push(format!("{key}.tls_client_key: {error}"));
            }
            tls.identity = Some((cert_file.clone(), key_file.clone()));
        }
        (Some(_), None) => errors.push(format!(
            "{key}.tls_client_key: required with tls_client_cert"
        )),
        (None, Some(_)) => errors.push(format!(
            "{key}.tls_client_cert: required with tls_client_key"
        )),
    }
}
