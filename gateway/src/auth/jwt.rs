//! JWT access tokens of the configured issuers: the unverified `iss` picks
//! the issuer, the header's `alg` must be one it accepts (RS256, ES256,
//! EdDSA — `none` and HMAC never), its key comes by `kid` from the issuer's
//! JWK Set (`jwks`), and the signature, `iss`, `aud` (the gateway's
//! resource), `exp` and `nbf` (with the issuer's leeway) are checked. The
//! principal is `ISSUER_NAME:<principal claim>`, its roles from the roles
//! claim, its scopes from `scope` (space-separated) or `scp`, read against
//! the configured services (others ignored). Verified tokens are cached by
//! digest until they expire, so a warm request costs a hash and a lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::Value;

use super::jwks::IssuerKeys;
use crate::config::{JwtAlgorithm, JwtConfig};
use crate::error::GatewayError;
use crate::principal::{Principal, Scopes, SubjectToken, digest};

/// Verified tokens kept at most.
const MAX_CACHED: usize = 10_000;
/// Longest principal name taken from a claim.
const MAX_PRINCIPAL_CLAIM: usize = 256;
/// Most roles a token may carry (more is refused: dropping some could
/// drop the one a Cedar `forbid` names).
pub const MAX_ROLES: usize = 256;
/// Scopes a token may carry (`scope` and `scp` together): each may be a
/// compiled name pattern, so an issuer's claims cannot make one principal
/// (and the catalog views and caches built for it) as large as they like.
pub const MAX_SCOPES: usize = 256;

/// Verified tokens: digest → principal, expiry (seconds since the epoch),
/// and the issuer (its index) with its key removals count at the time.
type Verified = HashMap<[u8; 32], (Arc<Principal>, u64, (usize, u64))>;

/// Tokens refused once their signature was checked (bad signature,
/// expired, another audience, unusable claims): digest → why and until
/// when (seconds since the epoch). A client sending one bad token again
/// and again costs a lookup, not a signature check each time.
type Refused = HashMap<[u8; 32], (String, u64)>;

/// How long a refusal is remembered.
const REFUSAL_MEMORY_SECS: u64 = 30;

/// Verifies the access tokens of the configured issuers.
pub struct JwtVerifier {
    pub config: Arc<JwtConfig>,
    issuers: Vec<Arc<IssuerKeys>>,
    http: reqwest::Client,
    verified: Mutex<Verified>,
    refusals: Mutex<Refused>,
}

fn refused(message: impl Into<String>) -> GatewayError {
    GatewayError::Unauthorized(message.into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// True when `token` has the shape of a JWS compact serialization.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|byte| *byte == b'.').count() == 2
}

impl JwtVerifier {
    /// A verifier for `config`; keys are fetched on first need (and by
    /// [`JwtVerifier::refresh_all`]).
    pub fn new(config: Arc<JwtConfig>) -> Arc<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Arc::new(Self {
            issuers: config
                .issuers
                .iter()
                .cloned()
                .map(IssuerKeys::new)
                .collect(),
            config,
            http,
            verified: Mutex::default(),
            refusals: Mutex::default(),
        })
    }

    /// Fetches every issuer's keys (at start, then periodically).
    pub async fn refresh_all(&self) {
        for issuer in &self.issuers {
            issuer.refresh(&self.http).await;
        }
    }

    /// How soon [`JwtVerifier::refresh_all`] should run again because an
    /// issuer's last fetch failed (`None`: every issuer's keys came).
    pub fn retry_in(&self) -> Option<Duration> {
        self.issuers
            .iter()
            .filter_map(|issuer| issuer.retry_in())
            .min()
    }

    /// The principal `token` stands for, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Arc<Principal>, GatewayError> {
        let token_digest = digest(token);
        if let Some(principal) = self.cached(&token_digest) {
            return Ok(principal);
        }
        if let Some(why) = self.refused_before(&token_digest) {
            return Err(refused(why));
        }
        let header = decode_header(token)
            .map_err(|error| refused(format!("malformed bearer token: {error}")))?;
        let algorithm = match header.alg {
            Algorithm::RS256 => JwtAlgorithm::Rs256,
            Algorithm::ES256 => JwtAlgorithm::Es256,
            Algorithm::EdDSA => JwtAlgorithm::EdDsa,
            other => {
                return Err(refused(format!(
                    "token algorithm {other:?} is not accepted (RS256, ES256, EdDSA)"
                )));
            }
        };
        let issuer_text = unverified_issuer(token)?;
        let (issuer_index, issuer) = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, issuer)| issuer.config.issuer == issuer_text)
            .ok_or_else(|| refused(format!("token from an unknown issuer {issuer_text:?}")))?;
        // Read before the key is: a removal from now on checks it again.
        let removals = issuer.removals();
        if !issuer.config.algorithms.contains(&algorithm) {
            return Err(refused(format!(
                "issuer {} does not sign with {:?}",
                issuer.config.name, header.alg
            )));
        }
        let kid_opt = header.kid.as_deref();
        let key = match issuer.key(kid_opt, algorithm) {
            Some(key) => key,
            None => {
                issuer.refresh(&self.http).await;
                issuer.key(kid_opt, algorithm).ok_or_else(|| {
                    refused(format!(
                        "no signing key {} of issuer {} for {:?}",
                        kid_opt.map_or_else(|| "(no kid)".to_owned(), |kid| format!("{kid:?}")),
                        issuer.config.name,
                        header.alg
                    ))
                })?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = issuer.config.leeway.as_secs();
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_audience(&[&issuer.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        let decoded = decode::<Value>(token, &key.key, &validation);
        if let Err(error) = &decoded
            && matches!(error.kind(), ErrorKind::ImmatureSignature)
        {
            // Valid later: not remembered.
            return Err(refused("bearer token not valid yet (nbf)"));
        }
        let claims = decoded
            .map_err(|error| {
                refused(match error.kind() {
                    ErrorKind::ExpiredSignature => "bearer token expired".to_owned(),
                    ErrorKind::ImmatureSignature => "bearer token not valid yet (nbf)".to_owned(),
                    ErrorKind::InvalidAudience => format!(
                        "bearer token is for another audience (this gateway is {})",
                        issuer.config.audience
                    ),
                    ErrorKind::InvalidIssuer => "bearer token issuer mismatch".to_owned(),
                    ErrorKind::InvalidSignature => {
                        "bearer token signature does not verify".to_owned()
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        format!("bearer token has no {claim} claim")
                    }
                    other => format!("bearer token refused: {other:?}"),
                })
            })
            .map_err(|error| self.remember_refusal(token_digest, error))?
            .claims;
        let mut principal = self
            .principal(
                &issuer.config.name,
                &issuer.config.principal_claim,
                issuer.config.roles_claim.as_deref(),
                &claims,
            )
            .map_err(|error| self.remember_refusal(token_digest, error))?;
        principal.subject_token = Some(SubjectToken::new(token));
        let principal = Arc::new(principal);
        let expires = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        self.remember(token_digest, &principal, expires, (issuer_index, removals));
        Ok(principal)
    }

    fn cached(&self, token_digest: &[u8; 32]) -> Option<Arc<Principal>> {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        let (principal, expires, (issuer, removals)) = verified.get(token_digest)?;
        // A key left the issuer's set since: verified again.
        let keys_kept = self
            .issuers
            .get(*issuer)
            .is_some_and(|keys| keys.removals() == *removals);
        (*expires > now_secs() && keys_kept).then(|| principal.clone())
    }

    fn refused_before(&self, token_digest: &[u8; 32]) -> Option<String> {
        let refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let (why, until) = refusals.get(token_digest)?;
        (*until > now_secs()).then(|| why.clone())
    }

    /// Keeps `error` (a refusal) for `token_digest` a while; returns it.
    fn remember_refusal(&self, token_digest: [u8; 32], error: GatewayError) -> GatewayError {
        if let GatewayError::Unauthorized(why) = &error {
            let now = now_secs();
            let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            if refusals.len() >= MAX_CACHED {
                refusals.retain(|_, (_, until)| *until > now);
                if refusals.len() >= MAX_CACHED {
                    refusals.clear();
                }
            }
            refusals.insert(token_digest, (why.clone(), now + REFUSAL_MEMORY_SECS));
        }
        error
    }

    fn remember(
        &self,
        token_digest: [u8; 32],
        principal: &Arc<Principal>,
        expires: u64,
        issuer: (usize, u64),
    ) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= MAX_CACHED {
            let now = now_secs();
            verified.retain(|_, (_, expires, _)| *expires > now);
            if verified.len() >= MAX_CACHED {
                verified.clear();
            }
        }
        verified.insert(token_digest, (principal.clone(), expires, issuer));
    }

    fn principal(
        &self,
        issuer_name: &str,
        principal_claim: &str,
        roles_claim_opt: Option<&str>,
        claims: &Value,
    ) -> Result<Principal, GatewayError> {
        let subject = match claims.get(principal_claim) {
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => {
                return Err(refused(format!(
                    "bearer token has no {principal_claim} claim"
                )));
            }
        };
        if subject.len() > MAX_PRINCIPAL_CLAIM
            || subject.chars().any(|character| {
                character.is_control() || crate::wire::names::reorders_text(character)
            })
        {
            return Err(refused(format!(
                "bearer token's {principal_claim} claim is not a usable name"
            )));
        }
        let roles: Vec<String> = roles_claim_opt
            .map(|claim| words(claims.get(claim)))
            .unwrap_or_default();
        if roles.len() > MAX_ROLES {
            // Refused, not cut: a role past the limit may be the one a
            // policy forbids.
            return Err(refused(format!(
                "bearer token carries {} roles; at most {MAX_ROLES} are accepted",
                roles.len()
            )));
        }
        let mut granted = words(claims.get("scope"));
        granted.extend(words(claims.get("scp")));
        if granted.len() > MAX_SCOPES {
            return Err(refused(format!(
                "bearer token carries {} scopes; at most {MAX_SCOPES} are accepted",
                granted.len()
            )));
        }
        let names: Vec<&str> = self
            .config
            .service_names
            .iter()
            .map(String::as_str)
            .collect();
        let usable: Vec<String> = granted
            .into_iter()
            .filter(|scope| Scopes::parse(std::slice::from_ref(scope), &names).is_ok())
            .collect();
        let scopes = Scopes::parse(&usable, &names).unwrap_or_default();
        Ok(Principal::new(
            format!("{issuer_name}:{subject}"),
            scopes,
            roles,
        ))
    }
}

/// A claim that is a list of strings or one space-separated string.
fn words(value_opt: Option<&Value>) -> Vec<String> {
    match value_opt {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The `iss` of a token before its signature is checked (to pick the
/// issuer whose keys check it).
fn unverified_issuer(token: &str) -> Result<String, GatewayError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| refused("malformed bearer token"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| refused("malformed bearer token: its claims are not base64url"))?;
    let claims: Value = serde_json::from_slice(&bytes)
        .map_err(|_| refused("malformed bearer token: its claims are not JSON"))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| refused("bearer token has no iss claim"))
}
