//! `FsService`: the [`McpService`] implementation that wires the fs tools,
//! resources, prompt and completion to a [`RootSet`]. Blocking filesystem
//! work runs on tokio's blocking pool, at most `MAX_RUNNING` pieces at once
//! with `MAX_WAITING` more queued (a [`BlockingPool`]): a hung mount holds a
//! bounded number of threads and the excess is refused as busy.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{CompleteRequest, CompleteResponse, complete_request::Reference};
use micromcp_sdk::{
    BlockingPool, CatalogPublisher, McpService, ResourceContent, ServiceError, ServiceResult,
    ToolCall, ToolEvents, ToolOutput, UpdateStream,
};
use serde_json::json;

use crate::paths::RootSet;
use crate::{FsConfig, FsError, catalog, resources, tools};

/// How often a watched file's metadata is checked.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// File system calls one fs service runs at once …
const MAX_RUNNING: usize = 64;
/// … and may queue before refusing more as busy.
const MAX_WAITING: usize = 1024;

/// The fs micro-service.
pub struct FsService {
    state: Arc<FsState>,
    publisher: CatalogPublisher,
    pool: BlockingPool,
}

struct FsState {
    roots: RootSet,
    config: FsConfig,
}

// === impl FsService ===

impl FsService {
    /// Validates the roots and builds the catalog.
    pub fn new(config: FsConfig) -> Result<Self, String> {
        let roots = RootSet::new(&config.roots, &config.excluded)?
            .serving_secret_files(config.serve_secret_files);
        let publisher = CatalogPublisher::new(catalog::build(&config, &roots));
        Ok(Self {
            state: Arc::new(FsState { roots, config }),
            publisher,
            pool: BlockingPool::new("file system operations", MAX_RUNNING, MAX_WAITING),
        })
    }

    /// The canonical roots served.
    pub fn roots(&self) -> &RootSet {
        &self.state.roots
    }
}

fn tool_output(outcome: Result<serde_json::Value, FsError>) -> ToolOutput {
    match outcome {
        Ok(value) => ToolOutput::structured(value),
        Err(error) => ToolOutput::error(error.to_string()),
    }
}

impl McpService for FsService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.publisher
    }

    async fn call_tool(&self, call: ToolCall, _events: ToolEvents) -> ServiceResult<ToolOutput> {
        let state = self.state.clone();
        match call.name.as_str() {
            "list_dir" => {
                let arguments: tools::PathArguments = call.parse_arguments()?;
                self.pool
                    .run(move || {
                        tool_output(tools::list_dir(&state.roots, &state.config, &arguments))
                    })
                    .await
            }
            "stat" => {
                let arguments: tools::PathArguments = call.parse_arguments()?;
                self.pool
                    .run(move || tool_output(tools::stat(&state.roots, &arguments)))
                    .await
            }
            "read_file" => {
                let arguments: tools::ReadFileArguments = call.parse_arguments()?;
                self.pool.run(move || {
                    match tools::read_file(&state.roots, &state.config, &arguments) {
                        Ok((text, info)) => {
                            let mut content = vec![json!({"type": "text", "text": text})];
                            if info["truncated"] == true {
                                content.push(json!({"type": "text", "text": format!(
                                    "[truncated: bytes {}..{} of {}; call again with offset={} to continue]",
                                    info["offset"], info["offset"].as_u64().unwrap_or(0) + info["length"].as_u64().unwrap_or(0),
                                    info["total_size"], info["offset"].as_u64().unwrap_or(0) + info["length"].as_u64().unwrap_or(0)
                                )}));
                            }
                            ToolOutput::from_value(&json!({"content": content}))
                        }
                        Err(error) => ToolOutput::error(error.to_string()),
                    }
                })
                .await
            }
            "search_files" => {
                let arguments: tools::SearchArguments = call.parse_arguments()?;
                self.pool
                    .run(move || {
                        tool_output(tools::search_files(&state.roots, &state.config, &arguments))
                    })
                    .await
            }
            other => Err(ServiceError::NotFound(format!("unknown tool: {other}"))),
        }
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        let path = resources::uri_to_path(&uri)?;
        let resolved = self.state.roots.resolve(&path)?;
        Ok(resources::open_stream(
            &self.pool,
            &resolved,
            &uri,
            self.state.config.max_resource_bytes,
        )
        .await?)
    }

    async fn watch_resource(&self, uri: String) -> ServiceResult<UpdateStream> {
        let path = resources::uri_to_path(&uri)?;
        let resolved = self.state.roots.resolve(&path)?;
        Ok(resources::watch_changes(resolved.canonical, WATCH_INTERVAL))
    }

    async fn get_prompt(
        &self,
        name: String,
        arguments: HashMap<String, String>,
    ) -> ServiceResult<Bytes> {
        if name != "summarize_file" {
            return Err(ServiceError::NotFound(format!("unknown prompt: {name}")));
        }
        let path = arguments.get("path").ok_or_else(|| {
            ServiceError::InvalidArgument("missing required argument: path".into())
        })?;
        let resolved = self.state.roots.resolve(path)?;
        let content =
            resources::read_capped(&self.pool, &resolved, self.state.config.max_read_bytes).await?;
        let text = String::from_utf8(content.to_vec())
            .map_err(|_| ServiceError::from(FsError::NotText(path.clone())))?;
        let uri = resources::path_to_uri(&resolved.canonical);
        let result = json!({
            "description": format!("Summarize {}", resolved.display),
            "messages": [
                {"role": "user", "content": {"type": "text", "text": format!("Summarize the file {} in a few sentences.", resolved.display)}},
                {"role": "user", "content": {"type": "resource", "resource": {"uri": uri, "mimeType": "text/plain", "text": text}}}
            ]
        });
        Ok(Bytes::from(result.to_string()))
    }

    async fn complete(&self, request: CompleteRequest) -> ServiceResult<CompleteResponse> {
        let prefix = match request.reference {
            Some(Reference::PromptName(name)) if name == "summarize_file" => request.argument_value,
            Some(Reference::ResourceUri(_)) if request.argument_name == "path" => {
                request.argument_value
            }
            _ => return Ok(CompleteResponse::default()),
        };
        let state = self.state.clone();
        self.pool
            .run(move || complete_path(&state.roots, &prefix))
            .await
    }
}

/// Entries of the directory part of `prefix` whose names start with its last part.
fn complete_path(roots: &RootSet, prefix: &str) -> CompleteResponse {
    let (directory, partial) = match prefix.rfind('/') {
        Some(index) => (&prefix[..=index], &prefix[index + 1..]),
        None => ("", prefix),
    };
    let Ok(resolved) = roots.resolve(if directory.is_empty() { "." } else { directory }) else {
        return CompleteResponse::default();
    };
    let Ok(entries) = std::fs::read_dir(&resolved.canonical) else {
        return CompleteResponse::default();
    };
    let mut values: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| !roots.is_excluded(&entry.path()))
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            name.starts_with(partial)
                .then(|| format!("{directory}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    values.sort();
    let total = values.len() as u64;
    let has_more = values.len() > 100;
    values.truncate(100);
    CompleteResponse {
        values,
        total: Some(total),
        has_more,
    }
}
