//! `Embedder`: turns text into vectors through an OpenAI-compatible
//! embeddings endpoint (`POST {"model", "input": [..]}` →
//! `{"data": [{"index", "embedding"}]}`), when one is configured.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::SearchError;

/// Client of one embeddings endpoint.
pub struct Embedder {
    client: reqwest::Client,
    url: String,
    model: String,
    key_opt: Option<String>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

/// The environment variable holding the embeddings endpoint's key.
pub const EMBEDDINGS_KEY_ENV: &str = "MICROMCP_EMBEDDINGS_KEY";

impl Embedder {
    /// A client for `url` (its bearer key, if any: `micromcp search` takes it
    /// from `MICROMCP_EMBEDDINGS_KEY`, given on stdin by `up`).
    pub fn new(url: String, model: String, key_opt: Option<String>) -> Result<Self, SearchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| SearchError::Embeddings(error.to_string()))?;
        Ok(Self {
            client,
            url,
            model,
            key_opt,
        })
    }

    /// One vector per input text, in order.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SearchError> {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(json!({"model": self.model, "input": texts}).to_string());
        if let Some(key) = &self.key_opt {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|error| SearchError::Embeddings(error.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| SearchError::Embeddings(error.without_url().to_string()))?;
        if !status.is_success() {
            return Err(SearchError::Embeddings(format!("HTTP {status}")));
        }
        let mut parsed: EmbeddingResponse = serde_json::from_slice(&body)
            .map_err(|error| SearchError::Embeddings(format!("unexpected response: {error}")))?;
        if parsed.data.len() != texts.len() {
            return Err(SearchError::Embeddings(format!(
                "{} vectors for {} inputs",
                parsed.data.len(),
                texts.len()
            )));
        }
        parsed.data.sort_by_key(|item| item.index);
        Ok(parsed.data.into_iter().map(|item| item.embedding).collect())
    }
}
