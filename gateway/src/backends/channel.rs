//! Dialling a backend service: one lazily-connected, clonable gRPC channel
//! per service, over whichever wire its endpoint names — HTTP/2 on TCP or a
//! Unix socket (`http2`, straight over h2), or HTTP/3 on QUIC (tonic-h3 over
//! quinn, TLS 1.3 against the CA configured for that service, optional
//! client certificate). Both look the same to the generated gRPC client.
//! Behind one channel, each HTTP front thread has connections of its own
//! (`lanes`).

use std::net::IpAddr;
use std::sync::Arc;

mod balance;
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

pub use self::balance::{BalanceSettings, EndpointState, Pool, spawn_upkeep};
use self::balance::{Balanced, Source, member::Wire};
use self::http2::{Http2Channel, Target};
use self::lanes::PerLane;
pub use self::lanes::pin_thread_to_lane;
use crate::config::{Endpoint, Endpoints};
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

/// A lazily-connected channel to service `service` at `endpoints`, and
/// the pool behind it when there are several; nothing is dialled yet.
pub fn channel_for_service(
    service: &str,
    endpoints: &Endpoints,
    settings: BalanceSettings,
) -> Result<(BackendChannel, Option<Arc<Pool>>), GatewayError> {
    let (source, members) = match endpoints {
        Endpoints::Fixed(list) if list.len() == 1 => return Ok((channel_for(&list[0])?, None)),
        Endpoints::Fixed(list) => {
            let members = list
                .iter()
                .map(|endpoint| Ok((address_of(endpoint), wire_for(endpoint)?)))
                .collect::<Result<Vec<_>, GatewayError>>()?;
            (Source::Fixed, members)
        }
        Endpoints::Dns { host, port } => (
            Source::Dns {
                host: host.clone(),
                port: *port,
            },
            Vec::new(),
        ),
    };
    let pool = Pool::new(service, source, settings, members);
    Ok((
        BoxCloneSyncService::new(Balanced::new(pool.clone())),
        Some(pool),
    ))
}

/// How a balanced pool reaches `endpoint`.
fn wire_for(endpoint: &Endpoint) -> Result<Wire, GatewayError> {
    Ok(match endpoint {
        Endpoint::Tcp(_) | Endpoint::Unix(_) | Endpoint::Tls { .. } => {
            Wire::Http2(http2_channel(endpoint)?)
        }
        Endpoint::Quic { .. } => Wire::Other(channel_for(endpoint)?),
    })
}

/// What operators see of `endpoint`.
fn address_of(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp(url) => url.trim_start_matches("http://").to_owned(),
        Endpoint::Unix(path) => format!("unix:{}", path.display()),
        Endpoint::Tls { authority, .. } => format!("https://{authority}"),
        Endpoint::Quic { authority, .. } => format!("quic://{authority}"),
    }
}

/// An HTTP/2 channel to a TCP or Unix-socket endpoint.
fn http2_channel(endpoint: &Endpoint) -> Result<Http2Channel, GatewayError> {
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
            Ok(Http2Channel::new(Target::Tcp(address), authority))
        }
        Endpoint::Unix(path) => Ok(Http2Channel::new(
            Target::Unix(path.clone()),
            Authority::from_static("localhost"),
        )),
        Endpoint::Tls { authority, tls } => {
            let config = micromcp_proto::quic::tcp_client_config(tls)
                .map_err(|error| GatewayError::Internal(format!("https://{authority}: {error}")))?;
            let server_name = rustls::pki_types::ServerName::try_from(tls.server_name.clone())
                .map_err(|error| {
                    GatewayError::Internal(format!("https://{authority}: server name: {error}"))
                })?;
            let uri_authority: Authority = authority
                .parse()
                .map_err(|error| GatewayError::Internal(format!("https://{authority}: {error}")))?;
            Ok(Http2Channel::new(
                Target::Tls {
                    address: authority.clone(),
                    config,
                    server_name,
                },
                uri_authority,
            ))
        }
        Endpoint::Quic { authority, .. } => Err(GatewayError::Internal(format!(
            "quic://{authority} is not an HTTP/2 endpoint"
        ))),
    }
}

/// A lazily-connected channel for `endpoint`; nothing is dialled yet.
pub fn channel_for(endpoint: &Endpoint) -> Result<BackendChannel, GatewayError> {
    match endpoint {
        Endpoint::Tcp(_) | Endpoint::Unix(_) | Endpoint::Tls { .. } => {
            Ok(BoxCloneSyncService::new(http2_channel(endpoint)?))
        }
        Endpoint::Quic { authority, tls } => {
            // Built once now so a bad endpoint fails at start; front threads
            // build their own on first use.
            let shared = quic_channel(authority, tls)?;
            let (authority, tls) = (authority.clone(), tls.clone());
            Ok(BoxCloneSyncService::new(PerLane::new(
                shared,
                Arc::new(move || quic_channel(&authority, &tls)),
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
