//! Method dispatch, shared by every transport: `initialize` and
//! `server/discover`, the `*/list` methods (answered from the catalog
//! snapshot), `ping`, `logging/setLevel`, and the routed methods
//! (`tools/call`, `resources/read`, `prompts/get`, `completion/complete`,
//! `resources/subscribe`, `subscriptions/listen`), each handled in `methods`.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::catalog::ListKind;
use crate::config::Disclosure;
use crate::context::{CallContext, EraState, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::methods::result::{finish, modern_fields};
use crate::methods::{listen, prompts, resources, route, subscriptions, tasks, tools};
use crate::session::{SessionClaims, SessionCodec};
use crate::wire::jsonrpc::encode_result;
use crate::wire::protocol::{LEGACY_VERSIONS, MODERN_VERSIONS, ParamsHead, negotiate_legacy};
use crate::wire::protocol::{removed_in_modern, removed_method};

/// Handles one request (not `initialize`) in `context`.
pub async fn handle(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    method: &str,
    id_text: &str,
    head: ParamsHead<'_>,
    params: Option<&RawValue>,
) -> Result<Reply, GatewayError> {
    let kind = match method {
        "tools/list" => Some(ListKind::Tools),
        "prompts/list" => Some(ListKind::Prompts),
        "resources/list" => Some(ListKind::Resources),
        "resources/templates/list" => Some(ListKind::ResourceTemplates),
        _ => None,
    };
    if let Some(kind) = kind {
        return list(gateway, context, id_text, kind, head.cursor.as_deref());
    }
    if context.is_modern() && removed_in_modern(method) {
        return Err(removed_method(method));
    }
    // The routed methods' futures are large (a gRPC call each): boxed, so
    // the request's own future — moved whole at every hand-over between
    // the HTTP layers — stays small.
    match method {
        "tools/call" => Box::pin(tools::call_tool(gateway, context, id_text, head)).await,
        "resources/read" => {
            Box::pin(resources::read_resource(gateway, context, id_text, head)).await
        }
        "prompts/get" => Box::pin(prompts::get_prompt(gateway, context, id_text, head)).await,
        "completion/complete" => {
            Box::pin(prompts::complete(gateway, context, id_text, params)).await
        }
        "server/discover" => Ok(Reply::Json(encode_result(
            id_text,
            discover(gateway).as_bytes(),
        ))),
        "ping" => Ok(Reply::Json(encode_result(
            id_text,
            finish(gateway, context, "{}").as_bytes(),
        ))),
        "resources/subscribe" => Box::pin(subscriptions::subscribe(gateway, context, head))
            .await
            .map(|()| Reply::Json(encode_result(id_text, b"{}"))),
        "subscriptions/listen" => Box::pin(listen::listen(gateway, context, id_text, params)).await,
        "tasks/get" | "tasks/update" | "tasks/cancel" => {
            Box::pin(tasks::handle(gateway, context, method, id_text, head)).await
        }
        "resources/unsubscribe" => subscriptions::unsubscribe(context, head)
            .map(|()| Reply::Json(encode_result(id_text, b"{}"))),
        "logging/setLevel" => {
            set_level(context, &head).map(|()| Reply::Json(encode_result(id_text, b"{}")))
        }
        "initialize" => Err(GatewayError::InvalidRequest(if context.is_modern() {
            "initialize is not part of protocol 2026-07-28; send requests with _meta directly"
                .into()
        } else {
            "this session is already initialized".into()
        })),
        _ => Err(GatewayError::MethodNotFound(method.to_owned())),
    }
}

/// A `*/list` response: envelope head, the page's items as a slice of the
/// pre-rendered catalog (not copied), and the tail.
fn list(
    gateway: &Gateway,
    context: &CallContext,
    id_text: &str,
    kind: ListKind,
    cursor: Option<&str>,
) -> Result<Reply, GatewayError> {
    let mut page = route::visible_page(gateway, context, kind, cursor)?;
    // The gateway's own tools come first on the first page, or alone
    // under the search disclosure.
    let own_opt = match kind {
        ListKind::Tools => tools::listed_gateway_tools(&gateway.config.catalog),
        _ => None,
    };
    // The operator (admin page, `micromcp tools list`) always sees the
    // whole catalog: search disclosure shapes what agents are shown.
    let search_only = gateway.config.catalog.disclosure == Disclosure::Search
        && context.principal.id != crate::principal::OPERATOR;
    if let Some(own) = own_opt {
        if search_only {
            // `add_found_tools`: the tools this session found, still its.
            page.items = match tools::listed_found_tools(gateway, context) {
                Some(found) => Bytes::from([own.as_bytes(), b",", &found].concat()),
                None => Bytes::from_static(own.as_bytes()),
            };
            page.next_cursor = None;
        } else if cursor.is_none() {
            let mut joined = Vec::with_capacity(own.len() + 1 + page.items.len());
            joined.extend_from_slice(own.as_bytes());
            if !page.items.is_empty() {
                joined.push(b',');
                joined.extend_from_slice(&page.items);
            }
            page.items = Bytes::from(joined);
        }
    }
    let head = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id_text},\"result\":{{\"{}\":[",
        kind.field()
    );
    let mut tail = String::from("]");
    if let Some(next) = page.next_cursor {
        tail.push_str(",\"nextCursor\":\"");
        tail.push_str(&next);
        tail.push('"');
    }
    if context.is_modern() {
        tail.push(',');
        tail.push_str(&modern_fields(gateway, true, gateway.config.list_ttl_ms));
    }
    tail.push_str("}}");
    Ok(Reply::Pieces(vec![
        Bytes::from(head),
        page.items,
        Bytes::from(tail),
    ]))
}

/// The capabilities the gateway offers in `era`.
fn capabilities(gateway: &Gateway, modern: bool) -> &'static str {
    let catalog = gateway.backends.catalog();
    if modern && catalog.any_tasks() {
        r#"{"tools":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},"prompts":{"listChanged":true},"completions":{},"extensions":{"io.modelcontextprotocol/tasks":{}}}"#
    } else if modern && catalog.any_watches() {
        r#"{"tools":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},"prompts":{"listChanged":true},"completions":{}}"#
    } else if modern {
        r#"{"tools":{"listChanged":true},"resources":{"listChanged":true},"prompts":{"listChanged":true},"completions":{}}"#
    } else if gateway.backends.catalog().any_watches() {
        r#"{"tools":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},"prompts":{"listChanged":true},"completions":{},"logging":{}}"#
    } else {
        r#"{"tools":{"listChanged":true},"resources":{"listChanged":true},"prompts":{"listChanged":true},"completions":{},"logging":{}}"#
    }
}

fn instructions() -> &'static str {
    "Micro-MCP gateway: tools and prompts are namespaced by service (for example fs.read_file)."
}

/// `server/discover` (2026-07-28).
fn discover(gateway: &Gateway) -> String {
    let versions: Vec<&str> = MODERN_VERSIONS
        .iter()
        .chain(LEGACY_VERSIONS.iter())
        .copied()
        .collect();
    format!(
        "{{\"supportedVersions\":{},\"capabilities\":{},\"instructions\":{},{}}}",
        serde_json::Value::from(versions),
        capabilities(gateway, true),
        serde_json::Value::from(instructions()),
        modern_fields(gateway, true, gateway.config.list_ttl_ms),
    )
}

/// Answers `initialize`: the result JSON and the claims of the new session.
pub fn initialize(
    gateway: &Gateway,
    head: &ParamsHead<'_>,
    principal: &str,
) -> Result<(String, SessionClaims), GatewayError> {
    let version = negotiate_legacy(head.protocol_version.as_deref());
    let relayed = relayed_capabilities(head.capabilities);
    if relayed.len() > MAX_RELAYED_CAPABILITIES_BYTES {
        return Err(GatewayError::InvalidParams(format!(
            "params.capabilities: elicitation, sampling and roots take {} bytes; at most {MAX_RELAYED_CAPABILITIES_BYTES}",
            relayed.len()
        )));
    }
    let claims = SessionCodec::claims(version, relayed, principal);
    let result = format!(
        "{{\"protocolVersion\":\"{version}\",\"capabilities\":{},\"serverInfo\":{},\"instructions\":{}}}",
        capabilities(gateway, false),
        gateway.server_info_json,
        serde_json::Value::from(instructions()),
    );
    Ok((result, claims))
}

/// Most bytes of client capabilities a session carries (in its sealed id,
/// so in every request): real clients declare a few dozen.
pub const MAX_RELAYED_CAPABILITIES_BYTES: usize = 1024;

/// The client capabilities a session keeps: those the gateway relays.
pub fn relayed_capabilities(capabilities: Option<&RawValue>) -> String {
    let Some(raw) = capabilities else {
        return "{}".into();
    };
    let Ok(object) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw.get())
    else {
        return "{}".into();
    };
    let kept: serde_json::Map<String, serde_json::Value> = object
        .into_iter()
        .filter(|(key, _)| matches!(key.as_str(), "elicitation" | "sampling" | "roots"))
        .collect();
    serde_json::Value::Object(kept).to_string()
}

fn set_level(context: &CallContext, head: &ParamsHead<'_>) -> Result<(), GatewayError> {
    let EraState::Legacy { runtime, .. } = &context.era else {
        return Err(GatewayError::MethodNotFound(
            "logging/setLevel (protocol 2026-07-28 sets the level per request in _meta)".into(),
        ));
    };
    let level = head
        .level
        .as_deref()
        .ok_or_else(|| GatewayError::InvalidParams("missing params.level".into()))?;
    if !micromcp_proto::LOG_LEVELS.contains(&level) {
        return Err(GatewayError::InvalidParams(format!(
            "unknown log level: {level}"
        )));
    }
    if let Ok(mut current) = runtime.log_level.lock() {
        *current = Some(level.to_owned());
    }
    Ok(())
}
