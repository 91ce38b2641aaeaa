//! `DocumentIndex`: the tantivy index (schema, one writer, a reader reloaded
//! after each commit) plus the in-memory [`VectorStore`] rebuilt from stored
//! vectors at open. Methods block; callers run them on the blocking pool.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RegexQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::query_shape::check_query_shape;
use crate::sources::{SOURCE_TAG_PREFIX, is_hidden};
use crate::{SearchError, VectorStore};

/// A document as callers give and get it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedDocument {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// One BM25 hit.
#[derive(Debug, Clone, Serialize)]
pub struct QueryHit {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub score: f32,
    /// Best fragment of the body, matches wrapped in `<b>…</b>`.
    pub snippet: String,
}

struct Fields {
    id: Field,
    title: Field,
    body: Field,
    url: Field,
    tags: Field,
    vector: Field,
}

/// The on-disk index and its vectors.
pub struct DocumentIndex {
    index: Index,
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    vectors: RwLock<VectorStore>,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        title: builder.add_text_field("title", TEXT | STORED),
        body: builder.add_text_field("body", TEXT | STORED),
        url: builder.add_text_field("url", STRING | STORED),
        tags: builder.add_text_field("tags", STRING | STORED),
        vector: builder.add_bytes_field("vector", STORED),
    };
    (builder.build(), fields)
}

fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

impl DocumentIndex {
    /// Opens the index in `directory`, creating it if needed, and loads vectors.
    pub fn open(directory: &Path, writer_heap_bytes: usize) -> Result<Self, SearchError> {
        std::fs::create_dir_all(directory)
            .map_err(|error| SearchError::Index(format!("{}: {error}", directory.display())))?;
        let (schema, fields) = schema();
        let mmap = MmapDirectory::open(directory)
            .map_err(|error| SearchError::Index(error.to_string()))?;
        let index = Index::open_or_create(mmap, schema)?;
        let writer = index.writer(writer_heap_bytes.max(15_000_000))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let opened = Self {
            index,
            fields,
            writer: Mutex::new(writer),
            reader,
            vectors: RwLock::default(),
        };
        opened.load_vectors()?;
        Ok(opened)
    }

    fn read_vectors(&self) -> Result<std::sync::RwLockReadGuard<'_, VectorStore>, SearchError> {
        self.vectors
            .read()
            .map_err(|_| SearchError::Index("vector store poisoned".into()))
    }

    fn write_vectors(&self) -> Result<std::sync::RwLockWriteGuard<'_, VectorStore>, SearchError> {
        self.vectors
            .write()
            .map_err(|_| SearchError::Index("vector store poisoned".into()))
    }

    fn lock_writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>, SearchError> {
        self.writer
            .lock()
            .map_err(|_| SearchError::Index("writer poisoned".into()))
    }

    fn load_vectors(&self) -> Result<(), SearchError> {
        let searcher = self.reader.searcher();
        let mut store = VectorStore::default();
        for segment in searcher.segment_readers() {
            let store_reader = segment.get_store_reader(64)?;
            for doc_id in 0..segment.max_doc() {
                if segment.is_deleted(doc_id) {
                    continue;
                }
                let document: TantivyDocument = store_reader.get(doc_id)?;
                if let (Some(id), Some(bytes)) = (
                    document
                        .get_first(self.fields.id)
                        .and_then(|value| value.as_str()),
                    document
                        .get_first(self.fields.vector)
                        .and_then(|value| value.as_bytes()),
                ) {
                    store.upsert(id, &vector_from_bytes(bytes))?;
                }
            }
        }
        *self.write_vectors()? = store;
        Ok(())
    }

    /// Adds or replaces documents and commits; returns how many were written.
    pub fn upsert(&self, documents: &[IndexedDocument]) -> Result<usize, SearchError> {
        {
            let vectors = self.read_vectors()?;
            let mut dimensions = vectors.dimensions();
            for document in documents {
                if document.id.is_empty() {
                    return Err(SearchError::InvalidArgument(
                        "every document needs a non-empty id".into(),
                    ));
                }
                if let Some(vector) = &document.vector {
                    if dimensions != 0 && vector.len() != dimensions {
                        return Err(SearchError::Dimensions {
                            expected: dimensions,
                            found: vector.len(),
                        });
                    }
                    dimensions = vector.len();
                    if vector.is_empty() || vector.iter().any(|value| !value.is_finite()) {
                        return Err(SearchError::InvalidArgument(format!(
                            "document {:?}: invalid vector",
                            document.id
                        )));
                    }
                }
            }
        }
        let mut writer = self.lock_writer()?;
        for document in documents {
            writer.delete_term(Term::from_field_text(self.fields.id, &document.id));
            let mut stored = TantivyDocument::default();
            stored.add_text(self.fields.id, &document.id);
            stored.add_text(self.fields.title, &document.title);
            stored.add_text(self.fields.body, &document.body);
            if !document.url.is_empty() {
                stored.add_text(self.fields.url, &document.url);
            }
            for tag in &document.tags {
                stored.add_text(self.fields.tags, tag);
            }
            if let Some(vector) = &document.vector {
                stored.add_bytes(self.fields.vector, &vector_bytes(vector));
            }
            writer.add_document(stored)?;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        let mut vectors = self.write_vectors()?;
        for document in documents {
            match &document.vector {
                Some(vector) => vectors.upsert(&document.id, vector)?,
                None => vectors.remove(&document.id),
            }
        }
        Ok(documents.len())
    }

    /// Deletes documents by id and commits.
    pub fn delete(&self, ids: &[String]) -> Result<(), SearchError> {
        let mut writer = self.lock_writer()?;
        for id in ids {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        let mut vectors = self.write_vectors()?;
        for id in ids {
            vectors.remove(id);
        }
        Ok(())
    }

    fn to_document(&self, stored: &TantivyDocument) -> IndexedDocument {
        let text = |field: Field| {
            stored
                .get_first(field)
                .and_then(|value| value.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        IndexedDocument {
            id: text(self.fields.id),
            title: text(self.fields.title),
            body: text(self.fields.body),
            url: text(self.fields.url),
            tags: stored
                .get_all(self.fields.tags)
                .filter_map(|value| value.as_str().map(str::to_owned))
                .collect(),
            vector: stored
                .get_first(self.fields.vector)
                .and_then(|value| value.as_bytes())
                .map(vector_from_bytes),
        }
    }

    /// The stored document `id`.
    pub fn get(&self, id: &str) -> Result<IndexedDocument, SearchError> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let (_, address) = top
            .first()
            .ok_or_else(|| SearchError::NotFound(id.to_owned()))?;
        let stored: TantivyDocument = searcher.doc(*address)?;
        Ok(self.to_document(&stored))
    }

    /// Every crawled document (one carrying a `source:` tag, which only the
    /// crawl writes): its id and tags.
    pub fn crawled_documents(&self) -> Result<Vec<(String, Vec<String>)>, SearchError> {
        let searcher = self.reader.searcher();
        let query = RegexQuery::from_pattern(&format!("{SOURCE_TAG_PREFIX}.*"), self.fields.tags)?;
        let addresses = searcher.search(&query, &DocSetCollector)?;
        addresses
            .into_iter()
            .map(|address| {
                let stored: TantivyDocument = searcher.doc(address)?;
                let document = self.to_document(&stored);
                Ok((document.id, document.tags))
            })
            .collect()
    }

    /// Documents for `ids`, in order, skipping missing ones.
    pub fn get_many(&self, ids: &[String]) -> Vec<IndexedDocument> {
        ids.iter().filter_map(|id| self.get(id).ok()).collect()
    }

    /// `query` restricted to documents with every tag of `tags` and none
    /// of `hidden_tags`.
    fn parse(
        &self,
        query: &str,
        tags: &[String],
        hidden_tags: &[String],
    ) -> Result<Box<dyn Query>, SearchError> {
        check_query_shape(query)?;
        let parser = QueryParser::for_index(&self.index, vec![self.fields.title, self.fields.body]);
        let parsed = parser
            .parse_query(query)
            .map_err(|error| SearchError::Query(error.to_string()))?;
        if tags.is_empty() && hidden_tags.is_empty() {
            return Ok(parsed);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, parsed)];
        let required = tags.iter().map(|tag| (Occur::Must, tag));
        let excluded = hidden_tags.iter().map(|tag| (Occur::MustNot, tag));
        for (occur, tag) in required.chain(excluded) {
            let term = Term::from_field_text(self.fields.tags, tag);
            clauses.push((
                occur,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// BM25 search: `(hits, total matches)`.
    pub fn query(
        &self,
        query: &str,
        tags: &[String],
        hidden_tags: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<QueryHit>, usize), SearchError> {
        self.query_where(query, tags, hidden_tags, offset, limit, &|_| true)
    }

    /// BM25 search showing only the hits `keep` accepts, checked before
    /// their snippet is made: `(hits, total matches less those dropped)`.
    pub fn query_where(
        &self,
        query: &str,
        tags: &[String],
        hidden_tags: &[String],
        offset: usize,
        limit: usize,
        keep: &dyn Fn(&IndexedDocument) -> bool,
    ) -> Result<(Vec<QueryHit>, usize), SearchError> {
        let searcher = self.reader.searcher();
        let parsed = self.parse(query, tags, hidden_tags)?;
        let (top, total) = searcher.search(
            &parsed,
            &(
                TopDocs::with_limit(limit.max(1))
                    .and_offset(offset)
                    .order_by_score(),
                Count,
            ),
        )?;
        let mut snippets = SnippetGenerator::create(&searcher, &*parsed, self.fields.body)?;
        snippets.set_max_num_chars(200);
        let mut hits = Vec::with_capacity(top.len());
        let mut dropped = 0;
        for (score, address) in top {
            let stored: TantivyDocument = searcher.doc(address)?;
            let document = self.to_document(&stored);
            if !keep(&document) {
                dropped += 1;
                continue;
            }
            let snippet = snippets.snippet_from_doc(&stored).to_html();
            hits.push(QueryHit {
                id: document.id,
                title: document.title,
                url: document.url,
                score,
                snippet,
            });
        }
        Ok((hits, total.saturating_sub(dropped)))
    }

    /// Ranked ids for `query` (for fusion).
    pub fn query_ids(
        &self,
        query: &str,
        tags: &[String],
        hidden_tags: &[String],
        limit: usize,
    ) -> Result<Vec<String>, SearchError> {
        Ok(self
            .query(query, tags, hidden_tags, 0, limit)?
            .0
            .into_iter()
            .map(|hit| hit.id)
            .collect())
    }

    /// Nearest documents to `vector`, none carrying a `hidden_tags` tag.
    pub fn nearest(
        &self,
        vector: &[f32],
        k: usize,
        hidden_tags: &[String],
    ) -> Result<Vec<(String, f32)>, SearchError> {
        if hidden_tags.is_empty() {
            return self.read_vectors()?.nearest(vector, k);
        }
        let candidates = self.read_vectors()?.nearest(vector, (k * 4).min(4000))?;
        Ok(candidates
            .into_iter()
            .filter(|(id, _)| {
                self.get(id)
                    .is_ok_and(|document| !is_hidden(&document, hidden_tags))
            })
            .take(k)
            .collect())
    }

    /// The stored vector of `id`.
    pub fn vector_of(&self, id: &str) -> Result<Vec<f32>, SearchError> {
        self.read_vectors()?
            .get(id)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| SearchError::NotFound(format!("{id} (no vector)")))
    }

    /// (documents, vectors, dimensions, segments).
    pub fn stats(&self) -> (u64, usize, usize, usize) {
        let searcher = self.reader.searcher();
        let (vectors, dimensions) = self
            .vectors
            .read()
            .map(|store| (store.len(), store.dimensions()))
            .unwrap_or_default();
        (
            searcher.num_docs(),
            vectors,
            dimensions,
            searcher.segment_readers().len(),
        )
    }
}
