//! The ceiling check's trivial HTTP responder: answers every request on
//! loopback with one fixed JSON-RPC result (and a session id, so the
//! 2025-11-25 handshake works), on its own single-threaded runtime. Driving
//! it with the same workload shows the most the generator can measure on
//! this machine.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

const ANSWER: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ceiling"}]}}"#;

async fn answer(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let _ = request.into_body().collect().await;
    let response = hyper::Response::builder()
        .header("content-type", "application/json")
        .header("mcp-session-id", "ceiling")
        .body(Full::new(Bytes::from_static(ANSWER)))
        .unwrap_or_default();
    Ok(response)
}

/// Starts the responder on a loopback port; it runs until the process ends.
pub fn start() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("ceiling-responder".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(answer))
                            .await;
                    });
                }
            });
        })?;
    Ok(address)
}
