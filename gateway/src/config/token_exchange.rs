//! `[services.token_exchange]` (in an `mcpServers` entry: `tokenExchange`):
//! OAuth 2.0 Token Exchange (RFC 8693) for a service that needs each
//! caller's own credential upstream — a bridged HTTP server. The gateway
//! trades the caller's access token (from a configured issuer) at
//! `token_endpoint`, as the client `client_id` / `client_secret_file`, for
//! a token whose `audience` (and optional `resource`, `scope`) is the
//! upstream; only that token goes to the service. The secret is read at
//! start and never printed. Errors name their key.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// `token_exchange` as written (snake_case in TOML, camelCase in JSON).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokenExchange {
    #[serde(alias = "tokenEndpoint")]
    pub token_endpoint: String,
    #[serde(alias = "clientId")]
    pub client_id: String,
    #[serde(alias = "clientSecretFile")]
    pub client_secret_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The validated exchange of one service.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenExchangeConfig {
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenExchangeConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenExchangeConfig")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Validates a service's `token_exchange`; `key` names it in errors.
pub fn validate_token_exchange(
    raw: RawTokenExchange,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<Arc<TokenExchangeConfig>> {
    let before = errors.len();
    match url::Url::parse(&raw.token_endpoint) {
        Ok(url) if url.scheme() == "https" => {}
        Ok(url)
            if url.scheme() == "http"
                && url.host_str().is_some_and(|host| {
                    host == "localhost"
                        || host
                            .trim_matches(['[', ']'])
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                }) => {}
        Ok(_) => errors.push(format!(
            "{key}.token_endpoint: {:?} must be https:// (http:// only on loopback)",
            raw.token_endpoint
        )),
        Err(error) => errors.push(format!(
            "{key}.token_endpoint: {:?} is not a URL: {error}",
            raw.token_endpoint
        )),
    }
    if raw.client_id.is_empty() {
        errors.push(format!("{key}.client_id: must not be empty"));
    }
    if raw.audience.is_none() && raw.resource.is_none() {
        errors.push(format!(
            "{key}: set audience or resource (whom the exchanged token is for)"
        ));
    }
    let client_secret = match std::fs::read_to_string(&raw.client_secret_file) {
        Ok(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
        Ok(_) => {
            errors.push(format!(
                "{key}.client_secret_file: {} is empty",
                raw.client_secret_file.display()
            ));
            String::new()
        }
        Err(error) => {
            errors.push(format!(
                "{key}.client_secret_file: {}: {error}",
                raw.client_secret_file.display()
            ));
            String::new()
        }
    };
    (errors.len() == before).then(|| {
        Arc::new(TokenExchangeConfig {
            token_endpoint: raw.token_endpoint,
            client_id: raw.client_id,
            client_secret,
            audience: raw.audience,
            resource: raw.resource,
            scope: raw.scope,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_targets_and_secrets_are_checked_naming_the_key() {
        let secret = tempfile::NamedTempFile::new().expect("file");
        std::fs::write(secret.path(), "s3cret\n").expect("write");
        let raw = |endpoint: &str, audience: Option<&str>, secret_file: PathBuf| RawTokenExchange {
            token_endpoint: endpoint.into(),
            client_id: "gateway".into(),
            client_secret_file: secret_file,
            audience: audience.map(str::to_owned),
            ..RawTokenExchange::default()
        };
        let mut errors = Vec::new();
        let good = validate_token_exchange(
            raw(
                "http://127.0.0.1:9/token",
                Some("https://up"),
                secret.path().into(),
            ),
            "services[0].token_exchange",
            &mut errors,
        )
        .expect("valid");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(good.client_secret, "s3cret");
        assert!(
            !format!("{good:?}").contains("s3cret"),
            "the secret is never printed"
        );
        let key = "services[1].token_exchange";
        assert!(
            validate_token_exchange(
                raw("http://idp.example/token", None, "/nonexistent".into()),
                key,
                &mut errors
            )
            .is_none()
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("token_endpoint") && errors[0].contains("https://"));
        assert!(errors[1].contains("set audience or resource"));
        assert!(errors[2].starts_with("services[1].token_exchange.client_secret_file"));
    }
}
