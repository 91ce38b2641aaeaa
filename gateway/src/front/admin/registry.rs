//! The admin API's import from an MCP registry (`admin.registry_url`):
//! `GET /api/registry/servers?search=Q&limit=N` lists the latest versions of
//! matching servers; `POST /api/registry/add` (admin token) turns one into a
//! bridge registration — `{"name": "io.github.acme/weather", "as": "weather",
//! "prefer": "remote" | "package", "namespace": …, "env": {…}, "headers": {…}}`
//! — answered as `POST /api/services` answers.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::Admin;
use super::changes::{answer, json_body, problem, registered};
use crate::mcp_registry::{
    Choices, Prefer, RegistryClient, RegistryError, bridge_entry, local_name,
};

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    search: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/registry/servers`.
pub(super) async fn search(
    State(admin): State<Admin>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let url = &admin.gateway.config.admin.registry_url;
    let found = async {
        RegistryClient::new(url)?
            .search(
                query.search.as_deref().unwrap_or_default(),
                query.limit.unwrap_or(30),
            )
            .await
    }
    .await;
    match found {
        Ok(servers) => answer(
            StatusCode::OK,
            json!({ "registry": url, "servers": servers }),
        ),
        Err(error) => refused(&error),
    }
}

/// What `POST /api/registry/add` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    /// The server's registry name.
    name: String,
    /// Its service name (default: the last part of `name`).
    #[serde(rename = "as")]
    local_opt: Option<String>,
    prefer: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// `POST /api/registry/add`.
pub(super) async fn add(State(admin): State<Admin>, headers: HeaderMap, body: Bytes) -> Response {
    let asked = match json_body(&headers, &body) {
        Ok(asked) => asked,
        Err(refused) => return *refused,
    };
    let request: AddRequest = match serde_json::from_value(asked) {
        Ok(request) => request,
        Err(error) => return problem(StatusCode::UNPROCESSABLE_ENTITY, &error.to_string()),
    };
    let prefer = match request.prefer.as_deref() {
        None | Some("remote") => Prefer::Remote,
        Some("package") => Prefer::Package,
        Some(other) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("prefer: {other:?} is not \"remote\" or \"package\""),
            );
        }
    };
    let url = &admin.gateway.config.admin.registry_url;
    let server = match async { RegistryClient::new(url)?.latest(&request.name).await }.await {
        Ok(server) => server,
        Err(error) => return refused(&error),
    };
    let choices = Choices {
        prefer,
        env: request.env,
        headers: request.headers,
    };
    let mut entry = match bridge_entry(&server, &choices) {
        Ok(entry) => entry,
        Err(error) => return refused(&error),
    };
    entry.namespace = request.namespace;
    let name = request
        .local_opt
        .unwrap_or_else(|| local_name(&request.name));
    let registration = json!({ "name": name, "mcp_server": entry });
    registered(admin, registration, false).await
}

fn refused(error: &RegistryError) -> Response {
    let status = match error {
        RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
        RegistryError::Unusable(_) | RegistryError::MissingInputs(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RegistryError::Unreachable { .. } | RegistryError::Malformed(_) => StatusCode::BAD_GATEWAY,
    };
    problem(status, &error.to_string())
}
