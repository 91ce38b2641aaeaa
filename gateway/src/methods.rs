//! The routed methods, one module each — `tools/call` (`tools`),
//! `resources/read` (`resources`), `prompts/get` and `completion/complete`
//! (`prompts`), `resources/subscribe` (`subscriptions`) — over three shared
//! steps below them: `route` (catalog lookup, authorization, the owning
//! service and fail-fast: the one place a request is authorized),
//! `outbound` (what a backend request carries: deadline, request id,
//! principal, traceparent) and `result` (the era's result fields), and
//! `consent` (a person's approval before a call that needs one). Handlers
//! import only those, never each other nor `dispatch`.

pub mod consent;
pub mod input_rounds;
pub mod listen;
pub mod outbound;
pub mod prompts;
pub mod resources;
pub mod result;
pub mod route;
pub mod subscriptions;
pub mod task_ids;
pub mod tasks;
pub mod tools;
