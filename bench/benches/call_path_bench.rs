//! The whole per-call path, measured as a ratio in one run: a `tools/call`
//! of the testkit `echo` tool sent (a) directly to the service over gRPC
//! with tonic's channel, (a') the same over the gateway's own HTTP/2
//! channel (`micromcp_gateway::backends::channel`), and (b) through the gateway over
//! HTTP (2026-07-28, JSON response), all on loopback in this process.
//! (b) − (a) is what the gateway adds per call; (a') / (a) compares the two
//! gRPC clients.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use micromcp_proto::mcp_service_client::McpServiceClient;
use micromcp_proto::{CallToolClientMessage, CallToolStart, call_tool_client_message};

fn call_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (service, gateway) = runtime.block_on(async {
        let service = micromcp_bench::start_testkit().await;
        let gateway = micromcp_bench::start_gateway(service).await;
        (service, gateway)
    });
    let grpc = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{service}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("connect");
        McpServiceClient::new(channel)
    });
    let own_channel = McpServiceClient::new(
        micromcp_gateway::backends::channel::channel_for(&micromcp_gateway::config::Endpoint::Tcp(
            format!("http://{service}"),
        ))
        .expect("channel"),
    );
    let http = micromcp_bench::http_client();
    let url = format!("http://{gateway}/mcp");
    let ids = AtomicU64::new(1);
    let arguments = r#"{"text":"hello"}"#;

    let mut group = c.benchmark_group("tools_call_echo");
    group.bench_function("direct_grpc", |b| {
        b.to_async(&runtime).iter(|| call_echo(grpc.clone()))
    });
    group.bench_function("direct_grpc_gateway_channel", |b| {
        b.to_async(&runtime).iter(|| call_echo(own_channel.clone()))
    });
    group.bench_function("through_gateway_http", |b| {
        b.to_async(&runtime).iter(|| {
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let body = micromcp_bench::call_body(id, "echo", arguments);
            let http = &http;
            let url = &url;
            async move {
                let response = micromcp_bench::post_call(http, url, body, "echo").await;
                assert!(
                    response.starts_with(b"{\"jsonrpc\":\"2.0\""),
                    "unexpected: {}",
                    String::from_utf8_lossy(&response)
                );
                response
            }
        })
    });
    group.finish();
}

/// One `echo` call over gRPC, trailers included (as the gateway reads them).
async fn call_echo<T>(mut client: McpServiceClient<T>) -> micromcp_proto::CallToolServerMessage
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let start = CallToolClientMessage {
        message: Some(call_tool_client_message::Message::Start(CallToolStart {
            name: "echo".into(),
            arguments_json: Bytes::from_static(br#"{"text":"hello"}"#),
            ..CallToolStart::default()
        })),
    };
    let mut stream = client
        .call_tool(tokio_stream_once(start))
        .await
        .expect("call")
        .into_inner();
    let result = stream.message().await.expect("message").expect("result");
    while let Ok(Some(_)) = stream.message().await {}
    result
}

fn tokio_stream_once(
    message: CallToolClientMessage,
) -> impl tonic::codegen::tokio_stream::Stream<Item = CallToolClientMessage> + Send + 'static {
    tonic::codegen::tokio_stream::iter(vec![message])
}

criterion_group!(benches, call_path);
criterion_main!(benches);
