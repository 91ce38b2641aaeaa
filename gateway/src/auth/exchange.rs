//! OAuth 2.0 Token Exchange (RFC 8693) for services with `token_exchange`:
//! the caller's access token (the JWT it signed in with) is traded at the
//! configured token endpoint — the gateway authenticating as its client
//! (HTTP Basic) — for a token whose audience is the service's upstream.
//! Exchanged tokens are cached per service and caller token until shortly
//! before they expire (at most an hour, a minute when the endpoint gives
//! no `expires_in`), so a caller's calls cost one exchange. The caller's
//! token goes only to the token endpoint; a refusal there (`invalid_grant`
//! …) is a 403 naming it, an endpoint that cannot be reached a transient
//! error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::TokenExchangeConfig;
use crate::error::GatewayError;
use crate::principal::SubjectToken;

/// Exchanged tokens kept before the cache is cleared of expired ones.
const MAX_CACHED: usize = 10_000;
/// Longest wait for the token endpoint.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest token endpoint answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// An exchanged token is used until this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The gateway's exchanges: an HTTP client and the tokens it got.
#[derive(Default)]
pub struct TokenExchanges {
    /// Built on the first exchange: a gateway that never exchanges never
    /// loads the machine's CA certificates for it.
    http: std::sync::OnceLock<reqwest::Client>,
    cache: Mutex<HashMap<[u8; 32], Exchanged>>,
}

/// An exchanged token and until when it is used.
type Exchanged = (Arc<str>, Instant);

impl TokenExchanges {
    /// The token `service` passes upstream for the caller whose own token
    /// is `subject`.
    pub async fn exchange(
        &self,
        service: &str,
        config: &TokenExchangeConfig,
        subject: &SubjectToken,
    ) -> Result<Arc<str>, GatewayError> {
        let key = cache_key(service, config, subject);
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        let (token, lifetime) = self.request(service, config, subject).await?;
        let token: Arc<str> = Arc::from(token);
        let until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (token.clone(), until));
        Ok(token)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<str>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let (token, until) = cache.get(key)?;
        (*until > Instant::now()).then(|| token.clone())
    }

    /// One exchange at the endpoint: the token and how long it lasts.
    async fn request(
        &self,
        service: &str,
        config: &TokenExchangeConfig,
        subject: &SubjectToken,
    ) -> Result<(String, Duration), GatewayError> {
        let endpoint = &config.token_endpoint;
        let unreachable = |detail: String| {
            GatewayError::transient(
                service,
                format!("token exchange for service {service:?} at {endpoint} failed: {detail}"),
            )
        };
        let body = form_body(config, subject);
        let http = match self.http.get() {
            Some(http) => http,
            None => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let built = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|error| unreachable(format!("no HTTP client: {error}")))?;
                self.http.get_or_init(|| built)
            }
        };
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let mut response = http
            .post(endpoint)
            .basic_auth(
                encode(&config.client_id),
                Some(encode(&config.client_secret)),
            )
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .timeout(EXCHANGE_TIMEOUT)
            .send()
            .await
            .map_err(|error| unreachable(error.without_url().to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| unreachable(error.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(unreachable(format!("answer over {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_client_error() {
            let error = answer["error"].as_str().unwrap_or("refused");
            let description = answer["error_description"]
                .as_str()
                .map(|text| format!(": {}", text.chars().take(200).collect::<String>()))
                .unwrap_or_default();
            return Err(GatewayError::Forbidden {
                message: format!(
                    "forbidden: the identity provider would not exchange the caller's token for service {service:?} ({} {error}{description})",
                    status.as_u16()
                ),
                scope_opt: None,
            });
        }
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {}", status.as_u16())));
        }
        let token = answer["access_token"]
            .as_str()
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unreachable("the answer has no access_token".into()))?;
        let lifetime = answer["expires_in"]
            .as_u64()
            .map_or(Duration::from_secs(60), |seconds| {
                Duration::from_secs(seconds.min(3600))
            });
        Ok((token.to_owned(), lifetime))
    }
}

/// The exchange request's form (RFC 8693 §2.1).
fn form_body(config: &TokenExchangeConfig, subject: &SubjectToken) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", GRANT_TYPE)
        .append_pair("subject_token", subject.expose())
        .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
        .append_pair("requested_token_type", ACCESS_TOKEN_TYPE);
    for (name, value_opt) in [
        ("audience", &config.audience),
        ("resource", &config.resource),
        ("scope", &config.scope),
    ] {
        if let Some(value) = value_opt {
            form.append_pair(name, value);
        }
    }
    form.finish()
}

/// What an exchanged token is cached by: the service, what it is
/// exchanged for, and the caller's token.
fn cache_key(service: &str, config: &TokenExchangeConfig, subject: &SubjectToken) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        service,
        &config.token_endpoint,
        config.audience.as_deref().unwrap_or_default(),
        config.resource.as_deref().unwrap_or_default(),
        config.scope.as_deref().unwrap_or_default(),
        subject.expose(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}
