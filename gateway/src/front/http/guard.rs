//! Checks every HTTP request passes before it is parsed: Host allow-list
//! and Origin validation (DNS-rebinding protection), authentication (a
//! bearer token, or the client certificate the connection's TLS handshake
//! verified), what the client accepts, and the content type.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, StatusCode, header};

use super::answers::plain;
use crate::audit::AuditEntry;
use crate::catalog::param_headers::HeaderText;
use crate::config::{GatewayConfig, HostPattern};
use crate::gateway::Gateway;
use crate::principal::{ClientCertificate, Principal};

/// Host/Origin and authentication, shared by every `/mcp` method.
pub(super) async fn admit(
    gateway: &Gateway,
    parts: &http::request::Parts,
    audit: &mut AuditEntry,
) -> Result<Arc<Principal>, Box<Response>> {
    let (headers, host_opt) = (&parts.headers, parts.uri.host());
    check_host_and_origin(&gateway.config, headers, host_opt).map_err(|(status, message)| {
        audit.refused(&message);
        Box::new(plain(status, message))
    })?;
    let certificate_opt = parts.extensions.get::<Arc<ClientCertificate>>();
    let certificate_opt = certificate_opt.map(|certificate| &**certificate);
    match super::oauth::authenticate(gateway, headers, certificate_opt).await {
        Ok(principal) => {
            audit.principal(&principal);
            Ok(principal)
        }
        Err(error) => Err(Box::new(super::refuse(audit, "null", &error, false))),
    }
}

/// What the client can read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub json: bool,
    pub sse: bool,
}

/// Host name of a `Host` header or origin authority, without port, lowercased.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest
            .split(']')
            .next()
            .map(|host| format!("[{host}]"))
            .unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default().to_owned()
}

/// Refuses requests whose Host is not allowed or whose Origin is foreign.
pub fn check_host_and_origin(
    config: &GatewayConfig,
    headers: &HeaderMap,
    uri_host_opt: Option<&str>,
) -> Result<(), (StatusCode, String)> {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or(uri_host_opt)
        .map(host_name)
        .ok_or((StatusCode::BAD_REQUEST, "missing Host header".to_owned()))?;
    let host_allowed = config
        .allowed_hosts
        .iter()
        .any(|allowed| allowed.matches(&host));
    if !host_allowed {
        return Err((
            StatusCode::FORBIDDEN,
            format!("host {host:?} is not allowed (gateway.allowed_hosts)"),
        ));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| (StatusCode::FORBIDDEN, "invalid Origin header".to_owned()))?;
    if config
        .allowed_origins
        .iter()
        .any(|allowed| allowed == origin || allowed == "*")
    {
        return Ok(());
    }
    let origin_host = origin
        .split_once("://")
        .map(|(_, authority)| host_name(authority.split('/').next().unwrap_or_default()))
        .unwrap_or_default();
    // A page on an allowed host may call; `*` among the hosts does not
    // open the origin check (that is `allowed_origins = ["*"]`).
    if config
        .allowed_hosts
        .iter()
        .any(|allowed| *allowed != HostPattern::Any && allowed.matches(&origin_host))
    {
        return Ok(());
    }
    Err((
        StatusCode::FORBIDDEN,
        format!("origin {origin:?} is not allowed (gateway.allowed_origins)"),
    ))
}

/// Reads `Accept`; an absent header accepts everything.
pub fn accepts(headers: &HeaderMap) -> Accepts {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
    else {
        return Accepts {
            json: true,
            sse: true,
        };
    };
    let any = accept.contains("*/*");
    Accepts {
        json: any || accept.contains("application/json") || accept.contains("application/*"),
        sse: any || accept.contains("text/event-stream") || accept.contains("text/*"),
    }
}

/// True when the body is declared as JSON.
pub fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| {
            content_type
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// The `Mcp-Param-*` headers (SEP-2243): name after the prefix, value
/// when it is visible ASCII.
pub(super) fn param_headers(headers: &HeaderMap) -> Vec<(String, HeaderText)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let suffix = name.as_str().strip_prefix("mcp-param-")?;
            Some((suffix.to_owned(), value.to_str().ok().map(str::to_owned)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GatewayConfig {
        crate::config::parse_toml("")
            .expect("parse")
            .validate(Some("t"))
            .expect("valid")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    #[test]
    fn dns_rebinding_is_refused() {
        let config = config();
        assert!(
            check_host_and_origin(&config, &headers(&[("host", "localhost:8080")]), None).is_ok()
        );
        assert!(
            check_host_and_origin(
                &config,
                &headers(&[("host", "127.0.0.1:9"), ("origin", "http://localhost:3000")]),
                None
            )
            .is_ok()
        );
        assert!(check_host_and_origin(&config, &headers(&[("host", "[::1]:9")]), None).is_ok());
        let evil_host =
            check_host_and_origin(&config, &headers(&[("host", "evil.example.com")]), None);
        assert_eq!(evil_host.expect_err("refused").0, StatusCode::FORBIDDEN);
        let evil_origin = check_host_and_origin(
            &config,
            &headers(&[("host", "localhost"), ("origin", "http://evil.example.com")]),
            None,
        );
        assert_eq!(evil_origin.expect_err("refused").0, StatusCode::FORBIDDEN);
    }

    #[test]
    fn accept_headers_are_read() {
        assert_eq!(
            accepts(&headers(&[(
                "accept",
                "application/json, text/event-stream"
            )])),
            Accepts {
                json: true,
                sse: true
            }
        );
        assert_eq!(
            accepts(&headers(&[("accept", "text/event-stream")])),
            Accepts {
                json: false,
                sse: true
            }
        );
        assert_eq!(
            accepts(&headers(&[("accept", "text/html")])),
            Accepts {
                json: false,
                sse: false
            }
        );
    }
}
