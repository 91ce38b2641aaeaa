//! `micromcp-echo`: the echo MCP server every comparison runs against — an
//! rmcp 3.9 server with one tool, `echo`, answering its `text` argument.
//! Served over Streamable HTTP (`--listen ADDR`, session mode as in the peer figures; 2026-07-28
//! requests are served statelessly)
//! for direct calls and HTTP peers, or over stdio (`--stdio`) for bridges
//! and peers that launch a command. Bounded by `--lifetime-secs`.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

/// The server: stateless, so one value serves every session.
#[derive(Clone)]
struct Echo {
    tool: Arc<Tool>,
}

impl Echo {
    fn new() -> Self {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        });
        let schema = match schema {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        Self {
            tool: Arc::new(Tool::new("echo", "Returns its text argument.", schema)),
        }
    }
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![(*self.tool).clone()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", request.name),
                None,
            ));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|arguments| arguments.get("text"))
            .and_then(|text| text.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

fn usage() -> ! {
    eprintln!("usage: micromcp-echo (--listen HOST:PORT | --stdio) [--lifetime-secs N]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen_opt = None;
    let mut stdio = false;
    let mut lifetime = Duration::from_secs(3600);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen_opt = Some(args.next().unwrap_or_else(|| usage())),
            "--stdio" => stdio = true,
            "--lifetime-secs" => {
                let secs = args.next().and_then(|text| text.parse().ok());
                lifetime = Duration::from_secs(secs.unwrap_or_else(|| usage()));
            }
            _ => usage(),
        }
    }
    let serve = async move {
        match (listen_opt, stdio) {
            (Some(listen), false) => {
                let config = StreamableHttpServerConfig::default()
                    .with_legacy_session_mode(true)
                    .with_sse_keep_alive(None);
                let service = StreamableHttpService::new(
                    || Ok(Echo::new()),
                    Arc::new(LocalSessionManager::default()),
                    config,
                );
                let router = axum::Router::new().nest_service("/mcp", service);
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                eprintln!("micromcp-echo listening on {}", listener.local_addr()?);
                // No Nagle: a session-mode answer is several writes, and
                // Nagle plus delayed ACKs would stall each one by ~40 ms.
                let listener = listener.tap_io(|stream| {
                    let _ = stream.set_nodelay(true);
                });
                axum::serve(listener, router).await?;
                Ok(())
            }
            (None, true) => {
                let running = Echo::new().serve(rmcp::transport::stdio()).await?;
                running.waiting().await?;
                Ok::<(), anyhow::Error>(())
            }
            _ => usage(),
        }
    };
    tokio::select! {
        outcome = serve => outcome,
        () = tokio::time::sleep(lifetime) => Ok(()),
    }
}
