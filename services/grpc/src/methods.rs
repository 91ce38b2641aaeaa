//! From a descriptor pool to tools: each unary or server-streaming method
//! the allow/deny lists admit becomes one tool named `Service.Method` (the
//! full `package.Service.Method` where two packages share a service name),
//! with its input schema and a description from the proto comments.
//! Client-streaming and bidirectional methods are left out with a note in
//! the log; at most [`MAX_TOOLS`] tools are offered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{Catalog, Tool, ToolAnnotations};
use prost_reflect::{DescriptorPool, MessageDescriptor};

use crate::schema::{Comments, input_schema};
use crate::settings::MethodFilter;

/// Tools offered from one target.
pub const MAX_TOOLS: usize = 1000;

/// One method offered as a tool.
#[derive(Debug, Clone)]
pub struct MethodTool {
    /// `package.Service/Method`, as the allow/deny lists see it.
    pub full_name: String,
    /// `/package.Service/Method`.
    pub path: String,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    pub server_streaming: bool,
}

/// The tools of one read of the target's descriptors.
#[derive(Debug, Default)]
pub struct Methods {
    pub by_tool: HashMap<String, Arc<MethodTool>>,
    pub catalog: Catalog,
}

/// Turns the services of `pool` into tools: only those in `listed_opt`
/// when given (reflection lists what the target serves; a file it sends
/// may define more).
pub fn methods_of(
    pool: &DescriptorPool,
    listed_opt: Option<&HashSet<String>>,
    filter: &MethodFilter,
) -> Methods {
    let mut comments = Comments::default();
    let mut short_names: HashMap<String, usize> = HashMap::new();
    for service in pool.services() {
        *short_names.entry(service.name().to_owned()).or_default() += 1;
    }
    let mut methods = Methods::default();
    let mut seen = HashSet::new();
    for service in pool.services() {
        if service.full_name().starts_with("grpc.reflection.")
            || listed_opt.is_some_and(|listed| !listed.contains(service.full_name()))
        {
            continue;
        }
        let prefix = if short_names.get(service.name()).copied().unwrap_or(0) > 1 {
            service.full_name().to_owned()
        } else {
            service.name().to_owned()
        };
        for method in service.methods() {
            let full_name = format!("{}/{}", service.full_name(), method.name());
            if !filter.admits(&full_name) {
                continue;
            }
            if method.is_client_streaming() {
                tracing::info!(method = %full_name, "client-streaming and bidirectional methods are not offered as tools");
                continue;
            }
            if methods.by_tool.len() >= MAX_TOOLS {
                tracing::warn!(limit = MAX_TOOLS, method = %full_name, "too many methods; the rest are not offered");
                return methods;
            }
            let tool_name = format!("{prefix}.{}", method.name());
            let well_formed = tool_name.chars().all(|character| {
                character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-')
            });
            if tool_name.len() > 128 || !well_formed || !seen.insert(tool_name.clone()) {
                tracing::warn!(method = %full_name, "the method's tool name is too long, malformed or taken; not offered");
                continue;
            }
            let schema = input_schema(&method.input(), &mut comments);
            if let Some(reason) = &schema.degraded_opt {
                tracing::warn!(method = %full_name, %reason, "the tool's input schema is simplified");
            }
            let streaming = method.is_server_streaming();
            let comment_opt = comments
                .of(&method.parent_file(), method.path())
                .or_else(|| comments.of(&service.parent_file(), service.path()));
            let mut description = comment_opt.unwrap_or_default();
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!("gRPC method {full_name}"));
            if streaming {
                description.push_str(
                    " (server-streaming: each message is reported as progress, the last is the result)",
                );
            }
            methods.catalog.tools.push(Tool {
                name: tool_name.clone(),
                title: String::new(),
                description,
                input_schema_json: Bytes::from(schema.schema.to_string()),
                output_schema_json: Bytes::new(),
                annotations: Some(ToolAnnotations {
                    open_world_hint: Some(true),
                    ..ToolAnnotations::default()
                }),
                extra_json: Bytes::new(),
            });
            methods.by_tool.insert(
                tool_name,
                Arc::new(MethodTool {
                    path: format!("/{full_name}"),
                    full_name,
                    input: method.input(),
                    output: method.output(),
                    server_streaming: streaming,
                }),
            );
        }
    }
    methods
}
