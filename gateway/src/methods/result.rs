//! The fields a result carries in each era: 2026-07-28 results get
//! `resultType` and the server's info in `_meta` (lists and reads also
//! `ttlMs`/`cacheScope`); handshake-era results pass through unchanged.
//! A service's `CreateTaskResult` gets its task id sealed.
//! Used by `dispatch` and every handler, so none of them calls another.

use crate::context::CallContext;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::splice_object_fields;
use crate::wire::protocol::META_SERVER_INFO;

/// Adds the 2026-07-28 result fields (`resultType`, server info) to a raw
/// result object; legacy results pass through unchanged.
pub fn finish(gateway: &Gateway, context: &CallContext, result: &str) -> String {
    if !context.is_modern() {
        return result.to_owned();
    }
    let finished = splice_object_fields(result.as_bytes(), &modern_fields(gateway, false, 0));
    // Only ASCII was inserted into valid UTF-8, so this cannot fail.
    String::from_utf8(finished).unwrap_or_else(|_| result.to_owned())
}

/// Adds only `resultType` to a service's raw result (2026-07-28): the
/// service's own `_meta`, if any, stays the only `_meta` key.
pub fn finish_service_result(context: &CallContext, result: &[u8]) -> Vec<u8> {
    if !context.is_modern() {
        return result.to_vec();
    }
    splice_object_fields(result, "\"resultType\":\"complete\"")
}

/// The fields every 2026-07-28 result carries; `cacheable` adds
/// `ttlMs`/`cacheScope`.
pub fn modern_fields(gateway: &Gateway, cacheable: bool, ttl_ms: u64) -> String {
    let mut fields = format!(
        "\"resultType\":\"complete\",\"_meta\":{{\"{META_SERVER_INFO}\":{}}}",
        gateway.server_info_json
    );
    if cacheable {
        fields.push_str(&format!(",\"ttlMs\":{ttl_ms},\"cacheScope\":\"private\""));
    }
    fields
}

/// A tool's result for the client: a service's `CreateTaskResult` (the
/// tasks extension) with its task id sealed for the calling principal
/// (`session::TaskIdCodec`, the only task id a client ever sees); any other
/// result with the era's fields.
pub fn finish_tool_result(
    gateway: &Gateway,
    context: &CallContext,
    service: &str,
    result_json: &[u8],
) -> Vec<u8> {
    // Only a request that declared the tasks extension can get a task:
    // other results are never scanned.
    let is_task = context.is_modern()
        && context.declared.tasks
        && result_json
            .windows(19)
            .any(|window| window == b"\"resultType\":\"task\"");
    if !is_task {
        return finish_service_result(context, result_json);
    }
    match serde_json::from_slice::<serde_json::Value>(result_json) {
        Ok(mut result) => {
            seal_task_id(gateway, context, service, &mut result);
            result.to_string().into_bytes()
        }
        Err(_) => finish_service_result(context, result_json),
    }
}

/// Replaces `result.taskId` (the service's) by the id the client sees.
pub fn seal_task_id(
    gateway: &Gateway,
    context: &CallContext,
    service: &str,
    result: &mut serde_json::Value,
) {
    if let Some(task) = result["taskId"].as_str() {
        let sealed = gateway
            .task_ids
            .seal(&context.principal.view_key().to_hex(), service, task);
        result["taskId"] = serde_json::Value::String(sealed);
    }
}
