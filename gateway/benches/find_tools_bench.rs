//! `find_tools` at 10 000 tools: the query's words, the BM25 search over
//! the in-RAM tool index with the hits filtered by a principal's catalog
//! view (scopes and Cedar, as a request does), for an unrestricted and a
//! restricted principal; and building the index (paid once per catalog
//! change, off the request path).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use micromcp_gateway::catalog::{
    ListKind, MergedCatalog, ServiceCatalog, ServiceNames, ToolIndex, query_terms,
};
use micromcp_gateway::policy::{CedarPolicies, Policy};
use micromcp_gateway::principal::{Principal, Scopes};
use micromcp_proto::{Catalog, Tool, ToolAnnotations};

const VERBS: &[&str] = &[
    "read", "write", "list", "delete", "create", "update", "search", "fetch", "send", "get",
    "archive", "restore", "share", "move", "copy", "rename", "tag", "export", "import", "sync",
];
const OBJECTS: &[&str] = &[
    "file",
    "directory",
    "issue",
    "pull_request",
    "message",
    "channel",
    "calendar_event",
    "contact",
    "invoice",
    "payment",
    "customer",
    "ticket",
    "document",
    "spreadsheet",
    "image",
    "video",
    "repository",
    "branch",
    "commit",
    "deployment",
    "database_row",
    "table",
    "queue",
    "bucket",
    "secret",
    "user",
    "group",
    "role",
    "webhook",
    "alert",
    "metric",
    "log_entry",
    "note",
    "task",
    "project",
    "page",
    "comment",
    "label",
    "milestone",
    "release",
    "build",
    "container",
    "volume",
    "cluster",
    "node",
    "order",
    "product",
    "shipment",
    "booking",
    "email",
];
const DOMAINS: &[&str] = &[
    "github", "gitlab", "slack", "gmail", "calendar", "drive", "notion", "jira", "linear", "stripe",
];

fn service_names() -> Vec<String> {
    (0..100)
        .map(|service| format!("{}{service}", DOMAINS[service % DOMAINS.len()]))
        .collect()
}

/// 100 services of 100 tools each: verb × object names, a sentence of
/// description and two described parameters each.
fn catalog() -> Arc<MergedCatalog> {
    let names = service_names();
    let services: Vec<ServiceCatalog> = names
        .iter()
        .enumerate()
        .map(|(service, name)| ServiceCatalog {
            service,
            service_name: name.clone(),
            namespace: name.clone(),
            catalog: Arc::new(Catalog {
                tools: (0..100)
                    .map(|tool| {
                        let verb = VERBS[(tool + service) % VERBS.len()];
                        let object = OBJECTS[(tool * 7 + service) % OBJECTS.len()];
                        let thing = object.replace('_', " ");
                        Tool {
                            name: format!("{verb}_{object}_{tool}"),
                            description: format!(
                                "{verb} a {thing} in {} for the signed-in user; returns the {thing} as JSON",
                                DOMAINS[service % DOMAINS.len()]
                            ),
                            input_schema_json: Bytes::from(format!(
                                r#"{{"type":"object","properties":{{"id":{{"type":"string","description":"identifier of the {thing}"}},"limit":{{"type":"integer","description":"most results"}}}}}}"#
                            )),
                            annotations: Some(ToolAnnotations {
                                destructive_hint: Some(verb == "delete"),
                                ..ToolAnnotations::default()
                            }),
                            ..Tool::default()
                        }
                    })
                    .collect(),
                ..Catalog::default()
            }),
        })
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    Arc::new(MergedCatalog::merge(&services, ".", &name_refs))
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

fn find_tools(c: &mut Criterion) {
    let catalog = catalog();
    assert_eq!(catalog.len(ListKind::Tools), 10_000);
    let index = ToolIndex::build(catalog.clone()).expect("index");
    let names = service_names();
    let cedar = CedarPolicies::parse(
        r#"permit(principal, action, resource);
forbid(principal, action == Micromcp::Action::"tools/call", resource is Micromcp::Tool)
  when { resource.destructive } unless { principal.roles.contains("admin") };"#,
    )
    .expect("policies");
    let policy = Policy::with(
        Some(Arc::new(cedar)),
        ServiceNames::of(names.iter().map(String::as_str)),
    );
    // Half the services, and Cedar keeps deletions from it.
    let scopes: Vec<String> = names.iter().step_by(2).cloned().collect();
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let reader = principal("reader", &scope_refs);
    let view = Arc::new(policy.build_view(&reader, &catalog));
    let queries = [
        "create a pull request on github",
        "send a slack message to a channel",
        "delete an invoice",
        "list calendar events for the signed-in user",
        "export the spreadsheet as JSON",
    ];
    let mut group = c.benchmark_group("find_tools");
    group.measurement_time(Duration::from_secs(5));
    for (label, restricted) in [("all_tools", false), ("restricted_view", true)] {
        group.bench_function(format!("10k_tools_limit_10_{label}"), |b| {
            let mut next = 0;
            b.iter(|| {
                let query = queries[next % queries.len()];
                next += 1;
                let terms = query_terms(query).expect("terms");
                let hits = if restricted {
                    let view = view.clone();
                    index.search(&terms, 10, move |position| {
                        usize::try_from(position)
                            .is_ok_and(|position| view.list(ListKind::Tools).contains(position))
                    })
                } else {
                    index.search(&terms, 10, |_| true)
                };
                black_box(hits.expect("search"))
            })
        });
    }
    group.sample_size(10);
    group.bench_function("build_index_10k_tools", |b| {
        b.iter(|| black_box(ToolIndex::build(catalog.clone()).expect("index")))
    });
    group.finish();
}

criterion_group!(benches, find_tools);
criterion_main!(benches);
