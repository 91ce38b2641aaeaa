//! `Fetcher`: one GET, redirects followed by hand (each hop re-checked by the
//! policy), the body streamed and cut at the size cap, the whole exchange
//! bounded in time.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use url::Url;

use crate::resolver::PolicyResolver;
use crate::{FetchConfig, FetchError, UrlPolicy};

/// Request headers a caller may set.
const ALLOWED_HEADERS: [&str; 2] = ["accept", "accept-language"];

/// What a fetch returned.
#[derive(Debug)]
pub struct Fetched {
    pub final_url: Url,
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

/// Performs policy-checked GETs.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<UrlPolicy>,
    max_bytes: u64,
    timeout: Duration,
    max_redirects: usize,
}

/// Finds a [`FetchError`] in an error's source chain (raised by the resolver).
fn policy_error(error: &reqwest::Error) -> Option<FetchError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<FetchError>() {
            return Some(found.clone());
        }
        source = current.source();
    }
    None
}

impl Fetcher {
    /// Builds the HTTP client (TLS with the ring provider, no proxies, no
    /// automatic redirects, the policy resolver).
    pub fn new(config: &FetchConfig) -> Result<Self, FetchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(UrlPolicy::new(
            &config.allow_domains,
            config.allow_private_addresses,
        ));
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver::new(policy.clone())))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("micromcp-fetch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| FetchError::Http(error.to_string()))?;
        Ok(Self {
            client,
            policy,
            max_bytes: config.max_bytes,
            timeout: config.timeout,
            max_redirects: config.max_redirects,
        })
    }

    /// Checks caller-supplied headers against the allowed set.
    pub fn headers(requested: &[(String, String)]) -> Result<HeaderMap, FetchError> {
        let mut headers = HeaderMap::new();
        for (name, value) in requested {
            let lower = name.to_ascii_lowercase();
            if !ALLOWED_HEADERS.contains(&lower.as_str()) {
                return Err(FetchError::HeaderNotAllowed(name.clone()));
            }
            let header_name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| FetchError::HeaderNotAllowed(name.clone()))?;
            let header_value = HeaderValue::from_str(value)
                .map_err(|_| FetchError::HeaderNotAllowed(name.clone()))?;
            headers.insert(header_name, header_value);
        }
        Ok(headers)
    }

    /// GETs `url`, following allowed redirects.
    pub async fn get(&self, url: &str, headers: HeaderMap) -> Result<Fetched, FetchError> {
        let url = Url::parse(url).map_err(|error| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        let seconds = self.timeout.as_secs();
        tokio::time::timeout(self.timeout, self.follow(url, headers))
            .await
            .map_err(|_| FetchError::Timeout(seconds))?
    }

    async fn follow(&self, start: Url, headers: HeaderMap) -> Result<Fetched, FetchError> {
        self.policy.check_url(&start)?;
        let mut url = start;
        for _ in 0..=self.max_redirects {
            let response = self
                .client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(|error| {
                    policy_error(&error)
                        .unwrap_or_else(|| FetchError::Http(error.without_url().to_string()))
                })?;
            if response.status().is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                let location = location.to_str().unwrap_or_default();
                let next = url.join(location).map_err(|error| FetchError::InvalidUrl {
                    url: location.to_owned(),
                    reason: error.to_string(),
                })?;
                self.policy
                    .check_url(&next)
                    .map_err(|error| FetchError::Redirect(next.to_string(), Box::new(error)))?;
                url = next;
                continue;
            }
            return self.read(url, response).await;
        }
        Err(FetchError::TooManyRedirects(self.max_redirects))
    }

    async fn read(
        &self,
        final_url: Url,
        response: reqwest::Response,
    ) -> Result<Fetched, FetchError> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let mut body = BytesMut::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|error| FetchError::Http(error.without_url().to_string()))?;
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            final_url,
            status,
            content_type,
            body: body.freeze(),
        })
    }
}
