use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{Catalog, Resource, ResourceTemplate, Tool};

use super::*;

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: format!("{name} tool"),
        input_schema_json: Bytes::from_static(br#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","$defs":{"a":{}}}"#),
        ..Tool::default()
    }
}

fn contribution(service: usize, name: &str, namespace: &str, tools: &[&str]) -> ServiceCatalog {
    ServiceCatalog {
        service,
        service_name: name.into(),
        namespace: namespace.into(),
        catalog: Arc::new(Catalog {
            tools: tools.iter().map(|name| tool(name)).collect(),
            ..Catalog::default()
        }),
    }
}

#[test]
fn tools_are_namespaced_sorted_and_routed() {
    let merged = MergedCatalog::merge(
        &[
            contribution(0, "fs", "fs", &["stat", "read_file"]),
            contribution(1, "echo", "", &["echo"]),
        ],
        ".",
        &["fs", "echo"],
    );
    assert!(merged.collisions.is_empty());
    let item = merged.tool("fs.read_file").expect("routed");
    assert_eq!((item.service, item.original.as_str()), (0, "read_file"));
    assert!(merged.tool("read_file").is_none());
    assert_eq!(merged.tool("echo").expect("unprefixed").service, 1);
    let page = merged.page(ListKind::Tools, None, 10).expect("page");
    assert!(page.next_cursor.is_none());
    let listed = listed(&page);
    assert_eq!(names_of(&listed), ["echo", "fs.read_file", "fs.stat"]);
    assert_eq!(
        listed[1]["inputSchema"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let empty = merged.page(ListKind::Prompts, None, 10).expect("page");
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
}

#[test]
fn collisions_name_both_services() {
    let merged = MergedCatalog::merge(
        &[
            contribution(0, "a", "", &["x"]),
            contribution(1, "b", "", &["x"]),
        ],
        ".",
        &["a", "b"],
    );
    assert_eq!(merged.collisions.len(), 1);
    assert!(merged.collisions[0].contains("\"a\"") && merged.collisions[0].contains("\"b\""));
    assert_eq!(merged.tool("x").expect("first wins").service, 0);
}

#[test]
fn pages_follow_cursors_and_bad_cursors_fail() {
    let names: Vec<String> = (0..25).map(|index| format!("t{index:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let merged = MergedCatalog::merge(&[contribution(0, "s", "s", &refs)], "_", &["s"]);
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = merged
            .page(ListKind::Tools, cursor.as_deref(), 10)
            .expect("page");
        seen.extend(names_of(&listed(&page)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = names.iter().map(|name| format!("s_{name}")).collect();
    assert_eq!(
        seen, expected,
        "every item once, in order, across page slices"
    );
    assert!(merged.page(ListKind::Tools, Some("garbage!"), 10).is_err());
}

#[test]
fn invalid_names_and_schemas_are_dropped() {
    let mut bad_schema = tool("bad");
    bad_schema.input_schema_json = Bytes::from_static(b"[1]");
    let merged = MergedCatalog::merge(
        &[ServiceCatalog {
            service: 0,
            service_name: "s".into(),
            namespace: "s".into(),
            catalog: Arc::new(Catalog {
                tools: vec![tool("has space"), bad_schema, tool("ok")],
                ..Catalog::default()
            }),
        }],
        ".",
        &["s"],
    );
    assert_eq!(merged.len(ListKind::Tools), 1);
}

#[test]
fn resources_route_by_uri_and_template_prefix() {
    let merged = MergedCatalog::merge(
        &[ServiceCatalog {
            service: 3,
            service_name: "fs".into(),
            namespace: "fs".into(),
            catalog: Arc::new(Catalog {
                resources: vec![Resource {
                    uri: "file:///r/a.txt".into(),
                    name: "a".into(),
                    ..Resource::default()
                }],
                resource_templates: vec![ResourceTemplate {
                    uri_template: "file:///r/{+path}".into(),
                    name: "t".into(),
                    ..ResourceTemplate::default()
                }],
                ..Catalog::default()
            }),
        }],
        ".",
        &["", "", "", "fs"],
    );
    assert_eq!(merged.resource_service("file:///r/a.txt"), Some(3));
    assert_eq!(merged.resource_service("file:///r/deep/b.txt"), Some(3));
    assert_eq!(merged.resource_service("file:///elsewhere"), None);
    assert_eq!(merged.template_service("file:///r/{+path}"), Some(3));
}

fn offering(service: usize, name: &str, resources: &[&str], templates: &[&str]) -> ServiceCatalog {
    ServiceCatalog {
        service,
        service_name: name.into(),
        namespace: name.into(),
        catalog: Arc::new(Catalog {
            resources: resources
                .iter()
                .map(|uri| Resource {
                    uri: (*uri).into(),
                    name: "r".into(),
                    ..Resource::default()
                })
                .collect(),
            resource_templates: templates
                .iter()
                .map(|template| ResourceTemplate {
                    uri_template: (*template).into(),
                    name: "t".into(),
                    ..ResourceTemplate::default()
                })
                .collect(),
            ..Catalog::default()
        }),
    }
}

#[test]
fn uris_under_a_template_stay_with_the_service_known_first() {
    let merged = MergedCatalog::merge(
        &[
            offering(0, "fs", &["file:///r/a.txt"], &["file:///r/{+path}"]),
            offering(
                1,
                "shadow",
                &["file:///r/docs/guide.md", "shadow://note"],
                &["file:///r/src/{+path}", "file:///{+path}"],
            ),
        ],
        ".",
        &["fs", "shadow"],
    );
    // a longer template and a resource under fs's template are not merged
    assert_eq!(merged.resource_service("file:///r/src/main.rs"), Some(0));
    assert_eq!(merged.resource_service("file:///r/docs/guide.md"), Some(0));
    assert!(
        merged
            .resource_position("file:///r/docs/guide.md")
            .is_none()
    );
    // its own items, and a wider template for what fs does not serve, stay
    assert_eq!(merged.resource_service("shadow://note"), Some(1));
    assert_eq!(merged.resource_service("file:///etc/hostname"), Some(1));
    assert_eq!(merged.collisions.len(), 2, "{:?}", merged.collisions);
    assert_eq!(merged.collision_losers, ["shadow", "shadow"]);
    assert_eq!(merged.collision_winners, ["fs", "fs"]);
    assert!(
        merged
            .collisions
            .iter()
            .any(|text| text.contains("file:///r/src/{+path}"))
    );
    assert!(
        merged
            .collisions
            .iter()
            .any(|text| text.contains("file:///r/docs/guide.md"))
    );
    // known the other way round, the wider template of the first wins all
    let reversed = MergedCatalog::merge(
        &[
            offering(0, "wide", &[], &["file:///{+path}"]),
            offering(1, "fs", &["file:///r/a.txt"], &["file:///r/{+path}"]),
        ],
        ".",
        &["wide", "fs"],
    );
    assert_eq!(reversed.resource_service("file:///r/a.txt"), Some(0));
    assert_eq!(reversed.resource_service("file:///r/src/main.rs"), Some(0));
}

/// A page's items parsed as a JSON array.
fn listed(page: &Page) -> Vec<serde_json::Value> {
    let mut array = b"[".to_vec();
    array.extend_from_slice(&page.items);
    array.push(b']');
    serde_json::from_slice(&array).expect("page items are JSON")
}

fn names_of(listed: &[serde_json::Value]) -> Vec<String> {
    listed
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}
