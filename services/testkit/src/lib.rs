//! `testkit`: a micro-service exposing the fixtures the MCP conformance
//! suite's server scenarios call (`test_*` tools, `test://` resources,
//! `test_*` prompts), plus a few tools the gateway's own tests need
//! (`echo`, `slow`, `exit_process`). It is mounted without a prefix when the
//! conformance suite runs against the gateway. Not part of `micromcp up`.

mod catalog;
mod service;

pub use service::TestkitService;
