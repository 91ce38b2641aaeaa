//! The gateway's own tools under `[catalog]`: `find_tools` ranks the tools
//! the caller may call (the catalog's search index, its hits filtered by
//! the caller's view from `route` — the same view as its `tools/list`) and
//! `call_tool` (the `search` disclosure) unwraps `{name, arguments}` into
//! a plain `tools/call` of that name, which then takes the one path every
//! call takes: route, consent, limits, metrics. Each search is counted,
//! with its hits and its time, in the gateway's metrics.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::super::result::finish;
use super::super::route;
use crate::catalog::{CALL_TOOL, FIND_TOOLS, Hit, ListKind, MergedCatalog, query_terms};
use crate::config::{CatalogConfig, Disclosure};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::telemetry;
use crate::wire::jsonrpc::encode_result;
use crate::wire::protocol::ParamsHead;

/// Most tools one `find_tools` answers with.
pub const MAX_LIMIT: u64 = 50;
/// Tools a `find_tools` answers with unless it asks for another number.
const DEFAULT_LIMIT: u64 = 10;
/// How long a search waits for the index of a catalog that just changed.
const INDEX_WAIT: Duration = Duration::from_secs(2);

const FIND_TOOLS_JSON: &str = r#"{"name":"find_tools","title":"Find tools","description":"Search the tools you may call, best match first. Describe the task in plain words; call a tool found with call_tool (or tools/call).","inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"what the tool should do, in plain words","maxLength":1024},"limit":{"type":"integer","minimum":1,"maximum":50,"default":10,"description":"most tools to return"},"namespace":{"type":"string","description":"only tools of this namespace (for example fs)"}},"required":["query"],"additionalProperties":false},"annotations":{"readOnlyHint":true,"idempotentHint":true,"openWorldHint":false}}"#;

const CALL_TOOL_JSON: &str = r#"{"name":"call_tool","title":"Call a tool","description":"Call a tool you may call, by the name find_tools gave, with its arguments.","inputSchema":{"type":"object","properties":{"name":{"type":"string","description":"the tool's name, as find_tools gave it"},"arguments":{"type":"object","description":"the tool's arguments, as its inputSchema describes"}},"required":["name"],"additionalProperties":false}}"#;

/// The gateway's own tools a call may name.
pub(super) enum GatewayTool {
    Find,
    Call,
}

/// The gateway tool `name` is, under `config`, if any.
pub(super) fn gateway_tool(config: &CatalogConfig, name: &str) -> Option<GatewayTool> {
    match name {
        FIND_TOOLS if config.find_tools => Some(GatewayTool::Find),
        CALL_TOOL if config.disclosure == Disclosure::Search => Some(GatewayTool::Call),
        _ => None,
    }
}

/// The gateway's own tools as listed (comma-joined MCP JSON), if any.
pub fn listed(config: &CatalogConfig) -> Option<&'static str> {
    match (config.find_tools, config.disclosure) {
        (_, Disclosure::Search) => Some(search_pair()),
        (true, Disclosure::All) => Some(FIND_TOOLS_JSON),
        (false, Disclosure::All) => None,
    }
}

fn search_pair() -> &'static str {
    static PAIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| format!("{CALL_TOOL_JSON},{FIND_TOOLS_JSON}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindArguments {
    query: String,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallArguments<'a> {
    name: String,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
}

/// `call_tool {name, arguments}` as the `tools/call` of `name` it stands for.
pub(super) fn unwrapped(head: ParamsHead<'_>) -> Result<ParamsHead<'_>, GatewayError> {
    let raw = head.arguments.ok_or_else(|| {
        GatewayError::InvalidParams("call_tool: missing arguments (name, arguments)".into())
    })?;
    let call: CallArguments<'_> = serde_json::from_str(raw.get())
        .map_err(|error| GatewayError::InvalidParams(format!("call_tool: {error}")))?;
    if call.name == CALL_TOOL || call.name == FIND_TOOLS {
        return Err(GatewayError::InvalidParams(format!(
            "call_tool: {} is the gateway's own tool; call it directly",
            call.name
        )));
    }
    if call
        .arguments
        .is_some_and(|arguments| !arguments.get().trim_start().starts_with('{'))
    {
        return Err(GatewayError::InvalidParams(
            "call_tool: arguments must be an object".into(),
        ));
    }
    Ok(ParamsHead {
        name: Some(call.name),
        arguments: call.arguments,
        ..head
    })
}

/// `find_tools`: the caller's best tools for a query, best first.
pub(super) async fn find_tools(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: &ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    let raw = head
        .arguments
        .ok_or_else(|| GatewayError::InvalidParams("find_tools: missing arguments.query".into()))?;
    let arguments: FindArguments = serde_json::from_str(raw.get())
        .map_err(|error| GatewayError::InvalidParams(format!("find_tools: {error}")))?;
    let limit = arguments.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(GatewayError::InvalidParams(format!(
            "find_tools: limit {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let terms = query_terms(&arguments.query)?;
    let prefix_opt = match arguments.namespace {
        Some(namespace) if namespace.len() > 128 => {
            return Err(GatewayError::InvalidParams(
                "find_tools: namespace is longer than 128 bytes".into(),
            ));
        }
        Some(namespace) => Some(format!("{namespace}{}", gateway.config.namespace_separator)),
        None => None,
    };
    let Some(search) = gateway.tool_search.clone() else {
        return Err(GatewayError::MethodNotFound(FIND_TOOLS.into()));
    };
    // A search is a tool call: the caller's rate limits and in-flight cap
    // count it (as the service `find_tools` for per-service limits).
    let _place = gateway
        .admit_call(
            &context.principal.id,
            FIND_TOOLS,
            context.revocation_opt.as_deref(),
        )
        .await?;
    let started = std::time::Instant::now();
    let (catalog, view_opt) = route::tool_view(gateway, context);
    let index = search.index_of(&catalog, INDEX_WAIT).await;
    let indexed = index.catalog().clone();
    let current = catalog.clone();
    // A hit of the indexed catalog, found in the current one and kept when
    // the caller may call it (and it is in the namespace asked for).
    let keep = move |position: u64| {
        current_position(&indexed, &current, position).is_some_and(|position| {
            let in_namespace = prefix_opt.as_deref().is_none_or(|prefix| {
                current
                    .tool_name_at(position)
                    .is_some_and(|name| name.starts_with(prefix))
            });
            in_namespace
                && view_opt
                    .as_ref()
                    .is_none_or(|view| view.list(ListKind::Tools).contains(position))
        })
    };
    let searched = index.clone();
    let hits = tokio::task::spawn_blocking(move || searched.search(&terms, limit as usize, keep))
        .await
        .map_err(|error| GatewayError::Internal(format!("tool search: {error}")))??;
    let (body, names) = render(index.catalog(), &catalog, &hits);
    super::found::remember(gateway, context, &names);
    telemetry::find_tools_finished(hits.len(), started.elapsed());
    Ok(Reply::Json(encode_result(
        id_text,
        finish(gateway, context, &body).as_bytes(),
    )))
}

/// The position in `current` of the tool at `position` in `indexed`.
fn current_position(
    indexed: &Arc<MergedCatalog>,
    current: &Arc<MergedCatalog>,
    position: u64,
) -> Option<usize> {
    let position = usize::try_from(position).ok()?;
    if Arc::ptr_eq(indexed, current) {
        return Some(position);
    }
    let name = indexed.tool_name_at(position)?;
    current.tool_at(name).map(|(found, _)| found)
}

/// The tool result (`structuredContent.tools` and a text rendering) and
/// the names of the tools in it, best first.
fn render(
    indexed: &Arc<MergedCatalog>,
    current: &Arc<MergedCatalog>,
    hits: &[Hit],
) -> (String, Vec<String>) {
    let mut tools = Vec::with_capacity(hits.len());
    let mut names = Vec::with_capacity(hits.len());
    let mut text = String::new();
    for hit in hits {
        let Some(position) = current_position(indexed, current, u64::from(hit.position)) else {
            continue;
        };
        let Some(rendered) = current.tool_json_at(position) else {
            continue;
        };
        let Ok(Value::Object(mut listed)) = serde_json::from_slice::<Value>(&rendered) else {
            continue;
        };
        let mut found = Map::new();
        for key in ["name", "title", "description", "inputSchema"] {
            if let Some(value) = listed.remove(key) {
                found.insert(key.to_owned(), value);
            }
        }
        let score = (f64::from(hit.score) * 1000.0).round() / 1000.0;
        found.insert("score".into(), json!(score));
        let name = found
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let description = found
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = writeln!(text, "{name} ({score}): {description}");
        names.push(name.to_owned());
        tools.push(Value::Object(found));
    }
    if tools.is_empty() {
        text.push_str("no tool you may call matches the query");
    }
    let body = json!({
        "content": [{"type": "text", "text": text.trim_end()}],
        "structuredContent": {"tools": tools},
        "isError": false,
    })
    .to_string();
    (body, names)
}
