//! Bearer-token authentication: [`Authenticator::authenticate`] (headers)
//! → [`Principal`]. Configured tokens are kept only as SHA-256 digests and
//! compared in constant time, each mapped to its principal (a name and
//! scopes); JWT access tokens of configured issuers are verified by `jwt`
//! with keys from `jwks`. The principal handed on to services and audit is
//! a name (a short fingerprint for an unnamed token), never the token.
//! Tokens are read only from the `Authorization` header, and are at most
//! [`MAX_TOKEN_BYTES`]. A request without one, on a connection whose client
//! certificate the TLS handshake verified (`[gateway.tls] client_ca_file`),
//! is the principal `[[auth.client_certificates]]` maps that certificate's
//! names to; a bearer token, when sent, is what decides.

mod exchange;
mod jwks;
mod jwt;

use std::sync::Arc;

use http::HeaderMap;
use subtle::{ConditionallySelectable, ConstantTimeEq};

pub use self::exchange::TokenExchanges;
pub use self::jwt::JwtVerifier;
use crate::config::AuthConfig;
use crate::error::GatewayError;
use crate::principal::{CertificateEntry, ClientCertificate, Principal, TokenEntry, digest};

/// Longest bearer token read.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// How clients authenticate now: the config and, with issuers, the JWT
/// verifier (its keys and verified tokens).
pub struct Authenticator {
    pub config: AuthConfig,
    jwt_opt: Option<Arc<JwtVerifier>>,
}

impl Authenticator {
    /// The authenticator of `config`, keeping the verifier (keys, verified
    /// tokens) of `previous_opt` when its issuers did not change.
    pub fn new(config: AuthConfig, previous_opt: Option<&Self>) -> Self {
        let jwt_opt = match &config {
            AuthConfig::Tokens {
                jwt_opt: Some(jwt), ..
            } => Some(
                previous_opt
                    .and_then(|previous| previous.jwt_opt.clone())
                    .filter(|kept| kept.config == *jwt)
                    .unwrap_or_else(|| JwtVerifier::new(jwt.clone())),
            ),
            _ => None,
        };
        Self { config, jwt_opt }
    }

    /// The JWT verifier, when issuers are configured.
    pub fn jwt(&self) -> Option<&Arc<JwtVerifier>> {
        self.jwt_opt.as_ref()
    }

    /// The principal of the request (its headers, and the client
    /// certificate of its connection), or `Unauthorized` saying why.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate_opt: Option<&ClientCertificate>,
    ) -> Result<Arc<Principal>, GatewayError> {
        let (tokens, certificates) = match &self.config {
            AuthConfig::InsecureNoAuth { anonymous } => return Ok(anonymous.clone()),
            AuthConfig::Tokens {
                tokens,
                certificates,
                ..
            } => (tokens, certificates),
        };
        if let Some(certificate) = certificate_opt
            && !headers.contains_key(http::header::AUTHORIZATION)
        {
            return certified(certificates, certificate);
        }
        let token = bearer(headers)?;
        if let Some(principal) = configured(tokens, token) {
            return Ok(principal);
        }
        match &self.jwt_opt {
            Some(verifier) if jwt::looks_like_jwt(token) => verifier.verify(token).await,
            _ => Err(GatewayError::Unauthorized("invalid bearer token".into())),
        }
    }
}

/// The bearer token of `headers`.
fn bearer(headers: &HeaderMap) -> Result<&str, GatewayError> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| GatewayError::Unauthorized("missing bearer token".into()))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            GatewayError::Unauthorized(
                "malformed Authorization header: expected `Bearer <token>`".into(),
            )
        })?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(GatewayError::Unauthorized(format!(
            "bearer token over {MAX_TOKEN_BYTES} bytes"
        )));
    }
    Ok(token)
}

/// The principal a verified client certificate is configured as.
fn certified(
    certificates: &[CertificateEntry],
    certificate: &ClientCertificate,
) -> Result<Arc<Principal>, GatewayError> {
    certificates
        .iter()
        .find(|entry| entry.name.matches(certificate))
        .map(|entry| entry.principal.clone())
        .ok_or_else(|| {
            GatewayError::Unauthorized(format!(
                "the client certificate ({}) is not one of auth.client_certificates; send a bearer token",
                certificate.describe()
            ))
        })
}

/// The principal of a configured token equal to `token`. Every entry is
/// compared; which one matched is selected without a data-dependent branch.
fn configured(tokens: &[TokenEntry], token: &str) -> Option<Arc<Principal>> {
    let presented = digest(token);
    let mut found = subtle::Choice::from(0);
    let mut position = 0u32;
    for (index, entry) in tokens.iter().enumerate() {
        let matches = entry.sha256.ct_eq(&presented);
        position.conditional_assign(&(index as u32), matches);
        found |= matches;
    }
    bool::from(found).then(|| tokens[position as usize].principal.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{TokenEntry, fingerprint};

    fn entry(token: &str, id: &str) -> TokenEntry {
        TokenEntry {
            sha256: digest(token),
            principal: Principal::unrestricted(id),
        }
    }

    #[test]
    fn only_a_configured_token_passes_and_names_its_principal() {
        let auth = Authenticator::new(
            AuthConfig::Tokens {
                tokens: vec![entry("s3cret", "alice"), entry("other", "bob")],
                jwt_opt: None,
                certificates: Vec::new(),
            },
            None,
        );
        let check = |headers: &HeaderMap| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(auth.authenticate(headers, None))
        };
        let mut headers = HeaderMap::new();
        assert!(check(&headers).is_err());
        headers.insert("authorization", "Bearer wrong".parse().expect("header"));
        assert!(check(&headers).is_err());
        headers.insert("authorization", "Basic czNjcmV0".parse().expect("header"));
        assert!(check(&headers).is_err());
        headers.insert("authorization", "Bearer s3cret".parse().expect("header"));
        assert_eq!(check(&headers).expect("ok").id, "alice");
        headers.insert("authorization", "Bearer other".parse().expect("header"));
        assert_eq!(check(&headers).expect("ok").id, "bob");
        let oversized = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        headers.insert("authorization", oversized.parse().expect("header"));
        let refused = check(&headers).expect_err("oversized");
        assert!(refused.to_string().contains("over 8192 bytes"), "{refused}");
        let unnamed = fingerprint(&digest("s3cret"));
        assert!(unnamed.starts_with("token:") && !unnamed.contains("s3cret"));
    }
}
