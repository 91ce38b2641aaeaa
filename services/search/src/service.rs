//! `SearchService`: the search tools and `search://doc/{id}` resources over a
//! [`DocumentIndex`]; every index operation runs on the blocking pool, at
//! most `MAX_RUNNING` at once with `MAX_WAITING` more queued (a
//! [`BlockingPool`]; past them a call is refused as busy).

use std::sync::Arc;

use micromcp_proto::{Catalog, ResourceHeader, ResourceTemplate};
use micromcp_sdk::{
    BlockingPool, Caller, CatalogPublisher, McpService, ResourceContent, ServiceError,
    ServiceResult, ToolCall, ToolEvents, ToolOutput,
};
use serde_json::json;

use crate::crawl::{CrawlProgress, CrawlScope, crawl};
use crate::embed::Embedder;
use crate::freshness::{Freshness, STAMP_TAG_PREFIX};
use crate::reconcile;
use crate::sources::{
    UNNAMED_SOURCE, hidden_tags, is_hidden, mirrored_error, mirrored_source, refuse_look_alikes,
    refuse_reserved_tags, source_tag,
};
use crate::tools::{
    self, DeleteArguments, HybridArguments, IndexArguments, MAX_BATCH, MAX_RESULTS, QueryArguments,
    SimilarArguments,
};
use crate::{DocumentIndex, SearchConfig, SearchError, reciprocal_rank_fusion};

/// URI prefix of documents as resources.
const DOC_URI_PREFIX: &str = "search://doc/";

/// The search micro-service.
pub struct SearchService {
    index: Arc<DocumentIndex>,
    /// Crawled documents are shown only while their file is unchanged.
    freshness: Arc<Freshness>,
    embedder: Option<Embedder>,
    progress: Arc<CrawlProgress>,
    config: SearchConfig,
    publisher: CatalogPublisher,
    pool: BlockingPool,
}

/// Index operations one search service runs at once …
const MAX_RUNNING: usize = 32;
/// … and may queue before refusing more as busy.
const MAX_WAITING: usize = 1024;

/// Runs index work in `pool`.
async fn blocking<T: Send + 'static>(
    pool: &BlockingPool,
    work: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, SearchError> {
    match pool.run(work).await {
        Ok(outcome) => outcome,
        Err(ServiceError::Unavailable(busy)) => Err(SearchError::Busy(busy)),
        Err(other) => Err(SearchError::Index(other.to_string())),
    }
}

fn outcome(result: Result<serde_json::Value, SearchError>) -> ServiceResult<ToolOutput> {
    match result {
        Ok(value) => Ok(ToolOutput::structured(value)),
        Err(SearchError::Index(message)) => Err(ServiceError::Internal(message)),
        Err(busy @ SearchError::Busy(_)) => Err(busy.into()),
        Err(error) => Ok(ToolOutput::error(error.to_string())),
    }
}

impl SearchService {
    /// Opens (or creates) the index; blocking.
    pub fn open(config: SearchConfig) -> Result<Self, SearchError> {
        let index = Arc::new(DocumentIndex::open(
            &config.index_dir,
            config.writer_heap_bytes,
        )?);
        // Before anything is served: no document of a file not served now.
        let scope = Self::crawl_scope(&config);
        let dropped = reconcile::drop_unserved(&index, &scope)?;
        if dropped > 0 {
            tracing::info!(dropped, "crawled documents of files not served now dropped");
        }
        let (freshness, refresher) =
            Freshness::new(&scope, config.crawl_max_file_bytes, index.clone());
        std::thread::Builder::new()
            .name("search-refresh".into())
            .spawn(move || refresher.run())?;
        let embedder = match &config.embeddings_url {
            Some(url) => Some(Embedder::new(
                url.clone(),
                config.embeddings_model.clone(),
                config.embeddings_key_opt.clone(),
            )?),
            None => None,
        };
        let catalog = Catalog {
            tools: tools::definitions(),
            resource_templates: vec![ResourceTemplate {
                uri_template: format!("{DOC_URI_PREFIX}{{id}}"),
                name: "document".into(),
                description: "An indexed document as JSON".into(),
                mime_type: "application/json".into(),
                ..ResourceTemplate::default()
            }],
            instructions: "Full-text (BM25), vector and hybrid search over an on-disk index."
                .into(),
            ..Catalog::default()
        };
        Ok(Self {
            index,
            freshness: Arc::new(freshness),
            embedder,
            progress: Arc::default(),
            config,
            publisher: CatalogPublisher::new(catalog),
            pool: BlockingPool::new("index operations", MAX_RUNNING, MAX_WAITING),
        })
    }

    /// What the crawl reads now and how it marks its documents.
    fn crawl_scope(config: &SearchConfig) -> CrawlScope {
        CrawlScope {
            roots: config.crawl_roots.clone(),
            excluded: config.crawl_excluded.clone(),
            source_tag: source_tag(config.crawl_source.as_deref().unwrap_or(UNNAMED_SOURCE)),
        }
    }

    /// Starts indexing the configured roots in the background.
    pub fn start_crawl(&self) {
        if self.config.crawl_roots.is_empty() {
            return;
        }
        let scope = Self::crawl_scope(&self.config);
        let (index, max_bytes, progress) = (
            self.index.clone(),
            self.config.crawl_max_file_bytes,
            self.progress.clone(),
        );
        tokio::task::spawn_blocking(move || crawl(&index, &scope, max_bytes, &progress));
    }

    /// Source tags the caller of a request may not see.
    fn hidden_for(&self, readable_sources_opt: Option<&[String]>) -> Vec<String> {
        hidden_tags(self.config.crawl_source.as_deref(), readable_sources_opt)
    }

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, SearchError> {
        let embedder = self.embedder.as_ref().ok_or_else(|| {
            SearchError::InvalidArgument(
                "no embeddings endpoint is configured: pass a vector".into(),
            )
        })?;
        embedder
            .embed(&[text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| SearchError::Embeddings("no vector returned".into()))
    }

    async fn index_documents(
        &self,
        mut arguments: IndexArguments,
    ) -> Result<serde_json::Value, SearchError> {
        if arguments.documents.len() > MAX_BATCH {
            return Err(SearchError::InvalidArgument(format!(
                "at most {MAX_BATCH} documents per call"
            )));
        }
        refuse_reserved_tags(&arguments.documents)?;
        let ids: Vec<String> = arguments
            .documents
            .iter()
            .map(|document| document.id.clone())
            .collect();
        self.refuse_mirrored(ids).await?;
        refuse_look_alikes(&arguments.documents)?;
        if let Some(embedder) = &self.embedder {
            let missing: Vec<usize> = (0..arguments.documents.len())
                .filter(|at| arguments.documents[*at].vector.is_none())
                .collect();
            if !missing.is_empty() {
                let texts: Vec<String> = missing
                    .iter()
                    .map(|at| {
                        format!(
                            "{}\n{}",
                            arguments.documents[*at].title, arguments.documents[*at].body
                        )
                    })
                    .collect();
                for (at, vector) in missing.into_iter().zip(embedder.embed(&texts).await?) {
                    arguments.documents[at].vector = Some(vector);
                }
            }
        }
        let index = self.index.clone();
        let count = blocking(&self.pool, move || index.upsert(&arguments.documents)).await?;
        Ok(json!({"indexed": count}))
    }

    /// Refuses to change documents that mirror a crawled source.
    async fn refuse_mirrored(&self, ids: Vec<String>) -> Result<(), SearchError> {
        let index = self.index.clone();
        blocking(&self.pool, move || {
            for id in &ids {
                if let Ok(document) = index.get(id)
                    && let Some(source) = mirrored_source(&document)
                {
                    return Err(mirrored_error(id, source));
                }
            }
            Ok(())
        })
        .await
    }

    async fn similar(
        &self,
        arguments: SimilarArguments,
        hidden: Vec<String>,
    ) -> Result<serde_json::Value, SearchError> {
        let k = arguments.k.clamp(1, MAX_RESULTS);
        let vector = match (arguments.vector, arguments.id, arguments.text) {
            (Some(vector), None, None) => vector,
            (None, Some(id), None) => {
                let index = self.index.clone();
                let hidden = hidden.clone();
                blocking(&self.pool, move || {
                    if index
                        .get(&id)
                        .is_ok_and(|document| is_hidden(&document, &hidden))
                    {
                        return Err(SearchError::NotFound(id));
                    }
                    index.vector_of(&id)
                })
                .await?
            }
            (None, None, Some(text)) => self.embed_one(&text).await?,
            _ => {
                return Err(SearchError::InvalidArgument(
                    "give exactly one of vector, id or text".into(),
                ));
            }
        };
        let (index, freshness) = (self.index.clone(), self.freshness.clone());
        blocking(&self.pool, move || {
            let nearest = index.nearest(&vector, k, &hidden)?;
            Ok(json!({"hits": current_hits(&index, &freshness, &nearest, k)}))
        })
        .await
    }

    async fn hybrid(
        &self,
        arguments: HybridArguments,
        hidden: Vec<String>,
    ) -> Result<serde_json::Value, SearchError> {
        let k = arguments.k.clamp(1, MAX_RESULTS);
        let vector = match arguments.vector {
            Some(vector) => Some(vector),
            None if self.embedder.is_some() && arguments.vector_weight > 0.0 => {
                Some(self.embed_one(&arguments.query).await?)
            }
            None => None,
        };
        if arguments.bm25_weight < 0.0 || arguments.vector_weight < 0.0 {
            return Err(SearchError::InvalidArgument(
                "weights must be non-negative".into(),
            ));
        }
        let (index, freshness) = (self.index.clone(), self.freshness.clone());
        blocking(&self.pool, move || {
            let candidates = (k * 4).min(1000);
            let lexical =
                index.query_ids(&arguments.query, &arguments.tags, &hidden, candidates)?;
            let mut lists = vec![(arguments.bm25_weight, lexical)];
            if let Some(vector) = vector {
                let semantic = index
                    .nearest(&vector, candidates, &hidden)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                lists.push((arguments.vector_weight, semantic));
            }
            let fused = reciprocal_rank_fusion(&lists);
            let hits = current_hits(&index, &freshness, &fused, k);
            Ok(json!({"hits": hits, "vector_used": lists.len() == 2}))
        })
        .await
    }
}

impl McpService for SearchService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.publisher
    }

    async fn call_tool(&self, call: ToolCall, _events: ToolEvents) -> ServiceResult<ToolOutput> {
        let index = self.index.clone();
        let hidden = self.hidden_for(call.readable_sources_opt.as_deref());
        match call.name.as_str() {
            "index" => outcome(self.index_documents(call.parse_arguments()?).await),
            "delete" => {
                let arguments: DeleteArguments = call.parse_arguments()?;
                let count = arguments.ids.len();
                if let Err(error) = self.refuse_mirrored(arguments.ids.clone()).await {
                    return outcome(Err(error));
                }
                outcome(
                    blocking(&self.pool, move || index.delete(&arguments.ids))
                        .await
                        .map(|()| json!({"deleted": count})),
                )
            }
            "query" => {
                let arguments: QueryArguments = call.parse_arguments()?;
                let limit = arguments.limit.clamp(1, MAX_RESULTS);
                let freshness = self.freshness.clone();
                outcome(
                    blocking(&self.pool, move || {
                        let (hits, total) = index.query_where(
                            &arguments.query,
                            &arguments.tags,
                            &hidden,
                            arguments.offset,
                            limit,
                            &|document| freshness.is_current(document),
                        )?;
                        Ok(json!({"hits": hits, "total": total, "offset": arguments.offset}))
                    })
                    .await,
                )
            }
            "similar" => outcome(self.similar(call.parse_arguments()?, hidden).await),
            "hybrid" => outcome(self.hybrid(call.parse_arguments()?, hidden).await),
            "stats" => {
                let progress = self.progress.to_json();
                outcome(
                    blocking(&self.pool, move || {
                        let (documents, vectors, dimensions, segments) = index.stats();
                        Ok(json!({"documents": documents, "vectors": vectors, "dimensions": dimensions, "segments": segments, "crawl": progress}))
                    })
                    .await,
                )
            }
            other => Err(ServiceError::NotFound(format!("unknown tool: {other}"))),
        }
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        self.read_resource_for(uri, Caller::default()).await
    }

    async fn read_resource_for(
        &self,
        uri: String,
        caller: Caller,
    ) -> ServiceResult<ResourceContent> {
        let hidden = self.hidden_for(caller.readable_sources_opt.as_deref());
        let id = uri
            .strip_prefix(DOC_URI_PREFIX)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ServiceError::NotFound(format!("resource not found: {uri}")))?
            .to_owned();
        let (index, freshness) = (self.index.clone(), self.freshness.clone());
        let mut document = blocking(&self.pool, move || {
            index.get(&id).and_then(|document| {
                match is_hidden(&document, &hidden) || !freshness.is_current(&document) {
                    true => Err(SearchError::NotFound(id)),
                    false => Ok(document),
                }
            })
        })
        .await
        .map_err(|error| match error {
            SearchError::NotFound(_) => {
                ServiceError::NotFound(format!("resource not found: {uri}"))
            }
            other => ServiceError::from(other),
        })?;
        document
            .tags
            .retain(|tag| !tag.starts_with(STAMP_TAG_PREFIX));
        let body = serde_json::to_vec(&document)
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        let header = ResourceHeader {
            uri,
            mime_type: "application/json".into(),
            is_text: true,
            size: Some(body.len() as u64),
        };
        Ok(ResourceContent::from_bytes(header, body.into()))
    }
}

/// The first `k` of `ranked` (id, score) whose documents may be shown, as
/// hits (id, title, url, score); stale crawled ones are queued for refresh.
fn current_hits(
    index: &DocumentIndex,
    freshness: &Freshness,
    ranked: &[(String, f32)],
    k: usize,
) -> Vec<serde_json::Value> {
    ranked
        .iter()
        .filter_map(|(id, score)| {
            let document = index.get(id).ok()?;
            freshness.is_current(&document).then(
                || json!({"id": id, "title": document.title, "url": document.url, "score": score}),
            )
        })
        .take(k)
        .collect()
}
