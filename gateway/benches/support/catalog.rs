//! A merged catalog of many tools, shared by the gateway's micro-benches.

use std::sync::Arc;

use bytes::Bytes;
use micromcp_gateway::catalog::{MergedCatalog, ServiceCatalog};
use micromcp_proto::{Catalog, Tool, ToolAnnotations};

/// A merged catalog of `tool_count` tools over 100 services `svc0`…`svc99`
/// (every tenth tool destructive).
pub fn catalog_of(tool_count: usize) -> MergedCatalog {
    let services: Vec<ServiceCatalog> = (0..100)
        .map(|service| ServiceCatalog {
            service,
            service_name: format!("svc{service}"),
            namespace: format!("svc{service}"),
            catalog: Arc::new(Catalog {
                tools: (0..tool_count / 100)
                    .map(|tool| Tool {
                        name: format!("tool_{tool}"),
                        description: "does one thing".into(),
                        input_schema_json: Bytes::from_static(
                            br#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
                        ),
                        annotations: Some(ToolAnnotations {
                            destructive_hint: Some(tool % 10 == 0),
                            ..ToolAnnotations::default()
                        }),
                        ..Tool::default()
                    })
                    .collect(),
                ..Catalog::default()
            }),
        })
        .collect();
    let names: Vec<String> = (0..100).map(|service| format!("svc{service}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    MergedCatalog::merge(&services, ".", &name_refs)
}
