//! One virtual client's connection: a keep-alive HTTP/1.1 connection (no
//! Nagle), the era's headers, the 2025-11-25 handshake, and classifying each
//! answer (HTTP status, JSON-RPC error code, `isError`, or ok) from a JSON or
//! SSE body.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Era;
use crate::operation::Operation;
use crate::report::Outcome;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Where and how to send requests.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub token_opt: Option<String>,
    pub era: Era,
}

/// A connected virtual client.
pub struct Connection {
    client: HttpClient,
    target: Target,
    session_opt: Option<String>,
}

/// What came back for one request.
pub struct Answer {
    pub outcome: Outcome,
    pub bytes: u64,
    /// When the answer's last byte arrived (or the exchange failed): the
    /// end of its latency, taken before the generator's own classifying.
    pub finished: Instant,
}

impl Connection {
    /// Opens a connection (and, in the 2025-11-25 era, a session).
    pub async fn open(target: Target) -> anyhow::Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        let mut connection = Self {
            client,
            target,
            session_opt: None,
        };
        if connection.target.era == Era::Legacy {
            connection.session_opt = connection.initialize().await?;
        }
        Ok(connection)
    }

    fn request(
        &self,
        operation_opt: Option<&Operation>,
        body: Bytes,
    ) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        let mut builder = hyper::Request::post(&self.target.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(token) = &self.target.token_opt {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        match (self.target.era, operation_opt, &self.session_opt) {
            (Era::Modern, Some(operation), _) => {
                builder = builder
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", operation.method());
                if let Some(name) = operation.name() {
                    builder = builder.header("mcp-name", mcp_name_header(name));
                }
            }
            (Era::Legacy, Some(_), session_opt) => {
                if let Some(session) = session_opt {
                    builder = builder.header("mcp-session-id", session);
                }
                builder = builder.header("mcp-protocol-version", "2025-11-25");
            }
            _ => {}
        }
        Ok(builder.body(Full::new(body))?)
    }

    /// The handshake; a stateless server answers without a session id.
    async fn initialize(&self) -> anyhow::Result<Option<String>> {
        let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"micromcp-loadtest","version":"0.1.0"}}}"#);
        let response = self
            .client
            .request(self.request(None, body)?)
            .await
            .with_context(|| format!("initialize at {}", self.target.url))?;
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let _ = response.into_body().collect().await;
        anyhow::ensure!(status.is_success(), "initialize answered {status}");
        let notification =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let mut request = self.request(None, notification)?;
        if let Some(session) = &session {
            request
                .headers_mut()
                .insert("mcp-session-id", session.parse()?);
        }
        request
            .headers_mut()
            .insert("mcp-protocol-version", "2025-11-25".parse()?);
        let response = self.client.request(request).await?;
        let _ = response.into_body().collect().await;
        Ok(session)
    }

    /// Sends one request, reads the whole answer, then classifies it.
    pub async fn send(&self, operation: &Operation, body: Bytes) -> anyhow::Result<Answer> {
        let request = self.request(Some(operation), body)?;
        let failed = || Answer {
            outcome: Outcome::Transport,
            bytes: 0,
            finished: Instant::now(),
        };
        let Ok(response) = self.client.request(request).await else {
            return Ok(failed());
        };
        let status = response.status().as_u16();
        let Ok(collected) = response.into_body().collect().await else {
            return Ok(failed());
        };
        let finished = Instant::now();
        let bytes = collected.to_bytes();
        Ok(Answer {
            outcome: classify(status, &bytes),
            bytes: bytes.len() as u64,
            finished,
        })
    }
}

/// `Mcp-Name` carries plain ASCII as is and anything else base64-encoded
/// behind the `=?base64?` sentinel (2026-07-28).
fn mcp_name_header(name: &str) -> String {
    if name.bytes().all(|byte| (0x20..0x7f).contains(&byte)) && name.trim() == name {
        return name.to_owned();
    }
    use base64::Engine;
    format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode(name)
    )
}

/// The parts of a JSON-RPC response that decide its outcome; everything else
/// is skipped without being built (large answers stay cheap to classify).
#[derive(serde::Deserialize)]
struct ResponseHead {
    id: Option<serde::de::IgnoredAny>,
    error: Option<ErrorHead>,
    result: Option<ResultHead>,
}

#[derive(serde::Deserialize)]
struct ErrorHead {
    code: Option<i64>,
}

#[derive(serde::Deserialize)]
struct ResultHead {
    #[serde(rename = "isError")]
    is_error: Option<bool>,
}

/// Finds the JSON-RPC response in a JSON or SSE body and names its outcome.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if status != 200 {
        return Outcome::HttpStatus(status);
    }
    let head = match serde_json::from_slice::<ResponseHead>(body) {
        Ok(head) => Some(head),
        // An SSE body: the response is one of the `data:` lines.
        Err(_) => body
            .split(|byte| *byte == b'\n')
            .filter_map(|line| line.strip_prefix(b"data:"))
            .filter_map(|line| serde_json::from_slice::<ResponseHead>(line.trim_ascii()).ok())
            .find(|head| head.id.is_some()),
    };
    match head {
        Some(ResponseHead { id: None, .. }) | None => Outcome::Malformed,
        Some(ResponseHead {
            error: Some(error), ..
        }) => Outcome::RpcError(error.code.unwrap_or(0)),
        Some(ResponseHead {
            result: Some(ResultHead {
                is_error: Some(true),
            }),
            ..
        }) => Outcome::ToolError,
        Some(_) => Outcome::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_kind() {
        assert_eq!(classify(503, b""), Outcome::HttpStatus(503));
        assert_eq!(
            classify(200, br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Outcome::Ok
        );
        assert_eq!(
            classify(
                200,
                b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602}}\n\n"
            ),
            Outcome::RpcError(-32602)
        );
        assert_eq!(
            classify(
                200,
                br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true}}"#
            ),
            Outcome::ToolError
        );
        assert_eq!(classify(200, b"not json"), Outcome::Malformed);
    }

    #[test]
    fn non_ascii_names_are_base64_encoded() {
        assert_eq!(mcp_name_header("echo"), "echo");
        assert_eq!(mcp_name_header("é"), "=?base64?w6k=?=");
    }
}
