//! Helpers shared by the benches: start the testkit service and a gateway in
//! front of it, in-process on loopback, and a minimal keep-alive HTTP
//! client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use micromcp_gateway::Gateway;
use micromcp_gateway::config::parse_toml;

/// Starts the testkit service on `127.0.0.1:0`; returns its address.
pub async fn start_testkit() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(micromcp_sdk::serve(
        Arc::new(micromcp_testkit::TestkitService::default()),
        micromcp_sdk::Listener::Tcp(listener),
        micromcp_sdk::ServeOptions::default(),
        std::future::pending(),
    ));
    address
}

/// Starts a gateway (no auth, loopback) routing to `service` without a prefix.
pub async fn start_gateway(service: SocketAddr) -> SocketAddr {
    let raw = parse_toml(&format!(
        "[auth]\ninsecure_no_auth = true\n[[services]]\nname = \"testkit\"\nnamespace = \"\"\nendpoint = \"http://{service}\"\n"
    ))
    .expect("config");
    let config = raw.validate(None).expect("valid");
    let gateway = Gateway::new(config, &[9u8; 32]).expect("gateway");
    let shutdown = tokio_util_token();
    gateway.backends.spawn_watchers(&shutdown);
    let missing = gateway
        .backends
        .wait_for_catalogs(Duration::from_secs(10))
        .await;
    assert!(missing.is_empty(), "testkit not reachable");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(micromcp_gateway::front::http::serve(
        gateway,
        listener,
        std::future::pending(),
    ));
    address
}

fn tokio_util_token() -> tokio_util::sync::CancellationToken {
    tokio_util::sync::CancellationToken::new()
}

/// A keep-alive HTTP/1.1 client.
pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// POSTs one 2026-07-28 `tools/call` and returns the response body.
pub async fn post_call(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    body: Bytes,
    tool: &str,
) -> Bytes {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Full::new(body))
        .expect("request");
    let response = client.request(request).await.expect("response");
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

/// A 2026-07-28 `tools/call` body for `tool` with `arguments`.
pub fn call_body(id: u64, tool: &str, arguments: &str) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"{tool}\",\"arguments\":{arguments},\"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}"
    ))
}
