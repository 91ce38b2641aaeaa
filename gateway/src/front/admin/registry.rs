//! The admin API's import from an MCP registry (`admin.registry_url`):
//! `GET /api/registry/servers?search=Q&limit=N` lists the latest versions of
//! matching servers; `POST /api/registry/plan` (admin token) shows what
//! adding one would run — `{"name": "io.github.acme/weather", "as": "weather",
//! "prefer": "remote" | "package", "namespace": …, "env": {…}, "headers": {…}}`
//! answered with `{"plan": {…}, "digest": "sha256:…"}` — and
//! `POST /api/registry/add` (admin token; the same body with that
//! `"digest"`) registers exactly that, answered as `POST /api/services`
//! answers: 409 with the new plan when the entry changed since it was
//! shown, 422 without a digest or for an entry that cannot be run safely.
//! At most [`MAX_REGISTRY_REQUESTS`] registry requests run at once; more
//! are 503 with `Retry-After`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use tokio::sync::Semaphore;

use super::Admin;
use super::changes::{answer, json_body, problem, registered};
use crate::config::RawMcpServer;
use crate::mcp_registry::{
    Choices, Plan, Prefer, RegistryClient, RegistryError, bridge_entry, local_name,
};

/// Registry requests at once (each may read up to 8 MiB for 15 s); more
/// are refused at once with 503, so a flood of searches cannot hold the
/// gateway's memory or make it flood the registry.
const MAX_REGISTRY_REQUESTS: usize = 4;

static REGISTRY_REQUESTS: Semaphore = Semaphore::const_new(MAX_REGISTRY_REQUESTS);

/// A place for one registry request, or the 503 refusal.
fn registry_place() -> Result<tokio::sync::SemaphorePermit<'static>, Box<Response>> {
    REGISTRY_REQUESTS.try_acquire().map_err(|_| {
        let mut refused = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{MAX_REGISTRY_REQUESTS} registry requests are running; try again shortly"),
        );
        refused.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        Box::new(refused)
    })
}

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
    let _place = match registry_place() {
        Ok(place) => place,
        Err(refused) => return *refused,
    };
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

/// What `POST /api/registry/plan` and `POST /api/registry/add` take.
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
    /// The digest of the plan shown (adding only).
    #[serde(rename = "digest")]
    digest_opt: Option<String>,
}

/// `POST /api/registry/plan`.
pub(super) async fn plan(State(admin): State<Admin>, headers: HeaderMap, body: Bytes) -> Response {
    match prepared(&admin, &headers, &body).await {
        Ok((_, _, plan)) => shown(StatusCode::OK, &plan, None),
        Err(refused) => *refused,
    }
}

/// `POST /api/registry/add`.
pub(super) async fn add(State(admin): State<Admin>, headers: HeaderMap, body: Bytes) -> Response {
    let (request, entry, plan) = match prepared(&admin, &headers, &body).await {
        Ok(prepared) => prepared,
        Err(refused) => return *refused,
    };
    let digest = plan.digest();
    match request.digest_opt.as_deref() {
        None => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "digest: required — POST /api/registry/plan shows what adding runs and its digest; send that digest back to add it",
            );
        }
        Some(given) if given != digest => {
            return shown(
                StatusCode::CONFLICT,
                &plan,
                Some(
                    "the entry (or what was asked) changed since its plan was shown: check this plan and add it with its digest",
                ),
            );
        }
        Some(_) => {}
    }
    let registration = json!({ "name": plan.service, "mcp_server": entry });
    registered(admin, registration, false).await
}

/// The request, the bridge entry it makes and its plan; or the refusal.
async fn prepared(
    admin: &Admin,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(AddRequest, RawMcpServer, Plan), Box<Response>> {
    let unprocessable =
        |message: &str| Box::new(problem(StatusCode::UNPROCESSABLE_ENTITY, message));
    let asked = json_body(headers, body)?;
    let request: AddRequest =
        serde_json::from_value(asked).map_err(|error| unprocessable(&error.to_string()))?;
    let prefer = match request.prefer.as_deref() {
        None | Some("remote") => Prefer::Remote,
        Some("package") => Prefer::Package,
        Some(other) => {
            return Err(unprocessable(&format!(
                "prefer: {other:?} is not \"remote\" or \"package\""
            )));
        }
    };
    let place = registry_place()?;
    let url = &admin.gateway.config.admin.registry_url;
    let server = async { RegistryClient::new(url)?.latest(&request.name).await }
        .await
        .map_err(|error| Box::new(refused(&error)))?;
    drop(place);
    let choices = Choices {
        prefer,
        env: request.env.clone(),
        headers: request.headers.clone(),
    };
    let mut entry = bridge_entry(&server, &choices).map_err(|error| Box::new(refused(&error)))?;
    entry.namespace.clone_from(&request.namespace);
    let name = request
        .local_opt
        .clone()
        .unwrap_or_else(|| local_name(&request.name));
    let plan = Plan::of(&server, &name, &entry, &choices);
    Ok((request, entry, plan))
}

fn shown(status: StatusCode, plan: &Plan, error_opt: Option<&str>) -> Response {
    let mut body = json!({ "plan": plan, "digest": plan.digest() });
    if let Some(error) = error_opt {
        body["error"] = error.into();
    }
    answer(status, body)
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
