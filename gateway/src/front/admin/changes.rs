//! The admin API's changes: `POST /api/services` (register a service: a
//! `[[services]]` entry as JSON), `PUT /api/services/{name}` (register or
//! replace), `DELETE /api/services/{name}` and `POST /api/reload` (read the
//! config file again). Each needs the admin token — on loopback too, where
//! reads do not — and a JSON body where it takes one (so a web page cannot
//! send it without a CORS preflight, which this listener never grants).
//! Answers carry what changed (and, for a registration, the items of its
//! catalog a service known first already offers: not listed), or the
//! errors with nothing changed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::Admin;
use crate::front::http::health::service_state;
use crate::live_config::{ChangeError, Changed, LiveConfig};

/// How long a registration's answer waits for the service's first catalog.
const FIRST_CATALOG_WAIT: Duration = Duration::from_secs(5);

/// `POST /api/services`.
pub(super) async fn register(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let entry = match json_body(&headers, &body) {
        Ok(entry) => entry,
        Err(refused) => return *refused,
    };
    registered(admin, entry, false).await
}

/// `PUT /api/services/{name}`.
pub(super) async fn replace(
    State(admin): State<Admin>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut entry = match json_body(&headers, &body) {
        Ok(entry) => entry,
        Err(refused) => return *refused,
    };
    if let Value::Object(fields) = &mut entry {
        match fields.get("name") {
            None => {
                fields.insert("name".into(), name.into());
            }
            Some(given) if given.as_str() != Some(name.as_str()) => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("the entry's name {given} is not the path's {name:?}"),
                );
            }
            Some(_) => {}
        }
    }
    registered(admin, entry, true).await
}

pub(super) async fn registered(admin: Admin, entry: Value, replace: bool) -> Response {
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(live) = admin.live_opt.clone() else {
        return refused(ChangeError::NoRegistrationsFile);
    };
    let changed = match blocking(move || live.register(entry, replace)).await {
        Ok(changed) => changed,
        Err(error) => return refused(error),
    };
    let added = changed.services.added.contains(&name);
    admin
        .gateway
        .backends
        .wait_for_catalog_of(&name, FIRST_CATALOG_WAIT)
        .await;
    let service = admin
        .gateway
        .backends
        .named(&name)
        .map_or(Value::Null, |backend| service_state(&backend));
    // What of its catalog is not listed because a service known first
    // offers it (as the next start decides too).
    let catalog = admin.gateway.backends.catalog();
    let collisions: Vec<&String> = catalog
        .collisions
        .iter()
        .zip(&catalog.collision_losers)
        .filter(|(_, loser)| **loser == name)
        .map(|(collision, _)| collision)
        .collect();
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    answer(
        status,
        json!({ "service": service, "changes": changed, "collisions": collisions }),
    )
}

/// `DELETE /api/services/{name}`.
pub(super) async fn deregister(State(admin): State<Admin>, Path(name): Path<String>) -> Response {
    let Some(live) = admin.live_opt.clone() else {
        return refused(ChangeError::NoRegistrationsFile);
    };
    match blocking(move || live.deregister(&name)).await {
        Ok(changed) => answer(StatusCode::OK, json!({ "changes": changed })),
        Err(error) => refused(error),
    }
}

/// `POST /api/reload`.
pub(super) async fn reload(State(admin): State<Admin>) -> Response {
    let Some(live) = admin.live_opt.clone() else {
        return problem(
            StatusCode::CONFLICT,
            "this gateway was started without a config it can read again",
        );
    };
    match blocking(move || live.reload()).await {
        Ok(changed) => answer(StatusCode::OK, json!({ "changes": changed })),
        Err(error) => refused(error),
    }
}

/// Runs a change off the async threads.
async fn blocking(
    change: impl FnOnce() -> Result<Changed, ChangeError> + Send + 'static,
) -> Result<Changed, ChangeError> {
    tokio::task::spawn_blocking(change)
        .await
        .unwrap_or_else(|error| Err(ChangeError::Storage(format!("the change failed: {error}"))))
}

/// The body as JSON, or the refusal.
pub(super) fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Box::new(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        )));
    }
    serde_json::from_slice(body).map_err(|error| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {error}"),
        ))
    })
}

fn refused(error: ChangeError) -> Response {
    let status = match &error {
        ChangeError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ChangeError::Conflict(_) | ChangeError::NoRegistrationsFile => StatusCode::CONFLICT,
        ChangeError::NotRegistered(_) => StatusCode::NOT_FOUND,
        ChangeError::Storage(_) | ChangeError::Apply(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ChangeError::Shared(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    match error {
        ChangeError::Invalid(errors) => answer(
            status,
            json!({ "error": "invalid configuration", "errors": errors }),
        ),
        other => problem(status, &other.to_string()),
    }
}

pub(super) fn problem(status: StatusCode, message: &str) -> Response {
    answer(status, json!({ "error": message }))
}

pub(super) fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Refuses changes when no admin token is configured.
pub(super) async fn need_token(
    State(has_token): State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !has_token {
        return problem(
            StatusCode::FORBIDDEN,
            "changing the gateway at run time needs the admin token (admin.token_file or MICROMCP_ADMIN_TOKEN)",
        );
    }
    next.run(request).await
}

/// Whether `live` knows `name` as registered (for the services listing).
pub(super) fn registered_names(live_opt: Option<&Arc<LiveConfig>>) -> Vec<String> {
    live_opt.map(|live| live.registered()).unwrap_or_default()
}
