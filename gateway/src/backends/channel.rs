//! Dialling a backend service: one lazily-connected, clonable gRPC channel
//! per service, over whichever wire its endpoint names — HTTP/2 on TCP or a
//! Unix socket (`http2`, straight over h2), or HTTP/3 on QUIC (tonic-h3 over
//! quinn, TLS 1.3 against the CA configured for that service, optional
//! client certificate). Both look the same to the generated gRPC client.
//! Behind one channel, each HTTP front thread has connections of its own
//! (`lanes`).

use std::net::IpAddr;

mod http2;
mod http2_call;
mod lanes;

use http::uri::Authority;
use micromcp_proto::mcp_service_client::McpServiceClient;
use micromcp_proto::quic::{self, ClientTls};
use tonic::body::Body;
use tonic::transport::Uri;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use self::http2::{Http2Channel, Target};
use self::lanes::PerLane;
pub use self::lanes::pin_thread_to_lane;
use crate::config::Endpoint;
use crate::error::GatewayError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A transport failure of a [`BackendChannel`] (a concrete type: a boxed
/// trait object here trips the compiler's higher-ranked `Send` checks).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChannelError(#[source] BoxError);

/// A gRPC channel to one service, whatever its wire.
pub type BackendChannel =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, ChannelError>;

/// The generated client over a [`BackendChannel`].
pub type BackendClient = McpServiceClient<BackendChannel>;

/// A lazily-connected channel for `endpoint`; nothing is dialled yet.
pub fn channel_for(endpoint: &Endpoint) -> Result<BackendChannel, GatewayError> {
    match endpoint {
        Endpoint::Tcp(url) => {
            let uri: Uri = url
                .parse()
                .map_err(|error| GatewayError::Internal(format!("endpoint {url}: {error}")))?;
            let authority = uri
                .authority()
                .cloned()
                .ok_or_else(|| GatewayError::Internal(format!("endpoint {url}: no host")))?;
            let address = format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            );
            Ok(BoxCloneSyncService::new(Http2Channel::new(
                Target::Tcp(address),
                authority,
            )))
        }
        Endpoint::Unix(path) => Ok(BoxCloneSyncService::new(Http2Channel::new(
            Target::Unix(path.clone()),
            Authority::from_static("localhost"),
        ))),
        Endpoint::Quic { authority, tls } => {
            // Built once now so a bad endpoint fails at start; front threads
            // build their own on first use.
            let shared = quic_channel(authority, tls)?;
            let (authority, tls) = (authority.clone(), tls.clone());
            Ok(BoxCloneSyncService::new(PerLane::new(
                shared,
                std::sync::Arc::new(move || quic_channel(&authority, &tls)),
            )))
        }
    }
}

/// gRPC over HTTP/3: connects (and reconnects) on demand; every call is
/// one QUIC stream on the shared connection.
fn quic_channel(authority: &str, tls: &ClientTls) -> Result<BackendChannel, GatewayError> {
    let uri: Uri = format!("https://{authority}")
        .parse()
        .map_err(|error| GatewayError::Internal(format!("endpoint quic://{authority}: {error}")))?;
    let endpoint = client_endpoint(authority, tls)?;
    let connector =
        tonic_h3::quinn::H3QuinnConnector::new(uri.clone(), tls.server_name.clone(), endpoint);
    let channel = tonic_h3::H3Channel::new(connector, uri, None);
    Ok(BoxCloneSyncService::new(
        channel
            .map_response(|response| response.map(Body::new))
            .map_err(ChannelError),
    ))
}

/// A client endpoint of the family the service's host needs: an IP literal
/// decides; a DNS name gets a dual-stack socket where the host has IPv6.
fn client_endpoint(authority: &str, tls: &ClientTls) -> Result<quinn::Endpoint, GatewayError> {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let failed =
        |error: quic::QuicError| GatewayError::Internal(format!("quic://{authority}: {error}"));
    match host.parse::<IpAddr>() {
        Ok(address) => quic::client_endpoint(address.is_ipv6(), tls).map_err(failed),
        Err(_) => quic::client_endpoint(true, tls)
            .or_else(|_| quic::client_endpoint(false, tls))
            .map_err(failed),
    }
}
