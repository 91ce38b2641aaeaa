//! Bearer-token authentication: tokens are kept only as SHA-256 digests and
//! compared in constant time. The principal handed on to services and audit
//! is a short fingerprint of the token, never the token.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;
use crate::error::GatewayError;

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The principal of the request, or `Unauthorized`.
pub fn authenticate(auth: &AuthConfig, headers: &HeaderMap) -> Result<String, GatewayError> {
    let token_sha256 = match auth {
        AuthConfig::InsecureNoAuth => return Ok("anonymous".into()),
        AuthConfig::Tokens { token_sha256 } => token_sha256,
    };
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
    let presented = digest(token);
    let matched = token_sha256
        .iter()
        .fold(subtle::Choice::from(0), |found, known| {
            found | known.ct_eq(&presented)
        });
    if bool::from(matched) {
        Ok(format!("token:{}", hex::encode(&presented[..6])))
    } else {
        Err(GatewayError::Unauthorized("invalid bearer token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_token_passes() {
        let auth = AuthConfig::Tokens {
            token_sha256: vec![digest("s3cret")],
        };
        let mut headers = HeaderMap::new();
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Bearer wrong".parse().expect("header"));
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Basic czNjcmV0".parse().expect("header"));
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Bearer s3cret".parse().expect("header"));
        let principal = authenticate(&auth, &headers).expect("ok");
        assert!(principal.starts_with("token:") && !principal.contains("s3cret"));
    }
}
