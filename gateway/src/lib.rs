//! The Micro-MCP edge gateway.
//!
//! Request flow: a transport front (`front::http` for Streamable HTTP,
//! `front::stdio`) authenticates the caller (`auth` → a `principal`),
//! parses one JSON-RPC envelope (`wire`), works out the protocol era
//! (2026-07-28 stateless or a 2025-11-25 `session`) into a
//! `context::CallContext`, and hands the request to `dispatch`. Dispatch
//! answers `initialize`, `server/discover`, `ping`, `logging/setLevel` and
//! the `*/list` methods (slices of the merged `catalog` snapshot) itself and
//! sends routed methods to `methods`: `methods::route` looks the target up,
//! authorizes it (`policy`: scopes, then Cedar) and finds the owning
//! service, failing fast when it is down; `methods::outbound` builds the
//! gRPC request that `backends` carries to the service. Every request
//! leaves one `audit` record. Results travel back as raw JSON spliced into
//! the response; streamed events (progress, logs, input requests) become
//! SSE events or stdio lines.
//!
//! Layers, lowest first. A module imports only from layers below its own
//! (`gateway/tests/layers.rs` checks every `crate::` path):
//!
//! | layer | modules | holds |
//! | --- | --- | --- |
//! | 0 | `error`, `quota`, `shares`, `telemetry`, `unwritten` | the crate's error enum and its JSON-RPC/HTTP codes; counted shares (total and per key); each principal's share of the front (its line, the refusal it must wait out); the metrics recorder, names and bounded labels; answer bytes held for clients per connection and principal |
//! | 1 | `wire` | JSON-RPC envelope, protocol eras and params heads, name checks, content encoding |
//! | 2 | `principal` | `Principal`, `TokenEntry`, token digests, `Scopes` |
//! | 3 | `catalog` | the merged catalog, pages, visible lists, tool hints, stable service name indices, the tool search index (`find_tools`) |
//! | 4 | `policy` | scope and Cedar decisions, per-principal catalog views |
//! | 5 | `config` | raw TOML → validated config (owns its small enums) |
//! | 6 | `auth`, `session`, `mcp_registry` | headers → principal (tokens, JWTs of configured issuers); sealed ids, replica-local state, pending client requests, key file, sealed multi-round `requestState` and task ids; an MCP Registry client and entry → bridge conversion |
//! | 7 | `context`, `rates` | `CallContext`, `EraState`, `Reply`; rate limits and in-flight caps per principal and service |
//! | 8 | `backends`, `audit`, `cluster` | channels, service registry, gRPC status mapping, tool-definition pins; audit records and sinks; the state replicas share in Redis (`[cluster]`) and each decision's fallback |
//! | 9 | `gateway` | process state, the composition root |
//! | 10 | `methods::{route, outbound, result, consent, input_rounds, task_ids}`, `live_config` | the one authorization point; backend request context; era result fields; approval by elicitation; multi-round requests in both eras; reloads and run-time registrations |
//! | 11 | `methods::{tools, resources, prompts, subscriptions, listen, tasks}` | the routed methods |
//! | 12 | `dispatch` | method name → handler; initialize, discover, ping, setLevel, lists |
//! | 13 | `front` | Streamable HTTP and stdio, connection limits, the admin listener |

pub mod audit;
pub mod auth;
pub mod backends;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod front;
pub mod gateway;
pub mod live_config;
pub mod mcp_registry;
pub mod policy;
pub mod principal;
pub mod quota;
pub mod rates;
pub mod session;
pub mod shares;
pub mod telemetry;
pub mod unwritten;
pub mod wire;

mod methods;

pub use context::{CallContext, EraState, Reply};
pub use gateway::Gateway;
pub use session::load_or_create_key;
pub use session::{FileSingleUse, MAX_USED_ROUNDS, MAX_USED_ROUNDS_PER_PRINCIPAL, journal_path};
pub use wire::ContentEncoder;
