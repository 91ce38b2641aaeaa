//! The QUIC wire of micromcp.v1: the same gRPC messages carried over HTTP/3
//! (one QUIC stream per call, ALPN `h3`, TLS 1.3 with the ring provider).
//! Owns how both ends load their PEM certificates and keys, the TLS and
//! QUIC transport settings they share, and building their quinn endpoints:
//! a service's server endpoint (optionally requiring client certificates,
//! i.e. mTLS) and the gateway's client endpoint that trusts only the CA
//! configured for that service. The same TLS 1.3 settings, with ALPN `h2`,
//! protect gRPC over HTTP/2 on TCP (`tcp_server_config`, `tcp_client_config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// ALPN protocol both ends negotiate (gRPC over HTTP/3).
pub const ALPN: &[u8] = b"h3";
/// A connection with no traffic for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The gateway pings idle connections this often so they stay open.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Why a QUIC endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in the file", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key in the file ({detail})", path.display())]
    NoKey { path: PathBuf, detail: String },
    #[error("{}: CA certificate rejected: {detail}", path.display())]
    BadCa { path: PathBuf, detail: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    #[error("QUIC configuration: {0}")]
    Config(String),
    #[error("QUIC endpoint on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// What a service presents, and whom it accepts, on its QUIC listener.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// PEM certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key of the leaf.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate issued by this CA.
    pub client_ca_file: Option<PathBuf>,
}

/// Whom the gateway trusts, and what it presents, when dialling a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA certificate(s) the service's certificate must chain to.
    pub ca_file: PathBuf,
    /// Name the service's certificate must be valid for.
    pub server_name: String,
    /// Client certificate and key for services that require mTLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Reads every certificate in a PEM file.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, QuicError> {
    let pem = read(path)?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certificates.is_empty() {
        return Err(QuicError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, QuicError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| QuicError::NoKey {
        path: path.to_owned(),
        detail: error.to_string(),
    })
}

/// Trust anchors from a PEM file of CA certificates.
pub fn load_roots(path: &Path) -> Result<RootCertStore, QuicError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(path)? {
        roots.add(certificate).map_err(|error| QuicError::BadCa {
            path: path.to_owned(),
            detail: error.to_string(),
        })?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, QuicError> {
    std::fs::read(path).map_err(|source| QuicError::Read {
        path: path.to_owned(),
        source,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn transport(max_concurrent_streams: u32) -> Result<Arc<quinn::TransportConfig>, QuicError> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(max_concurrent_streams))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .map_err(|error| QuicError::Config(format!("idle timeout: {error}")))?,
        ));
    Ok(Arc::new(transport))
}

/// TLS 1.3 for a service: its certificate, and the client CA it requires
/// (mTLS) when one is set.
fn server_crypto(tls: &ServerTls) -> Result<rustls::ServerConfig, QuicError> {
    let chain = load_certificates(&tls.cert_file)?;
    let key = load_private_key(&tls.key_file)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match &tls.client_ca_file {
        Some(ca_file) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(load_roots(ca_file)?),
                provider(),
            )
            .build()
            .map_err(|error| QuicError::Verifier(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(chain, key)?)
}

/// TLS 1.3 for the gateway dialling a service: the CA it trusts, and its
/// own certificate when the service requires one (mTLS).
fn client_crypto(tls: &ClientTls) -> Result<rustls::ClientConfig, QuicError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(load_roots(&tls.ca_file)?);
    Ok(match &tls.identity {
        Some((cert_file, key_file)) => builder
            .with_client_auth_cert(load_certificates(cert_file)?, load_private_key(key_file)?)?,
        None => builder.with_no_client_auth(),
    })
}

/// ALPN of gRPC over HTTP/2 on a TLS-protected TCP connection.
pub const ALPN_H2: &[u8] = b"h2";

/// A service's TLS settings for gRPC over HTTP/2 on TCP (`--tls-listen`).
pub fn tcp_server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, QuicError> {
    let mut crypto = server_crypto(tls)?;
    crypto.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(crypto))
}

/// The gateway's TLS settings for dialling an `https://` endpoint.
pub fn tcp_client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, QuicError> {
    let mut crypto = client_crypto(tls)?;
    crypto.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(crypto))
}

/// A service's QUIC endpoint bound to `address`; at most
/// `max_concurrent_streams` calls in flight per connection.
pub fn server_endpoint(
    address: SocketAddr,
    tls: &ServerTls,
    max_concurrent_streams: u32,
) -> Result<quinn::Endpoint, QuicError> {
    let mut crypto = server_crypto(tls)?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    crypto.max_early_data_size = 0;
    let crypto =
        QuicServerConfig::try_from(crypto).map_err(|error| QuicError::Config(error.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(max_concurrent_streams)?);
    quinn::Endpoint::server(config, address).map_err(|source| QuicError::Bind { address, source })
}

/// The gateway's QUIC endpoint for dialling one service, bound to an
/// unspecified local address of the family the service needs (`ipv6`).
pub fn client_endpoint(ipv6: bool, tls: &ClientTls) -> Result<quinn::Endpoint, QuicError> {
    let mut crypto = client_crypto(tls)?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    let crypto =
        QuicClientConfig::try_from(crypto).map_err(|error| QuicError::Config(error.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(1024)?);
    let local: SocketAddr = if ipv6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(local).map_err(|source| QuicError::Bind {
        address: local,
        source,
    })?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}
