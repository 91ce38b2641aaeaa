//! `[catalog] add_found_tools`: under the search disclosure, the tools a
//! handshake-era session found with `find_tools` join its `tools/list`,
//! after a `notifications/tools/list_changed` on its GET stream.
//!
//! The 2025-11-25 protocol gives a client no capability saying it handles
//! `tools/list_changed` (the server declares `tools.listChanged`; a client's
//! only `listChanged` is about its roots), so a session counts as handling
//! it while its GET stream — where the notification reaches it — is open:
//! a search made without one adds nothing. 2026-07-28 requests carry no
//! session and are unchanged. What is kept is bounded
//! ([`crate::session::MAX_FOUND_TOOLS`] names, the least recently found
//! dropped) and replica-local; each `tools/list` filters it again through
//! the caller's current view, so a tool that left the catalog or became
//! forbidden (scopes, Cedar) is never listed.

use std::sync::atomic::Ordering;

use crate::catalog::ListKind;
use crate::context::{CallContext, EraState};
use crate::gateway::Gateway;
use crate::methods::route;
use crate::session::GET_STREAM;
use crate::wire::jsonrpc::encode_notification;

/// Keeps `names` (best first), just found by the session of `context`, and
/// tells its client its list changed when they change it.
pub(super) fn remember(gateway: &Gateway, context: &CallContext, names: &[String]) {
    if !gateway.config.catalog.add_found_tools || names.is_empty() {
        return;
    }
    let EraState::Legacy { runtime, .. } = &context.era else {
        return;
    };
    if !runtime.get_stream_open.load(Ordering::Relaxed) {
        return;
    }
    let changed = runtime
        .found_tools
        .lock()
        .map(|mut found| found.remember(names.iter().map(String::as_str)))
        .unwrap_or(false);
    if let (true, Some(log)) = (changed, runtime.stream(GET_STREAM)) {
        log.push(encode_notification(
            "notifications/tools/list_changed",
            b"{}",
        ));
    }
}

/// The MCP JSON of the tools the session of `context` found that it may
/// still call, comma-joined in catalog order; `None` when there are none.
pub fn listed(gateway: &Gateway, context: &CallContext) -> Option<Vec<u8>> {
    if !gateway.config.catalog.add_found_tools {
        return None;
    }
    let EraState::Legacy { runtime, .. } = &context.era else {
        return None;
    };
    let names: Vec<String> = runtime
        .found_tools
        .lock()
        .ok()?
        .names()
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return None;
    }
    let (catalog, view_opt) = route::tool_view(gateway, context);
    let mut positions: Vec<usize> = names
        .iter()
        .filter_map(|name| catalog.tool_at(name).map(|(position, _)| position))
        .filter(|position| {
            view_opt
                .as_ref()
                .is_none_or(|view| view.list(ListKind::Tools).contains(*position))
        })
        .collect();
    positions.sort_unstable();
    positions.dedup();
    let mut joined = Vec::new();
    for position in positions {
        let Some(rendered) = catalog.tool_json_at(position) else {
            continue;
        };
        if !joined.is_empty() {
            joined.push(b',');
        }
        joined.extend_from_slice(&rendered);
    }
    (!joined.is_empty()).then_some(joined)
}
