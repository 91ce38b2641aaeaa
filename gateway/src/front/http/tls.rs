//! HTTPS on the client listener (`[gateway.tls]`): the TLS handshake of an
//! accepted connection, bounded in time (it holds one of the connection
//! caps' places, so a flood of slow handshakes is bounded by the caps),
//! and the names of the client certificate the handshake verified —
//! subject alternative names and subject CN — which authentication maps to
//! a principal (`auth::Authenticator`).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::principal::ClientCertificate;

/// Completes the server side of the handshake within `within`; `None` when
/// it failed or took too long (the connection is dropped). The client
/// certificate comes back only when the client presented one, which the
/// verifier then checked against `client_ca_file`.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    within: Duration,
) -> Option<(TlsStream<TcpStream>, Option<Arc<ClientCertificate>>)> {
    let accepted = match tokio::time::timeout(within, acceptor.accept(stream)).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return None;
        }
    };
    let certificate = accepted
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[_]>::first)
        .map(|leaf| Arc::new(names(leaf)));
    Some((accepted, certificate))
}

/// The names of a DER certificate (none when it does not parse, which a
/// certificate the verifier accepted always does).
fn names(der: &[u8]) -> ClientCertificate {
    let Ok((_, certificate)) = X509Certificate::from_der(der) else {
        return ClientCertificate::default();
    };
    let subject_cn = certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut alternative_names = Vec::new();
    if let Ok(Some(extension)) = certificate.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(text)
                | GeneralName::URI(text)
                | GeneralName::RFC822Name(text) => alternative_names.push((*text).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(address) = ip_address(bytes) {
                        alternative_names.push(address.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    ClientCertificate {
        alternative_names,
        subject_cn,
    }
}

fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificates_names_are_its_sans_and_cn() {
        let mut params = rcgen::CertificateParams::new(vec![
            "agent.clients.example".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("params");
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://corp/agent".try_into().expect("uri"),
        ));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "build agent");
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = params.self_signed(&key).expect("certificate");
        let found = names(certificate.der());
        assert_eq!(found.subject_cn.as_deref(), Some("build agent"));
        assert_eq!(
            found.alternative_names,
            ["agent.clients.example", "127.0.0.1", "spiffe://corp/agent"]
        );
        assert_eq!(names(b"not a certificate"), ClientCertificate::default());
    }
}
