//! A client of a registry that speaks the official MCP Registry API
//! (`GET /v0.1/servers?search=…`, `GET /v0.1/servers/{name}/versions/latest`)
//! and the turning of one of its entries into a bridge entry (`entry`).
//! Answers are bounded (size, time); the registry's text is data, shown or
//! converted, never run as given: a package becomes its type's runner's
//! command line (`package`, within `checks`), shown as a `plan` whose
//! digest the operator sends back to add it.

mod checks;
mod entry;
mod package;
mod plan;
mod versions;

use std::time::Duration;

use serde_json::Value;

pub use self::checks::{DENIED_ENV, DENIED_ENV_PREFIXES, reorders_text};
pub use self::entry::{Choices, Prefer, bridge_entry, local_name};
pub use self::plan::{Input, Plan, Runs};
pub use crate::config::DEFAULT_REGISTRY_URL;

/// Largest registry answer read.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// How long one registry request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a registry request or conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("registry has no server named {0:?}")]
    NotFound(String),
    #[error("registry answer is not what the MCP Registry API describes: {0}")]
    Malformed(String),
    #[error("the entry cannot be bridged: {0}")]
    Unusable(String),
    #[error("{0}")]
    MissingInputs(String),
}

/// One server as a search lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerSummary {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub version: String,
    /// `npm @acme/mcp`, `remote streamable-http https://…`.
    pub ways: Vec<String>,
    /// The name it gets as a service unless told otherwise.
    pub local_name: String,
}

/// A registry at one base URL.
#[derive(Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
}

// === impl RegistryClient ===

impl RegistryClient {
    /// A client of the registry at `base` (`https://host[/prefix]`).
    pub fn new(base: &str) -> Result<Self, RegistryError> {
        let parsed = url::Url::parse(base).map_err(|error| RegistryError::Unreachable {
            url: base.to_owned(),
            message: error.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RegistryError::Unreachable {
                url: base.to_owned(),
                message: "not an http(s) URL".into(),
            });
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|error| RegistryError::Unreachable {
                url: base.to_owned(),
                message: error.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The latest versions of the servers matching `query` (at most `limit`).
    pub async fn search(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ServerSummary>, RegistryError> {
        let mut url = url::Url::parse(&format!("{}/v0.1/servers", self.base))
            .map_err(|error| RegistryError::Malformed(error.to_string()))?;
        url.query_pairs_mut()
            .append_pair("search", query)
            .append_pair("version", "latest")
            .append_pair("limit", &limit.clamp(1, 100).to_string());
        let answer = self.get(url.as_str()).await?;
        let servers = answer
            .get("servers")
            .and_then(Value::as_array)
            .ok_or_else(|| RegistryError::Malformed("no \"servers\" list".into()))?;
        Ok(servers
            .iter()
            .filter_map(|listed| listed.get("server"))
            .take(limit)
            .map(summary)
            .collect())
    }

    /// The latest `server.json` of `name`.
    pub async fn latest(&self, name: &str) -> Result<Value, RegistryError> {
        let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let url = format!("{}/v0.1/servers/{encoded}/versions/latest", self.base);
        let answer = match self.get(&url).await {
            Err(RegistryError::NotFound(_)) => {
                return Err(RegistryError::NotFound(name.to_owned()));
            }
            other => other?,
        };
        let server = answer
            .get("server")
            .cloned()
            .ok_or_else(|| RegistryError::Malformed("no \"server\" object".into()))?;
        // An answer about another server is never used in its place.
        let answered = server.get("name").and_then(Value::as_str);
        if answered != Some(name) {
            return Err(RegistryError::Malformed(format!(
                "asked for {name:?}, the answer names {:?}",
                answered.unwrap_or_default()
            )));
        }
        Ok(server)
    }

    async fn get(&self, url: &str) -> Result<Value, RegistryError> {
        let unreachable = |message: String| RegistryError::Unreachable {
            url: url.to_owned(),
            message,
        };
        let mut response = self
            .http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|error| {
                unreachable(crate::error::with_causes(
                    error.to_string(),
                    std::error::Error::source(&error),
                ))
            })?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(url.to_owned()));
        }
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| unreachable(error.to_string()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(unreachable(format!("answer over {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|error| RegistryError::Malformed(error.to_string()))
    }
}

fn summary(server: &Value) -> ServerSummary {
    let text = |key: &str| {
        server
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let name = text("name");
    let mut ways = Vec::new();
    for package in server
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| package.get(key).and_then(Value::as_str).unwrap_or("?");
        ways.push(format!("{} {}", field("registryType"), field("identifier")));
    }
    for remote in server
        .get("remotes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |key: &str| remote.get(key).and_then(Value::as_str).unwrap_or("?");
        ways.push(format!("remote {} {}", field("type"), field("url")));
    }
    ServerSummary {
        local_name: local_name(&name),
        title: server
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned),
        description: text("description"),
        version: text("version"),
        ways,
        name,
    }
}
