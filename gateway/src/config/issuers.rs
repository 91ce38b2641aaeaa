//! `auth.resource` and `[[auth.issuers]]`: the identity providers whose JWT
//! access tokens the gateway accepts as an OAuth 2.1 resource server (the
//! MCP authorization spec) — each with its issuer, JWKS address, audience
//! (default: `auth.resource`, the gateway's canonical URI, RFC 8707),
//! accepted algorithms (RS256, ES256, EdDSA; never `none` or HMAC), the
//! claims naming the principal and its roles, and the clock leeway.
//! Validated into [`JwtConfig`]; errors name their key.

use std::time::Duration;

use serde::Deserialize;

/// `[[auth.issuers]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    /// Short name: principals are `NAME:<principal claim>`.
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Where its signing keys are (a JWK Set).
    pub jwks_uri: String,
    /// The `aud` its tokens must carry (default `auth.resource`).
    pub audience: Option<String>,
    /// The claim naming the principal (default `sub`).
    pub principal_claim: Option<String>,
    /// A claim holding the principal's roles (a list or a space-separated string).
    pub roles_claim: Option<String>,
    /// Accepted signature algorithms (default all of RS256, ES256, EdDSA).
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30).
    pub leeway_secs: Option<u64>,
}

/// A signature algorithm accepted on access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Rs256,
    Es256,
    EdDsa,
}

/// One validated issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    pub name: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
    pub principal_claim: String,
    pub roles_claim: Option<String>,
    pub algorithms: Vec<JwtAlgorithm>,
    pub leeway: Duration,
}

/// Everything JWT authentication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The gateway's canonical resource URI (RFC 8707 / RFC 9728).
    pub resource: String,
    pub issuers: Vec<IssuerConfig>,
    /// Configured service names (a token's scopes are read against them).
    pub service_names: Vec<String>,
}

/// True for an http(s) URL with a host; plain http only to loopback.
fn acceptable_url(text: &str, allow_http_loopback: bool) -> Result<(), String> {
    let parsed = url::Url::parse(text).map_err(|error| error.to_string())?;
    let Some(host) = parsed.host_str() else {
        return Err("has no host".into());
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_http_loopback && is_loopback(host) => Ok(()),
        "http" => Err("must be https (plain http only to loopback)".into()),
        other => Err(format!("scheme {other:?} is not https")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|character| character == '[' || character == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Validates `auth.resource` and `[[auth.issuers]]` (none: `None`).
pub fn validate_issuers(
    resource_opt: Option<String>,
    raws: Vec<RawIssuer>,
    service_names: &[&str],
    errors: &mut Vec<String>,
) -> Option<JwtConfig> {
    if raws.is_empty() {
        if resource_opt.is_some() {
            errors.push("auth.resource: set only with [[auth.issuers]]".into());
        }
        return None;
    }
    let Some(resource) = resource_opt else {
        errors.push(
            "auth.resource: required with [[auth.issuers]] (the gateway's canonical URI, e.g. https://mcp.example.com/mcp; tokens must be issued for it)"
                .into(),
        );
        return None;
    };
    if let Err(error) = acceptable_url(&resource, true) {
        errors.push(format!("auth.resource: {resource:?} {error}"));
    }
    let mut issuers: Vec<IssuerConfig> = Vec::new();
    for (index, raw) in raws.into_iter().enumerate() {
        let key = format!("auth.issuers[{index}]");
        let name_ok = !raw.name.is_empty()
            && raw.name.len() <= 32
            && raw
                .name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !name_ok {
            errors.push(format!(
                "{key}.name: {:?} must be 1-32 chars of A-Za-z0-9_-",
                raw.name
            ));
        }
        if issuers.iter().any(|other| other.name == raw.name) {
            errors.push(format!("{key}.name: duplicate name {:?}", raw.name));
        }
        if raw.issuer.is_empty() {
            errors.push(format!("{key}.issuer: required (the tokens' iss)"));
        }
        if issuers.iter().any(|other| other.issuer == raw.issuer) {
            errors.push(format!(
                "{key}.issuer: {:?} is configured twice",
                raw.issuer
            ));
        }
        if let Err(error) = acceptable_url(&raw.jwks_uri, true) {
            errors.push(format!("{key}.jwks_uri: {:?} {error}", raw.jwks_uri));
        }
        let algorithms = match raw.algorithms {
            None => vec![JwtAlgorithm::Rs256, JwtAlgorithm::Es256, JwtAlgorithm::EdDsa],
            Some(names) => names
                .iter()
                .enumerate()
                .filter_map(|(position, name)| match name.as_str() {
                    "RS256" => Some(JwtAlgorithm::Rs256),
                    "ES256" => Some(JwtAlgorithm::Es256),
                    "EdDSA" => Some(JwtAlgorithm::EdDsa),
                    other => {
                        errors.push(format!(
                            "{key}.algorithms[{position}]: {other:?} is not one of RS256, ES256, EdDSA (none and HMAC are never accepted)"
                        ));
                        None
                    }
                })
                .collect(),
        };
        let leeway_secs = raw.leeway_secs.unwrap_or(30);
        if leeway_secs > 300 {
            errors.push(format!("{key}.leeway_secs: {leeway_secs} is over 300"));
        }
        issuers.push(IssuerConfig {
            name: raw.name,
            issuer: raw.issuer,
            jwks_uri: raw.jwks_uri,
            audience: raw.audience.unwrap_or_else(|| resource.clone()),
            principal_claim: raw.principal_claim.unwrap_or_else(|| "sub".into()),
            roles_claim: raw.roles_claim,
            algorithms,
            leeway: Duration::from_secs(leeway_secs),
        });
    }
    Some(JwtConfig {
        resource,
        issuers,
        service_names: service_names
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, jwks_uri: &str) -> RawIssuer {
        RawIssuer {
            name: name.into(),
            issuer: format!("https://{name}.example.com"),
            jwks_uri: jwks_uri.into(),
            ..RawIssuer::default()
        }
    }

    #[test]
    fn issuers_need_a_resource_and_safe_addresses() {
        let mut errors = Vec::new();
        assert!(
            validate_issuers(
                None,
                vec![raw("corp", "https://corp.example.com/jwks")],
                &[],
                &mut errors
            )
            .is_none()
        );
        assert!(
            errors[0].starts_with("auth.resource: required"),
            "{errors:?}"
        );
        let mut errors = Vec::new();
        let config = validate_issuers(
            Some("https://mcp.example.com/mcp".into()),
            vec![
                raw("corp", "http://idp.example.com/jwks"),
                raw("corp", "http://127.0.0.1:9000/jwks"),
                RawIssuer {
                    algorithms: Some(vec!["HS256".into(), "none".into()]),
                    ..raw("other", "https://other.example.com/jwks")
                },
            ],
            &["fs"],
            &mut errors,
        )
        .expect("config");
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("auth.issuers[0].jwks_uri")
                    && error.contains("https")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("auth.issuers[1].name: duplicate")),
            "{errors:?}"
        );
        assert!(
            !errors
                .iter()
                .any(|error| error.starts_with("auth.issuers[1].jwks_uri")),
            "loopback http is fine: {errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("auth.issuers[2].algorithms[0]")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("auth.issuers[2].algorithms[1]")),
            "{errors:?}"
        );
        assert_eq!(config.issuers[0].audience, "https://mcp.example.com/mcp");
        assert_eq!(config.issuers[0].principal_claim, "sub");
    }
}
