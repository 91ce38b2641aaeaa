//! One issuer's signing keys: its JWK Set fetched from `jwks_uri`, kept as
//! verification keys by `kid` with the one algorithm each may verify (RSA →
//! RS256, P-256 → ES256, Ed25519 → EdDSA; symmetric `oct` keys and other
//! curves are skipped), refreshed in the background and when a token names
//! a key not known yet — at most once per [`MIN_REFRESH_INTERVAL`], so a
//! stream of made-up `kid`s cannot turn into a stream of fetches. A failed
//! fetch keeps the keys already known.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};

use crate::config::{IssuerConfig, JwtAlgorithm};

/// Fetches closer together than this are skipped.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Largest JWK Set read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One verification key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid_opt: Option<String>,
    pub algorithm: JwtAlgorithm,
    pub key: DecodingKey,
}

/// An issuer and its keys.
pub struct IssuerKeys {
    pub config: IssuerConfig,
    keys: ArcSwap<Vec<SigningKey>>,
    /// When the last fetch started (and the lock fetches take).
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl IssuerKeys {
    pub fn new(config: IssuerConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            keys: ArcSwap::default(),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// The key for a token signed with `algorithm` naming `kid_opt`: by
    /// `kid`, or the only key of that algorithm when the token names none.
    pub fn key(&self, kid_opt: Option<&str>, algorithm: JwtAlgorithm) -> Option<SigningKey> {
        let keys = self.keys.load();
        let mut fitting = keys.iter().filter(|key| key.algorithm == algorithm);
        match kid_opt {
            Some(kid) => fitting
                .find(|key| key.kid_opt.as_deref() == Some(kid))
                .cloned(),
            None => {
                let first = fitting.next()?;
                fitting.next().is_none().then(|| first.clone())
            }
        }
    }

    /// Fetches the JWK Set again unless a fetch started within
    /// [`MIN_REFRESH_INTERVAL`] (concurrent callers wait for one fetch).
    pub async fn refresh(&self, http: &reqwest::Client) {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.is_some_and(|started| started.elapsed() < MIN_REFRESH_INTERVAL) {
            return;
        }
        *last_fetch = Some(Instant::now());
        match fetch(http, &self.config.jwks_uri).await {
            Ok(keys) => {
                tracing::debug!(issuer = %self.config.name, keys = keys.len(), "signing keys fetched");
                self.keys.store(Arc::new(keys));
            }
            Err(error) => {
                tracing::warn!(issuer = %self.config.name, jwks_uri = %self.config.jwks_uri, %error, "cannot fetch the issuer's signing keys; keeping those known");
            }
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<SigningKey>, String> {
    let mut response = http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|error| {
            crate::error::with_causes(error.to_string(), std::error::Error::source(&error))
        })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("JWK Set over {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let set: JwkSet =
        serde_json::from_slice(&body).map_err(|error| format!("not a JWK Set: {error}"))?;
    Ok(set
        .keys
        .iter()
        .filter_map(|jwk| {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => JwtAlgorithm::Rs256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    JwtAlgorithm::Es256
                }
                AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                    JwtAlgorithm::EdDsa
                }
                // Symmetric keys never verify access tokens here; other curves are not accepted.
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(SigningKey {
                kid_opt: jwk.common.key_id.clone(),
                algorithm,
                key,
            })
        })
        .collect())
}
