//! `FetchService`: the `get` and `get_markdown` tools over a [`Fetcher`].
//! Refusals and failures are tool errors (`isError`) the model can read.

use std::collections::BTreeMap;

use bytes::Bytes;
use micromcp_proto::{Catalog, Tool, ToolAnnotations};
use micromcp_sdk::{
    CatalogPublisher, McpService, ResourceContent, ServiceError, ServiceResult, ToolCall,
    ToolEvents, ToolOutput,
};
use serde::Deserialize;
use serde_json::json;

use crate::fetcher::{Fetched, Fetcher};
use crate::{FetchConfig, FetchError};

/// The fetch micro-service.
pub struct FetchService {
    fetcher: Fetcher,
    publisher: CatalogPublisher,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArguments {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn tool(name: &str, title: &str, description: &str) -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "http(s) URL on the fetch allowlist"},
            "headers": {"type": "object", "description": "Optional request headers: accept, accept-language", "additionalProperties": {"type": "string"}}
        },
        "required": ["url"],
        "additionalProperties": false
    });
    Tool {
        name: name.into(),
        title: title.into(),
        description: description.into(),
        input_schema_json: Bytes::from(schema.to_string()),
        annotations: Some(ToolAnnotations {
            title: Some(title.into()),
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
        }),
        ..Tool::default()
    }
}

fn is_text(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
}

fn is_html(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "text/html" || media == "application/xhtml+xml"
}

impl FetchService {
    /// Builds the HTTP client and catalog.
    pub fn new(config: &FetchConfig) -> Result<Self, FetchError> {
        let catalog = Catalog {
            tools: vec![
                tool(
                    "get",
                    "Fetch a URL",
                    "GET a URL on the allowlist; returns its text with the content type and the final URL after redirects.",
                ),
                tool(
                    "get_markdown",
                    "Fetch a page as Markdown",
                    "GET an HTML page on the allowlist and return it converted to readable Markdown.",
                ),
            ],
            instructions: format!(
                "HTTP(S) GET limited to: {}",
                if config.allow_domains.is_empty() {
                    "nothing (empty allowlist)".to_owned()
                } else {
                    config.allow_domains.join(", ")
                }
            ),
            ..Catalog::default()
        };
        Ok(Self {
            fetcher: Fetcher::new(config)?,
            publisher: CatalogPublisher::new(catalog),
        })
    }

    async fn fetch(&self, call: &ToolCall) -> ServiceResult<Result<Fetched, FetchError>> {
        let arguments: GetArguments = call.parse_arguments()?;
        let headers: Vec<(String, String)> = arguments.headers.into_iter().collect();
        let headers = match Fetcher::headers(&headers) {
            Ok(headers) => headers,
            Err(error) => return Ok(Err(error)),
        };
        Ok(self.fetcher.get(&arguments.url, headers).await)
    }
}

fn describe(fetched: &Fetched, text: String) -> ToolOutput {
    ToolOutput::from_value(&json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"url": fetched.final_url.as_str(), "status": fetched.status, "contentType": fetched.content_type, "bytes": fetched.body.len()},
        "isError": fetched.status >= 400,
    }))
}

impl McpService for FetchService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.publisher
    }

    async fn call_tool(&self, call: ToolCall, _events: ToolEvents) -> ServiceResult<ToolOutput> {
        let markdown = match call.name.as_str() {
            "get" => false,
            "get_markdown" => true,
            other => return Err(ServiceError::NotFound(format!("unknown tool: {other}"))),
        };
        let fetched = match self.fetch(&call).await? {
            Ok(fetched) => fetched,
            Err(error) => return Ok(ToolOutput::error(error.to_string())),
        };
        if !is_text(&fetched.content_type) {
            return Ok(ToolOutput::error(format!(
                "{} is {} ({} bytes), not text",
                fetched.final_url,
                fetched.content_type,
                fetched.body.len()
            )));
        }
        let text = String::from_utf8_lossy(&fetched.body).into_owned();
        if !markdown {
            return Ok(describe(&fetched, text));
        }
        if !is_html(&fetched.content_type) {
            return Ok(describe(&fetched, text));
        }
        let converted =
            tokio::task::spawn_blocking(move || crate::markdown::html_to_markdown(&text))
                .await
                .map_err(|error| ServiceError::Internal(error.to_string()))?
                .map_err(|error| {
                    ServiceError::Internal(format!("markdown conversion failed: {error}"))
                })?;
        Ok(describe(&fetched, converted))
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        Err(ServiceError::NotFound(format!("resource not found: {uri}")))
    }
}
