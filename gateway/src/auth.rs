//! Bearer-token authentication: `authenticate(headers)` → [`Principal`].
//! Tokens are kept only as SHA-256 digests and compared in constant time,
//! each mapped to its principal (a name and scopes). The principal handed
//! on to services and audit is that name (or a short fingerprint of an
//! unnamed token), never the token.

use std::sync::Arc;

use http::HeaderMap;
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::AuthConfig;
use crate::error::GatewayError;
use crate::principal::{Principal, digest};

/// The principal of the request, or `Unauthorized`.
pub fn authenticate(
    auth: &AuthConfig,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, GatewayError> {
    let tokens = match auth {
        AuthConfig::InsecureNoAuth { anonymous } => return Ok(anonymous.clone()),
        AuthConfig::Tokens { tokens } => tokens,
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
    // Every entry is compared; which one matched is selected without a
    // data-dependent branch.
    let mut found = subtle::Choice::from(0);
    let mut position = 0u32;
    for (index, entry) in tokens.iter().enumerate() {
        let matches = entry.sha256.ct_eq(&presented);
        position.conditional_assign(&(index as u32), matches);
        found |= matches;
    }
    if bool::from(found) {
        Ok(tokens[position as usize].principal.clone())
    } else {
        Err(GatewayError::Unauthorized("invalid bearer token".into()))
    }
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
        let auth = AuthConfig::Tokens {
            tokens: vec![entry("s3cret", "alice"), entry("other", "bob")],
        };
        let mut headers = HeaderMap::new();
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Bearer wrong".parse().expect("header"));
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Basic czNjcmV0".parse().expect("header"));
        assert!(authenticate(&auth, &headers).is_err());
        headers.insert("authorization", "Bearer s3cret".parse().expect("header"));
        assert_eq!(authenticate(&auth, &headers).expect("ok").id, "alice");
        headers.insert("authorization", "Bearer other".parse().expect("header"));
        assert_eq!(authenticate(&auth, &headers).expect("ok").id, "bob");
        let unnamed = fingerprint(&digest("s3cret"));
        assert!(unnamed.starts_with("token:") && !unnamed.contains("s3cret"));
    }
}
