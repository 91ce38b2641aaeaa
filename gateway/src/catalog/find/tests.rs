use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{Catalog, Tool};

use super::*;
use crate::catalog::ServiceCatalog;

fn tool(name: &str, description: &str, schema: &str) -> Tool {
    Tool {
        name: name.into(),
        description: description.into(),
        input_schema_json: Bytes::from(schema.to_owned()),
        ..Tool::default()
    }
}

fn catalog() -> Arc<MergedCatalog> {
    let fs = Catalog {
        tools: vec![
            tool(
                "read_file",
                "Read the contents of a file",
                r#"{"type":"object","properties":{"path":{"type":"string","description":"file path"}}}"#,
            ),
            tool(
                "listDirectory",
                "List the entries under a directory",
                r#"{"type":"object","properties":{"path":{"type":"string"}}}"#,
            ),
            tool("stat", "Size and times of a path", r#"{"type":"object"}"#),
        ],
        ..Catalog::default()
    };
    let fetch = Catalog {
        tools: vec![tool(
            "get",
            "Fetch a web page over HTTP and return its text",
            r#"{"type":"object","properties":{"url":{"type":"string","description":"the address of the page"}}}"#,
        )],
        ..Catalog::default()
    };
    let contributions = [
        ServiceCatalog {
            service: 0,
            service_name: "fs".into(),
            namespace: "fs".into(),
            catalog: Arc::new(fs),
        },
        ServiceCatalog {
            service: 1,
            service_name: "fetch".into(),
            namespace: "fetch".into(),
            catalog: Arc::new(fetch),
        },
    ];
    Arc::new(MergedCatalog::merge(&contributions, ".", &["fs", "fetch"]))
}

fn names(
    index: &ToolIndex,
    query: &str,
    keep: impl Fn(u64) -> bool + Send + Sync + Clone + 'static,
) -> Vec<String> {
    let terms = query_terms(query).expect("terms");
    index
        .search(&terms, 10, keep)
        .expect("search")
        .iter()
        .map(|hit| {
            index
                .catalog()
                .tool_name_at(hit.position as usize)
                .expect("name")
                .to_owned()
        })
        .collect()
}

#[test]
fn ranks_by_name_words_description_and_parameters() {
    let index = ToolIndex::build(catalog()).expect("index");
    assert_eq!(names(&index, "read a file", |_| true)[0], "fs.read_file");
    // camelCase split: "directory" and "list" are words of listDirectory
    assert_eq!(
        names(&index, "list directory entries", |_| true)[0],
        "fs.listDirectory"
    );
    // a parameter's description alone finds the tool
    assert_eq!(names(&index, "web page address", |_| true)[0], "fetch.get");
    // stemming: "fetching pages" meets "Fetch a web page"
    assert_eq!(names(&index, "fetching pages", |_| true), ["fetch.get"]);
    assert!(names(&index, "kubernetes", |_| true).is_empty());
}

#[test]
fn scores_come_best_first_and_filters_apply_to_hits() {
    let index = ToolIndex::build(catalog()).expect("index");
    let terms = query_terms("file path").expect("terms");
    let hits = index.search(&terms, 10, |_| true).expect("search");
    assert!(hits.len() >= 2);
    assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
    let read_file = index
        .catalog()
        .tool_at("fs.read_file")
        .map(|(position, _)| position as u64)
        .expect("listed");
    let without = names(&index, "read a file", move |position| position != read_file);
    assert!(!without.contains(&"fs.read_file".to_owned()));
    let limited = index.search(&terms, 1, |_| true).expect("search");
    assert_eq!(limited.len(), 1);
}

#[test]
fn queries_are_plain_words_and_bounded() {
    let index = ToolIndex::build(catalog()).expect("index");
    // query syntax is only separators and words
    assert_eq!(
        names(&index, "name:read AND (file* OR \"x\")", |_| true)[0],
        "fs.read_file"
    );
    assert!(query_terms("").is_err());
    assert!(query_terms("+-()[]{}:*\"~^").is_err());
    let long = "a".repeat(MAX_QUERY_BYTES + 1);
    assert!(query_terms(&long).is_err());
    let many: String = (0..100).map(|word| format!("w{word} ")).collect();
    assert_eq!(
        query_terms(&many[..MAX_QUERY_BYTES.min(many.len())])
            .expect("terms")
            .len(),
        terms::MAX_QUERY_TERMS
    );
    assert!(query_terms("\u{202e}\u{0000}ファイル 読む").is_ok());
}

#[test]
fn splits_identifiers_into_words() {
    assert_eq!(terms::split_words("fs.readFile_v2-x"), "fs read File v2 x");
    assert_eq!(terms::split_words("HTTPGet"), "HTTPGet");
}
