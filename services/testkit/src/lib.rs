//! `testkit`: a micro-service exposing the fixtures the MCP conformance
//! suite's server scenarios call (`test_*` tools, `test://` resources,
//! `test_*` prompts), plus a few tools the gateway's own tests need
//! (`echo`, `slow`, `exit_process`), and the 2026-07-28 multi-round tools
//! and prompt (`rounds`) and tasks-extension fixtures (`task_tools`). It is mounted without a prefix when the
//! conformance suite runs against the gateway. Not part of `micromcp up`.

mod catalog;
mod rounds;
mod service;
mod task_tools;

pub use service::TestkitService;
