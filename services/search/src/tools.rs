//! The search tools' names, schemas and argument types.

use bytes::Bytes;
use micromcp_proto::{Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::IndexedDocument;

/// Most documents per `index` call and most results per query.
pub const MAX_BATCH: usize = 1000;
pub const MAX_RESULTS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexArguments {
    pub documents: Vec<IndexedDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteArguments {
    pub ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryArguments {
    pub query: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub offset: usize,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarArguments {
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default = "default_limit")]
    pub k: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridArguments {
    pub query: String,
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_limit")]
    pub k: usize,
    #[serde(default = "one")]
    pub bm25_weight: f32,
    #[serde(default = "one")]
    pub vector_weight: f32,
}

fn default_limit() -> usize {
    10
}

fn one() -> f32 {
    1.0
}

fn tool(name: &str, title: &str, description: &str, schema: Value, read_only: bool) -> Tool {
    Tool {
        name: name.into(),
        title: title.into(),
        description: description.into(),
        input_schema_json: Bytes::from(schema.to_string()),
        annotations: Some(ToolAnnotations {
            title: Some(title.into()),
            read_only_hint: Some(read_only),
            destructive_hint: Some(name == "delete"),
            idempotent_hint: Some(true),
            open_world_hint: Some(false),
        }),
        ..Tool::default()
    }
}

fn vector_schema() -> Value {
    json!({"type": "array", "items": {"type": "number"}, "description": "Dense embedding"})
}

/// The tool definitions.
pub fn definitions() -> Vec<Tool> {
    let document = json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"},
            "url": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}, "vector": vector_schema()
        },
        "required": ["id"],
        "additionalProperties": false
    });
    vec![
        tool(
            "index",
            "Index documents",
            &format!(
                "Add or replace up to {MAX_BATCH} documents (by id); committed to disk before the call returns."
            ),
            json!({"type": "object", "properties": {"documents": {"type": "array", "items": document, "maxItems": MAX_BATCH}}, "required": ["documents"], "additionalProperties": false}),
            false,
        ),
        tool(
            "delete",
            "Delete documents",
            "Delete documents by id; committed before the call returns.",
            json!({"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}}, "required": ["ids"], "additionalProperties": false}),
            false,
        ),
        tool(
            "query",
            "Full-text search",
            "BM25 search with tantivy's query language (AND, OR, \"phrases\", title:word, word^2), optional tag filters, pagination and highlighted snippets.",
            json!({"type": "object", "properties": {
                "query": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "description": "Documents must carry every tag"},
                "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS}
            }, "required": ["query"], "additionalProperties": false}),
            true,
        ),
        tool(
            "similar",
            "Vector search",
            "k nearest documents by cosine similarity to a vector, to another document's vector (id), or to text (needs an embeddings endpoint).",
            json!({"type": "object", "properties": {
                "vector": vector_schema(), "id": {"type": "string"}, "text": {"type": "string"}, "k": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS}
            }, "additionalProperties": false}),
            true,
        ),
        tool(
            "hybrid",
            "Hybrid search",
            "BM25 and vector results fused by reciprocal rank fusion with the given weights.",
            json!({"type": "object", "properties": {
                "query": {"type": "string"}, "vector": vector_schema(), "tags": {"type": "array", "items": {"type": "string"}},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
                "bm25_weight": {"type": "number", "minimum": 0}, "vector_weight": {"type": "number", "minimum": 0}
            }, "required": ["query"], "additionalProperties": false}),
            true,
        ),
        tool(
            "stats",
            "Index statistics",
            "Documents, vectors, dimensions, segments and the start-up crawl's progress.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            true,
        ),
    ]
}
