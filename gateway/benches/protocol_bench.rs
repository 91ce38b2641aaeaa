//! Micro-benchmarks of the per-request work the gateway does itself:
//! envelope parse, response encode, routing lookup among 10k tools, catalog
//! paging, session seal/open, protobuf encode/decode of a tool call, and
//! streaming base64 encode of resource chunks.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use micromcp_gateway::catalog::ListKind;
use micromcp_gateway::session::SessionCodec;
use micromcp_gateway::wire::ContentEncoder;
use micromcp_gateway::wire::jsonrpc::{Envelope, encode_result, splice_object_fields};
use micromcp_gateway::wire::protocol::ParamsHead;
use micromcp_proto::{CallToolClientMessage, CallToolStart, call_tool_client_message};
use prost::Message;

#[path = "support/catalog.rs"]
mod catalog;

/// A 2026-07-28 `tools/call` request body for `tool` with raw `arguments`.
fn tools_call(id: u64, tool: &str, arguments: &str) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"{tool}\",\"arguments\":{arguments},\"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}"
    )
    .into_bytes()
}

fn small_call() -> Vec<u8> {
    tools_call(42, "echo", r#"{"text":"hello","n":1}"#)
}

fn large_call() -> Vec<u8> {
    let payload = "x".repeat(1024 * 1024);
    tools_call(42, "echo", &format!("{{\"text\":\"{payload}\"}}"))
}

fn envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for (label, body) in [("small", small_call()), ("1MiB", large_call())] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("parse_{label}"), |b| {
            b.iter(|| {
                let envelope = Envelope::parse(black_box(&body)).expect("parse");
                let head = ParamsHead::parse(envelope.params).expect("head");
                black_box((envelope.id_text().len(), head.name.map(|name| name.len())))
            })
        });
        let result = format!(
            "{{\"content\":[{{\"type\":\"text\",\"text\":\"{}\"}}]}}",
            "y".repeat(body.len() / 2)
        );
        group.bench_function(format!("encode_{label}"), |b| {
            b.iter(|| {
                let finished = splice_object_fields(
                    black_box(result.as_bytes()),
                    "\"resultType\":\"complete\"",
                );
                black_box(encode_result("42", &finished))
            })
        });
    }
    group.finish();
}

fn catalog(c: &mut Criterion) {
    let merged = catalog::catalog_of(10_000);
    let mut group = c.benchmark_group("catalog_10k_tools");
    group.bench_function("route_lookup", |b| {
        b.iter(|| {
            black_box(
                merged
                    .tool(black_box("svc57.tool_63"))
                    .map(|item| item.service),
            )
        })
    });
    group.bench_function("list_page_100", |b| {
        b.iter(|| black_box(merged.page(ListKind::Tools, None, 100).expect("page")))
    });
    group.bench_function("list_all", |b| {
        b.iter(|| {
            black_box(
                merged
                    .page(ListKind::Tools, None, usize::MAX)
                    .expect("page"),
            )
        })
    });
    group.sample_size(10);
    group.bench_function("merge", |b| {
        b.iter(|| black_box(catalog::catalog_of(10_000)))
    });
    group.finish();
}

fn session(c: &mut Criterion) {
    let codec = SessionCodec::new(&[3u8; 32], Duration::from_secs(3600));
    let claims = SessionCodec::claims("2025-11-25", "{\"sampling\":{}}".into(), "token:abcdef");
    let sealed = codec.seal(&claims).expect("seal");
    let mut group = c.benchmark_group("session_id");
    group.bench_function("seal", |b| {
        b.iter(|| black_box(codec.seal(black_box(&claims)).expect("seal")))
    });
    group.bench_function("open", |b| {
        b.iter(|| {
            black_box(
                codec
                    .open(black_box(&sealed), "token:abcdef")
                    .expect("open"),
            )
        })
    });
    group.finish();
}

fn protobuf(c: &mut Criterion) {
    let message = CallToolClientMessage {
        message: Some(call_tool_client_message::Message::Start(CallToolStart {
            name: "echo".into(),
            arguments_json: Bytes::from_static(br#"{"text":"hello","n":1}"#),
            progress_requested: false,
            client_capabilities_json: Bytes::from_static(b"{}"),
            log_level: String::new(),
            input_relay: false,
            input_round: None,
        })),
    };
    let encoded = message.encode_to_vec();
    let mut group = c.benchmark_group("protobuf_call_tool");
    group.bench_function("encode", |b| {
        b.iter(|| black_box(black_box(&message).encode_to_vec()))
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            black_box(CallToolClientMessage::decode(black_box(encoded.as_slice())).expect("decode"))
        })
    });
    group.finish();
}

fn resource_encoding(c: &mut Criterion) {
    let chunk: Vec<u8> = (0..64 * 1024).map(|index| (index % 251) as u8).collect();
    let text_chunk: Vec<u8> = "lorem ipsum dolor sit amet, \"quoted\" ünïcode\n"
        .bytes()
        .cycle()
        .take(64 * 1024)
        .collect();
    let mut group = c.benchmark_group("resource_chunk_64KiB");
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("base64", |b| {
        let mut encoder = ContentEncoder::new(false);
        let mut out = Vec::with_capacity(100 * 1024);
        b.iter(|| {
            out.clear();
            encoder.push(black_box(&chunk), &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("json_text", |b| {
        let mut encoder = ContentEncoder::new(true);
        let mut out = Vec::with_capacity(100 * 1024);
        b.iter(|| {
            out.clear();
            encoder.push(black_box(&text_chunk), &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    envelope,
    catalog,
    session,
    protobuf,
    resource_encoding
);
criterion_main!(benches);
