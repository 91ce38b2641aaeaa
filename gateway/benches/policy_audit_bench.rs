//! Micro-benchmarks of authorization and audit: a scope check, one Cedar
//! evaluation, the per-call check against a principal's cached catalog
//! view (what `tools/call` pays), building that view over 10k tools (paid
//! once per principal and catalog version), a filtered `tools/list` page,
//! and an audit record's encoding, redaction and append to a file.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use micromcp_gateway::audit::{AuditRecord, Decision, FileSink, Outcome, redact};
use micromcp_gateway::catalog::{ListKind, MergedCatalog, ServiceNames, ToolHints};
use micromcp_gateway::config::FsyncPolicy;
use micromcp_gateway::policy::{CedarPolicies, Policy, Subject};
use micromcp_gateway::principal::{ItemKind, Principal, Scopes};

#[path = "support/catalog.rs"]
mod catalog;

const DESTRUCTIVE_NEEDS_ADMIN: &str = r#"
permit(principal, action, resource);
@id("destructive-needs-admin")
forbid(principal, action == Micromcp::Action::"tools/call", resource is Micromcp::Tool)
  when { resource.destructive } unless { principal.roles.contains("admin") };
"#;

fn service_names() -> Vec<String> {
    (0..100).map(|service| format!("svc{service}")).collect()
}

fn service_index() -> Arc<ServiceNames> {
    let names = service_names();
    ServiceNames::of(names.iter().map(String::as_str))
}

fn principal(id: &str, scopes: &[&str]) -> Principal {
    let names = service_names();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
    Principal::new(
        id.into(),
        Scopes::parse(&scopes, &name_refs).expect("scopes"),
        vec!["reader".into()],
    )
}

fn cedar_policy() -> Policy {
    let cedar = CedarPolicies::parse(DESTRUCTIVE_NEEDS_ADMIN).expect("policies");
    Policy::with(Some(Arc::new(cedar)), service_index())
}

fn policy(c: &mut Criterion) {
    let catalog: Arc<MergedCatalog> = Arc::new(catalog::catalog_of(10_000));
    let reader = principal("reader", &["svc1:read_*", "svc7", "svc57:tool_6*"]);
    let everything = principal("everything", &["*"]);
    let scopes_only = Policy::with(None, service_index());
    let cedar = cedar_policy();
    // MCP's default hints: destructive, so the forbid policy applies.
    let destructive = Subject::Tool {
        exposed: "svc57.tool_63",
        name: "tool_63",
        service: "svc57",
        hints: ToolHints::default(),
    };
    let read_only = Subject::Tool {
        exposed: "svc57.tool_63",
        name: "tool_63",
        service: "svc57",
        hints: ToolHints {
            read_only: true,
            destructive: false,
            ..ToolHints::default()
        },
    };
    let cedar_set = CedarPolicies::parse(DESTRUCTIVE_NEEDS_ADMIN).expect("policies");
    let (position, item) = catalog.tool_at("svc57.tool_63").expect("tool");

    let mut group = c.benchmark_group("policy");
    group.bench_function("scope_check", |b| {
        b.iter(|| {
            black_box(reader.scopes.allows(
                black_box("svc57"),
                ItemKind::Named,
                black_box("tool_63"),
            ))
        })
    });
    group.bench_function("cedar_evaluate_allow", |b| {
        b.iter(|| black_box(cedar_set.decide(&reader, black_box(&read_only)).is_ok()))
    });
    group.bench_function("cedar_evaluate_deny", |b| {
        b.iter(|| black_box(cedar_set.decide(&reader, black_box(&destructive)).is_ok()))
    });
    group.bench_function("call_check_unrestricted", |b| {
        b.iter(|| {
            black_box(
                scopes_only
                    .check_listed(&everything, &catalog, ListKind::Tools, position, item)
                    .is_ok(),
            )
        })
    });
    group.bench_function("call_check_scopes_cached_view", |b| {
        b.iter(|| {
            black_box(
                scopes_only
                    .check_listed(&reader, &catalog, ListKind::Tools, position, item)
                    .is_ok(),
            )
        })
    });
    group.bench_function("call_check_cedar_cached_view", |b| {
        b.iter(|| {
            black_box(
                cedar
                    .check_listed(&reader, &catalog, ListKind::Tools, position, item)
                    .is_ok(),
            )
        })
    });
    group.bench_function("list_page_100_filtered", |b| {
        let view = cedar.visible(&reader, &catalog).expect("restricted");
        b.iter(|| {
            black_box(
                catalog
                    .page_visible(ListKind::Tools, view.list(ListKind::Tools), None, 100)
                    .expect("page"),
            )
        })
    });
    group.sample_size(10);
    group.bench_function("build_view_10k_tools_scopes", |b| {
        b.iter(|| black_box(scopes_only.build_view(&reader, &catalog)))
    });
    group.bench_function("build_view_10k_tools_cedar", |b| {
        b.iter(|| black_box(cedar.build_view(&reader, &catalog)))
    });
    // Every one of the 10k tools passes the scopes and goes to Cedar.
    group.bench_function("build_view_10k_tools_cedar_all_scopes", |b| {
        b.iter(|| black_box(cedar.build_view(&everything, &catalog)))
    });
    group.finish();
}

fn record<'a>(arguments: Option<&'a serde_json::Value>) -> AuditRecord<'a> {
    AuditRecord {
        time: jiff::Timestamp::now(),
        request_id: Some("r123456"),
        principal: Some("ci-agent"),
        transport: "http",
        era: Some("modern"),
        method: Some("tools/call"),
        target: Some("fs.read_file"),
        decision: Decision::Allow,
        reason: None,
        outcome: Outcome::Ok,
        error: None,
        http_status: Some(200),
        latency_us: 231,
        bytes_in: 180,
        bytes_out: 412,
        arguments,
    }
}

fn audit(c: &mut Criterion) {
    let arguments = serde_json::json!({"path": "docs/guide.md", "api_key": "k", "options": {"max_bytes": 4096}});
    let redact_fields: Vec<String> = ["password", "secret", "token", "api_key"]
        .map(str::to_owned)
        .to_vec();
    let redacted = redact(arguments.clone(), &redact_fields);
    let mut group = c.benchmark_group("audit");
    let mut line = Vec::with_capacity(512);
    group.bench_function("record_encode", |b| {
        b.iter(|| {
            line.clear();
            black_box(record(None)).encode_into(&mut line);
            black_box(line.len())
        })
    });
    group.bench_function("record_encode_with_arguments", |b| {
        b.iter(|| {
            line.clear();
            black_box(record(Some(&redacted))).encode_into(&mut line);
            black_box(line.len())
        })
    });
    group.bench_function("redact_arguments", |b| {
        b.iter(|| black_box(redact(black_box(arguments.clone()), &redact_fields)))
    });
    let dir = tempfile::tempdir().expect("dir");
    // Rotation bounds the disk a long run uses.
    let sink = FileSink::open(
        &dir.path().join("audit.jsonl"),
        64 * 1024 * 1024,
        1,
        FsyncPolicy::Never,
    )
    .expect("open");
    line.clear();
    record(None).encode_into(&mut line);
    group.bench_function("file_append", |b| {
        b.iter(|| sink.write_line(black_box(&line)).expect("write"))
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = policy, audit
);
criterion_main!(benches);
