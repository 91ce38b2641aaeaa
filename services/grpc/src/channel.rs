//! The channel to the target: plain HTTP/2 for `http://`, and HTTP/2 over
//! TLS 1.3/1.2 for `https://` with the same CA, server name and client
//! identity keys as the gateway's own `https://` endpoints. Connected
//! lazily (a target that is down at start is dialled again on each call).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use micromcp_proto::quic::{ClientTls, tcp_client_config};
use rustls::pki_types::ServerName;
use tonic::transport::{Channel, Endpoint};

use crate::{GrpcError, GrpcResult};

/// How long dialling the target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily connected channel to `target`.
pub fn channel_to(target: &http::Uri, tls_opt: Option<&ClientTls>) -> GrpcResult<Channel> {
    let connect_failed = |detail: String| GrpcError::Connect {
        target: target.to_string(),
        detail,
    };
    let endpoint = Endpoint::from(target.clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let Some(tls) = tls_opt else {
        return Ok(endpoint.connect_lazy());
    };
    let config = tcp_client_config(tls).map_err(|error| connect_failed(error.to_string()))?;
    let server_name = ServerName::try_from(tls.server_name.clone())
        .map_err(|error| connect_failed(format!("tls_server_name: {error}")))?;
    let authority = target
        .authority()
        .map(|authority| {
            format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(443)
            )
        })
        .ok_or_else(|| connect_failed("no host".into()))?;
    let connector = tower::service_fn(move |_: http::Uri| {
        let (config, server_name, authority) =
            (Arc::clone(&config), server_name.clone(), authority.clone());
        async move {
            let stream = tokio::net::TcpStream::connect(&authority).await?;
            stream.set_nodelay(true)?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let secured = connector.connect(server_name, stream).await?;
            Ok::<_, std::io::Error>(TokioIo::new(secured))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}
