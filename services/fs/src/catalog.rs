//! The fs service's catalog: tool definitions with their JSON schemas, the
//! top-level files of each root as resources, one template per root, and the
//! `summarize_file` prompt.

use std::path::Path;

use bytes::Bytes;
use micromcp_proto::{
    Catalog, Prompt, PromptArgument, Resource, ResourceTemplate, Tool, ToolAnnotations,
};
use serde_json::json;

use crate::FsConfig;
use crate::paths::RootSet;
use crate::resources::path_to_uri;

fn read_only_annotations(title: &str) -> ToolAnnotations {
    ToolAnnotations {
        title: Some(title.to_owned()),
        read_only_hint: Some(true),
        destructive_hint: Some(false),
        idempotent_hint: Some(true),
        open_world_hint: Some(false),
    }
}

fn tool(name: &str, title: &str, description: &str, schema: &serde_json::Value) -> Tool {
    Tool {
        name: name.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        input_schema_json: Bytes::from(schema.to_string()),
        output_schema_json: Bytes::new(),
        annotations: Some(read_only_annotations(title)),
        extra_json: Bytes::new(),
    }
}

fn path_property(description: &str) -> serde_json::Value {
    json!({"type": "string", "description": description})
}

/// The tool definitions.
pub(crate) fn tools(config: &FsConfig) -> Vec<Tool> {
    vec![
        tool(
            "list_dir",
            "List directory",
            "List the entries of a directory under the allowed roots (name, type, size).",
            &json!({
                "type": "object",
                "properties": {"path": path_property("Directory, relative to the first root or absolute; default: the root")},
                "additionalProperties": false
            }),
        ),
        tool(
            "stat",
            "File info",
            "Report type, size, modification time and permissions of a file or directory.",
            &json!({
                "type": "object",
                "properties": {"path": path_property("File or directory, relative to the first root or absolute")},
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        tool(
            "read_file",
            "Read text file",
            &format!(
                "Read a UTF-8 text file, optionally a byte range (offset, length). At most {} bytes per call.",
                config.max_read_bytes
            ),
            &json!({
                "type": "object",
                "properties": {
                    "path": path_property("File, relative to the first root or absolute"),
                    "offset": {"type": "integer", "minimum": 0, "description": "First byte to read (default 0)"},
                    "length": {"type": "integer", "minimum": 0, "description": "Bytes to read (default: up to the per-call limit)"}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        tool(
            "search_files",
            "Find files by glob",
            "Find files whose path relative to the search directory matches a glob (e.g. `**/*.rs`).",
            &json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Glob, e.g. `**/*.md` or `src/*.rs`"},
                    "path": path_property("Directory to search (default: the root)")
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
        ),
    ]
}

/// The whole catalog for `roots`.
pub(crate) fn build(config: &FsConfig, roots: &RootSet) -> Catalog {
    let mut resources = Vec::new();
    let mut resource_templates = Vec::new();
    for root in roots.roots() {
        resource_templates.push(ResourceTemplate {
            uri_template: format!("{}/{{+path}}", path_to_uri(root)),
            name: format!("files under {}", root.display()),
            title: String::new(),
            description: format!("Any file under the read-only root {}", root.display()),
            mime_type: String::new(),
        });
        list_top_level_files(roots, root, config.max_listed_resources, &mut resources);
    }
    Catalog {
        tools: tools(config),
        resources,
        resource_templates,
        prompts: vec![Prompt {
            name: "summarize_file".into(),
            title: "Summarize a file".into(),
            description: "Ask the model to summarize one file under the roots".into(),
            arguments: vec![PromptArgument {
                name: "path".into(),
                description: "File to summarize, relative to the first root".into(),
                required: true,
            }],
        }],
        instructions:
            "Read-only access to local files. Paths are relative to the first root unless absolute."
                .into(),
        supports_completion: true,
        supports_subscriptions: true,
        supports_tasks: false,
    }
}

fn list_top_level_files(roots: &RootSet, root: &Path, limit: usize, resources: &mut Vec<Resource>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter(|entry| !roots.is_excluded(&entry.path()))
        .collect();
    files.sort_by_key(std::fs::DirEntry::file_name);
    for entry in files.into_iter().take(limit) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        resources.push(Resource {
            uri: path_to_uri(&path),
            mime_type: crate::resources::guess_mime(&path).to_owned(),
            size: entry.metadata().ok().map(|metadata| metadata.len()),
            name,
            title: String::new(),
            description: String::new(),
        });
    }
}
