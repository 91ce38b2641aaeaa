//! The front's side of the MCP authorization spec (OAuth 2.1 resource
//! server): Protected Resource Metadata (RFC 9728) at
//! `/.well-known/oauth-protected-resource` (and with the resource's path
//! appended), naming the gateway's canonical resource URI and the issuers
//! whose tokens it accepts; and `resource_metadata="…"` added to every
//! `WWW-Authenticate: Bearer` challenge (401, and 403 `insufficient_scope`)
//! so a client can find where to get a token. Only with `[[auth.issuers]]`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::auth::JwtVerifier;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::principal::{ClientCertificate, Principal};

/// Where the metadata is, for the resource URI `resource`: the well-known
/// path inserted between its authority and its path (RFC 9728 §3.1).
pub fn metadata_url(resource: &str) -> Option<String> {
    let parsed = url::Url::parse(resource).ok()?;
    let mut base = format!("{}://{}", parsed.scheme(), parsed.host_str()?);
    if let Some(port) = parsed.port() {
        base.push_str(&format!(":{port}"));
    }
    let path = parsed.path().trim_end_matches('/');
    Some(format!("{base}/.well-known/oauth-protected-resource{path}"))
}

/// `GET /.well-known/oauth-protected-resource[/…]`.
pub(crate) async fn metadata(State(gateway): State<Arc<Gateway>>) -> Response {
    let authenticator = gateway.auth();
    let Some(verifier) = authenticator.jwt() else {
        return (
            StatusCode::NOT_FOUND,
            "no authorization servers are configured\n",
        )
            .into_response();
    };
    let document = document(verifier);
    let mut response = document.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn document(verifier: &JwtVerifier) -> serde_json::Value {
    let config = &verifier.config;
    let mut scopes = vec!["*".to_owned()];
    scopes.extend(config.service_names.iter().cloned());
    serde_json::json!({
        "resource": config.resource,
        "authorization_servers": config.issuers.iter().map(|issuer| issuer.issuer.clone()).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": "Micro-MCP gateway",
    })
}

/// Adds `resource_metadata` to the response's Bearer challenge.
pub(crate) async fn challenge(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let challenged = matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    if !challenged {
        return response;
    }
    let authenticator = gateway.auth();
    let Some(url) = authenticator
        .jwt()
        .and_then(|verifier| metadata_url(&verifier.config.resource))
    else {
        return response;
    };
    let headers = response.headers_mut();
    let Some(existing) = headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.starts_with("Bearer"))
    else {
        return response;
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{existing}, resource_metadata=\"{url}\"")) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The principal of `headers` (and of the connection's verified client
/// certificate), from the authenticator in force now.
pub(crate) async fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
    certificate_opt: Option<&ClientCertificate>,
) -> Result<Arc<Principal>, GatewayError> {
    let authenticator = gateway.auth();
    authenticator.authenticate(headers, certificate_opt).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_sits_between_authority_and_path() {
        assert_eq!(
            metadata_url("https://mcp.example.com/mcp").as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource")
        );
    }
}
