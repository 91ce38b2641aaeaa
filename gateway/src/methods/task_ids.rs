//! The tasks extension (SEP-2663) at the edge, for every handler: whether a
//! request declared it, and the -32021 refusal when it did not. (A
//! `CreateTaskResult`'s task id is sealed in `result.rs`.)

use crate::context::CallContext;
use crate::error::GatewayError;

pub use crate::wire::protocol::TASKS_EXTENSION;

/// True when the request declared the tasks extension.
pub fn declared(context: &CallContext) -> bool {
    context.is_modern() && context.declared.tasks
}

/// -32021 naming the tasks extension.
pub fn not_declared() -> GatewayError {
    GatewayError::MissingClientCapability {
        capability: format!("extensions/{TASKS_EXTENSION}"),
    }
}
