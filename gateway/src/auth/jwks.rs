//! One issuer's signing keys: its JWK Set fetched from `jwks_uri`, kept as
//! verification keys by `kid` with the one algorithm each may verify (RSA →
//! RS256, P-256 → ES256, Ed25519 → EdDSA; symmetric `oct` keys and other
//! curves are skipped), refreshed in the background and when a token names
//! a key not known yet — at most once per [`MIN_REFRESH_INTERVAL`], so a
//! stream of made-up `kid`s cannot turn into a stream of fetches. A failed
//! fetch — or an answer with no usable key, such as `{"keys":[]}` — keeps
//! the keys already known, and the next may start sooner: after
//! [`FIRST_RETRY`], doubling with each failure up to [`MIN_REFRESH_INTERVAL`]
//! (an issuer down or slow at start costs its users seconds, not the
//! interval); [`IssuerKeys::retry_in`] tells the background refresher when.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};

use crate::config::{IssuerConfig, JwtAlgorithm};

/// Fetches closer together than this are skipped (after a success).
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How soon a fetch may follow one that failed (doubled per failure).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
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
    /// The last fetch (and the lock fetches take).
    last_fetch: tokio::sync::Mutex<LastFetch>,
    /// Until a fetch succeeds: when the next may start (for the
    /// background refresher, which does not take the lock to ask).
    retry_at: std::sync::Mutex<Option<Instant>>,
    /// How many fetches have dropped a key known before: a token verified
    /// with an earlier count is checked again (its key may be gone).
    removals: std::sync::atomic::AtomicU64,
}

/// When the last fetch started and how many failed in a row since the
/// last success.
#[derive(Debug, Default, Clone, Copy)]
struct LastFetch {
    started_opt: Option<Instant>,
    failures: u32,
}

// === impl LastFetch ===

impl LastFetch {
    /// How long after the last fetch started the next may start.
    fn spacing(self) -> Duration {
        if self.failures == 0 {
            return MIN_REFRESH_INTERVAL;
        }
        let doublings = self.failures.saturating_sub(1).min(8);
        FIRST_RETRY
            .saturating_mul(1 << doublings)
            .min(MIN_REFRESH_INTERVAL)
    }

    /// When the next fetch may start (`None`: now).
    fn next_at(self) -> Option<Instant> {
        self.started_opt.map(|started| started + self.spacing())
    }
}

impl IssuerKeys {
    pub fn new(config: IssuerConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            keys: ArcSwap::default(),
            last_fetch: tokio::sync::Mutex::new(LastFetch::default()),
            retry_at: std::sync::Mutex::new(None),
            removals: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many fetches so far dropped a key that was known before.
    pub fn removals(&self) -> u64 {
        self.removals.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How long until a fetch should be tried again, while the last one
    /// failed (`None` once one succeeded).
    pub fn retry_in(&self) -> Option<Duration> {
        let retry_at = *self
            .retry_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        retry_at.map(|at| at.saturating_duration_since(Instant::now()))
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

    /// Fetches the JWK Set again unless the last fetch started too
    /// recently ([`MIN_REFRESH_INTERVAL`] after a success, less after
    /// failures); concurrent callers wait for one fetch.
    pub async fn refresh(&self, http: &reqwest::Client) {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch
            .next_at()
            .is_some_and(|next| Instant::now() < next)
        {
            return;
        }
        last_fetch.started_opt = Some(Instant::now());
        match fetch(http, &self.config.jwks_uri).await {
            Ok(keys) => {
                tracing::debug!(issuer = %self.config.name, keys = keys.len(), "signing keys fetched");
                let previous = self.keys.swap(Arc::new(keys));
                let current = self.keys.load();
                let dropped = previous.iter().any(|known| {
                    !current
                        .iter()
                        .any(|key| key.kid_opt == known.kid_opt && key.algorithm == known.algorithm)
                });
                if dropped {
                    tracing::info!(issuer = %self.config.name, "a signing key left the issuer's key set: tokens it signed are checked again");
                    self.removals
                        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
                last_fetch.failures = 0;
            }
            Err(error) => {
                last_fetch.failures = last_fetch.failures.saturating_add(1);
                tracing::warn!(issuer = %self.config.name, jwks_uri = %self.config.jwks_uri, %error, retry_in_ms = last_fetch.spacing().as_millis() as u64, "cannot fetch the issuer's signing keys; keeping those known");
            }
        }
        let retry_at = (last_fetch.failures > 0)
            .then(|| last_fetch.next_at())
            .flatten();
        *self
            .retry_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = retry_at;
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
    let keys = usable_keys(&set);
    // No usable key is a broken answer, as garbage is: the keys known stay.
    if keys.is_empty() {
        return Err(format!(
            "the JWK Set has no usable signing key ({} keys listed)",
            set.keys.len()
        ));
    }
    Ok(keys)
}

/// The keys of `set` that verify access tokens here.
fn usable_keys(set: &JwkSet) -> Vec<SigningKey> {
    set.keys
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_space_fetches_from_a_second_up_to_the_interval() {
        let spacing = |failures| {
            LastFetch {
                started_opt: None,
                failures,
            }
            .spacing()
        };
        assert_eq!(spacing(0), MIN_REFRESH_INTERVAL, "after a success");
        let retries: Vec<u64> = (1..=6)
            .map(|failures| spacing(failures).as_secs())
            .collect();
        assert_eq!(retries, [1, 2, 4, 8, 10, 10]);
        assert_eq!(spacing(u32::MAX), MIN_REFRESH_INTERVAL);
        assert!(
            LastFetch::default().next_at().is_none(),
            "never fetched: now"
        );
    }
}
