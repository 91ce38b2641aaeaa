//! Ranked tool search (`find_tools`): an in-RAM tantivy index of one merged
//! catalog's tools — BM25 over the name split into words, the title, the
//! description and the parameters' names and descriptions, with field
//! boosts, each query word scored by its best field, widened by general
//! synonyms (`synonyms.rs`) — and [`ToolSearch`], which holds the index of the latest
//! catalog. An index is built off the request path after each catalog
//! change and swapped in whole; searches read whichever index is current.
//! Callers filter the ranked hits (the caller's view, a namespace) inside
//! the collector: a search never walks the catalog.

mod synonyms;
mod terms;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};
use tokio::sync::watch;

pub use self::terms::{MAX_QUERY_BYTES, query_terms};
use super::{ListKind, MergedCatalog};
use crate::error::GatewayError;

/// The gateway's tool that ranks the caller's tools.
pub const FIND_TOOLS: &str = "find_tools";
/// The gateway's tool that calls one of the caller's tools by name.
pub const CALL_TOOL: &str = "call_tool";

/// Field boosts: a word of the title counts most, a parameter's least (a
/// name's words, often one generic verb, outweighed descriptions at 3;
/// 1.5 ranked best on the tuning half of the evaluation set).
const BOOST_NAME: f32 = 1.5;
const BOOST_TITLE: f32 = 2.0;
const BOOST_DESCRIPTION: f32 = 1.0;
const BOOST_PARAMS: f32 = 0.5;
/// Share of a word's other matching fields added to its best field's score.
const TIE_BREAKER: f32 = 0.3;
/// Heap of the writer that builds an index (tantivy's minimum).
const WRITER_HEAP_BYTES: usize = 15_000_000;
/// Nesting of parameter schemas read for words.
const MAX_SCHEMA_DEPTH: usize = 4;

/// One ranked tool: its position in the indexed catalog and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub position: u32,
    pub score: f32,
}

/// The search index of one catalog's tools.
pub struct ToolIndex {
    catalog: Arc<MergedCatalog>,
    reader: IndexReader,
    fields: Fields,
}

#[derive(Clone, Copy)]
struct Fields {
    name: Field,
    title: Field,
    description: Field,
    params: Field,
    position: Field,
}

/// The parts of a rendered tool that are searched.
#[derive(Deserialize)]
struct Searched {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "inputSchema")]
    input_schema: Value,
    #[serde(default)]
    annotations: Option<Value>,
}

// === impl ToolIndex ===

impl std::fmt::Debug for ToolIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ToolIndex")
            .field("tools", &self.catalog.len(ListKind::Tools))
            .finish()
    }
}

impl ToolIndex {
    /// Indexes the tools of `catalog` (CPU work: run it off async threads).
    pub fn build(catalog: Arc<MergedCatalog>) -> Result<Self, GatewayError> {
        let internal = |error: tantivy::TantivyError| {
            GatewayError::Internal(format!("tool search index: {error}"))
        };
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(terms::ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            name: builder.add_text_field("name", text.clone()),
            title: builder.add_text_field("title", text.clone()),
            description: builder.add_text_field("description", text.clone()),
            params: builder.add_text_field("params", text),
            position: builder.add_u64_field("position", INDEXED | FAST),
        };
        let index = Index::create_in_ram(builder.build());
        index
            .tokenizers()
            .register(terms::ANALYZER, terms::analyzer());
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, WRITER_HEAP_BYTES)
            .map_err(internal)?;
        for position in 0..catalog.len(ListKind::Tools) {
            let rendered = catalog.rendered[ListKind::Tools as usize].slice(position, position + 1);
            let Ok(tool) = serde_json::from_slice::<Searched>(&rendered) else {
                continue;
            };
            let mut document = TantivyDocument::default();
            document.add_text(fields.name, terms::split_words(&tool.name));
            let title = tool.title.or_else(|| {
                tool.annotations
                    .as_ref()
                    .and_then(|annotations| annotations.get("title")?.as_str().map(str::to_owned))
            });
            if let Some(title) = title {
                document.add_text(fields.title, terms::split_words(&title));
            }
            if let Some(description) = tool.description {
                document.add_text(fields.description, terms::split_words(&description));
            }
            let mut params = String::new();
            schema_words(&tool.input_schema, 0, &mut params);
            document.add_text(fields.params, terms::split_words(&params));
            document.add_u64(fields.position, position as u64);
            writer.add_document(document).map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(internal)?;
        Ok(Self {
            catalog,
            reader,
            fields,
        })
    }

    /// The catalog it indexes.
    pub fn catalog(&self) -> &Arc<MergedCatalog> {
        &self.catalog
    }

    /// The best `limit` tools for `terms` (from [`query_terms`]) among the
    /// positions `keep` lets through, best first.
    pub fn search(
        &self,
        terms: &[String],
        limit: usize,
        keep: impl Fn(u64) -> bool + Send + Sync + Clone + 'static,
    ) -> Result<Vec<Hit>, GatewayError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let boosted = [
            (self.fields.name, BOOST_NAME),
            (self.fields.title, BOOST_TITLE),
            (self.fields.description, BOOST_DESCRIPTION),
            (self.fields.params, BOOST_PARAMS),
        ];
        // Each word (and, weighing less, each of its synonyms) scores by
        // the field it matches best, plus a little of the others: a tool
        // matching more of the query's words beats one repeating one word
        // in every field.
        let mut weighted: Vec<(&str, f32)> =
            terms.iter().map(|term| (term.as_str(), 1.0)).collect();
        for term in terms {
            for synonym in synonyms::synonyms_of(term) {
                if !weighted.iter().any(|(known, _)| *known == synonym.as_str()) {
                    weighted.push((synonym.as_str(), synonyms::SYNONYM_WEIGHT));
                }
            }
        }
        for (term, weight) in weighted {
            let per_field: Vec<Box<dyn Query>> = boosted
                .iter()
                .map(|&(field, boost)| {
                    let query = TermQuery::new(
                        Term::from_field_text(field, term),
                        IndexRecordOption::WithFreqs,
                    );
                    Box::new(BoostQuery::new(Box::new(query), boost * weight)) as Box<dyn Query>
                })
                .collect();
            clauses.push((
                Occur::Should,
                Box::new(DisjunctionMaxQuery::with_tie_breaker(
                    per_field,
                    TIE_BREAKER,
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let collector = FilterCollector::new(
            "position".to_owned(),
            keep,
            TopDocs::with_limit(limit.max(1)).order_by_score(),
        );
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &collector)
            .map_err(|error| GatewayError::Internal(format!("tool search: {error}")))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("position")
                .map_err(|error| GatewayError::Internal(format!("tool search: {error}")))?;
            let position = column
                .first(address.doc_id)
                .and_then(|position| u32::try_from(position).ok());
            if let Some(position) = position {
                hits.push(Hit { position, score });
            }
        }
        Ok(hits)
    }
}

/// Parameter names and descriptions of a JSON schema, space-separated.
fn schema_words(schema: &Value, depth: usize, out: &mut String) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        out.push_str(name);
        out.push(' ');
        if let Some(description) = property.get("description").and_then(Value::as_str) {
            out.push_str(description);
            out.push(' ');
        }
        schema_words(property, depth + 1, out);
        if let Some(items) = property.get("items") {
            schema_words(items, depth + 1, out);
        }
    }
}

/// The index of the latest catalog, swapped in whole when a new one is
/// built.
#[derive(Debug)]
pub struct ToolSearch {
    current: watch::Sender<Arc<ToolIndex>>,
}

// === impl ToolSearch ===

impl ToolSearch {
    /// A search over `catalog` (CPU work, like [`ToolIndex::build`]).
    pub fn new(catalog: Arc<MergedCatalog>) -> Result<Self, GatewayError> {
        let index = ToolIndex::build(catalog)?;
        Ok(Self {
            current: watch::Sender::new(Arc::new(index)),
        })
    }

    /// Indexes `catalog` and makes it current (unless it is already).
    pub fn rebuild(&self, catalog: Arc<MergedCatalog>) -> Result<(), GatewayError> {
        if Arc::ptr_eq(self.current.borrow().catalog(), &catalog) {
            return Ok(());
        }
        let index = ToolIndex::build(catalog)?;
        self.current.send_replace(Arc::new(index));
        Ok(())
    }

    /// The index of `catalog` — or, when that one is not built yet, the
    /// next index built (of `catalog` or of a newer one: a catalog that
    /// keeps changing makes nobody wait for an index of exactly theirs),
    /// waiting at most `wait` for it (then the latest index).
    pub async fn index_of(&self, catalog: &Arc<MergedCatalog>, wait: Duration) -> Arc<ToolIndex> {
        let mut changes = self.current.subscribe();
        let built = changes.borrow_and_update().clone();
        if Arc::ptr_eq(built.catalog(), catalog) {
            return built;
        }
        let waited = tokio::time::timeout(
            wait,
            changes.wait_for(|index| {
                Arc::ptr_eq(index.catalog(), catalog) || !Arc::ptr_eq(index, &built)
            }),
        )
        .await;
        match waited {
            Ok(Ok(index)) => index.clone(),
            _ => self.current.borrow().clone(),
        }
    }
}

// === impl MergedCatalog ===

impl MergedCatalog {
    /// The exposed name of the tool at `position`.
    pub fn tool_name_at(&self, position: usize) -> Option<&str> {
        self.tools.get(position).map(|item| item.key.as_str())
    }

    /// The MCP JSON of the tool at `position`, as listed.
    pub fn tool_json_at(&self, position: usize) -> Option<bytes::Bytes> {
        (position < self.tools.len())
            .then(|| self.rendered[ListKind::Tools as usize].slice(position, position + 1))
    }
}
