//! Micro-benchmarks of the bridge's own per-call work, beside the rmcp and
//! transport work it cannot avoid: building the upstream `tools/call`
//! params from the gateway's raw arguments bytes, and turning the
//! upstream's result into the raw JSON the gateway splices — each next to
//! the `Value` round trip it replaced (bytes → `Value` → `json!` → typed
//! params; typed result → `Value` → strip → `String`), so the ratio is
//! read in one run.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use micromcp_bridge::{request_params, tool_result_json};
use micromcp_sdk::Round;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

const ARGUMENTS: &[u8] = br#"{"text":"hello","options":{"repeat":2,"tags":["a","b","c"]}}"#;

fn upstream_result() -> CallToolResult {
    serde_json::from_value(json!({
        "content": [{"type": "text", "text": "hello hello"}],
        "structuredContent": {"echo": "hello", "count": 2},
        "resultType": "complete",
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "echo", "version": "1.0.0"}}
    }))
    .expect("a result")
}

/// The request as it was built before: three conversions.
fn request_through_value(name: &str, arguments_json: &[u8]) -> CallToolRequestParams {
    let arguments: Value = serde_json::from_slice(arguments_json).expect("JSON");
    let request = json!({"name": name, "arguments": arguments});
    serde_json::from_value(request).expect("params")
}

/// The result as it was mapped before: to `Value`, stripped, to `String`.
fn result_through_value(result: &CallToolResult) -> Bytes {
    let Ok(Value::Object(mut object)) = serde_json::to_value(result) else {
        return Bytes::new();
    };
    object.remove("resultType");
    if let Some(Value::Object(meta)) = object.get_mut("_meta") {
        meta.remove("io.modelcontextprotocol/serverInfo");
        if meta.is_empty() {
            object.remove("_meta");
        }
    }
    Bytes::from(Value::Object(object).to_string())
}

fn bench_request(criterion: &mut Criterion) {
    let round = Round::default();
    let mut group = criterion.benchmark_group("bridge_request_params");
    group.bench_function("from_raw_bytes", |bencher| {
        bencher.iter(|| request_params(black_box("echo".to_owned()), black_box(ARGUMENTS), &round))
    });
    group.bench_function("through_value_before", |bencher| {
        bencher.iter(|| request_through_value(black_box("echo"), black_box(ARGUMENTS)))
    });
    group.finish();
}

fn bench_result(criterion: &mut Criterion) {
    let result = upstream_result();
    let mut group = criterion.benchmark_group("bridge_tool_result_json");
    group.bench_function("serialised_once", |bencher| {
        // The path owns the result: the copy is made outside the timing.
        bencher.iter_batched(
            || result.clone(),
            |owned| tool_result_json(black_box(owned)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("through_value_before", |bencher| {
        bencher.iter(|| result_through_value(black_box(&result)))
    });
    group.finish();
}

criterion_group!(benches, bench_request, bench_result);
criterion_main!(benches);
