//! `GrpcSettings`: what one translator serves — the target's address, where
//! its descriptors come from (server reflection, or a descriptor set file),
//! which methods become tools, each call's deadline, which call metadata is
//! forwarded, TLS towards the target, and how often reflection is read again.
//! Validated once at start; every error names its key.

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use micromcp_proto::quic::ClientTls;

use crate::{GrpcError, GrpcResult};

/// Longest deadline a setting may ask for (one hour).
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// Call metadata the translator may attach to each call to the target; none
/// unless listed in `forward_metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedMetadata {
    /// `x-request-id`: the gateway's request id.
    RequestId,
    /// `x-micromcp-principal`: the caller, as the gateway authenticated it.
    Principal,
    /// `authorization: Bearer …`: the caller's own token for the target,
    /// when the gateway exchanged one (`token_exchange`); never the token the
    /// client sent to the gateway.
    Authorization,
}

impl ForwardedMetadata {
    /// Parses one `forward_metadata` entry (a metadata name).
    pub fn parse(name: &str) -> GrpcResult<Self> {
        match name.to_ascii_lowercase().as_str() {
            "x-request-id" => Ok(Self::RequestId),
            "x-micromcp-principal" => Ok(Self::Principal),
            "authorization" => Ok(Self::Authorization),
            other => Err(GrpcError::Setting(format!(
                "forward_metadata: unknown entry {other:?} (one of x-request-id, \
                 x-micromcp-principal, authorization)"
            ))),
        }
    }
}

/// A validated translator configuration.
#[derive(Debug, Clone)]
pub struct GrpcSettings {
    /// `http://host:port` or `https://host:port`.
    pub target: http::Uri,
    /// Read descriptors from this file instead of server reflection.
    pub descriptor_set_opt: Option<PathBuf>,
    /// Methods offered (globs over `package.Service/Method`); empty = all.
    pub allow: Vec<String>,
    /// Methods never offered, even when allowed.
    pub deny: Vec<String>,
    /// Deadline of each call to the target.
    pub deadline: Duration,
    /// Metadata attached to each call.
    pub forward_metadata: Vec<ForwardedMetadata>,
    /// TLS towards an `https://` target.
    pub tls_opt: Option<ClientTls>,
    /// How often reflection is read again (`None`: never).
    pub refresh_opt: Option<Duration>,
}

/// Compiled allow/deny lists.
#[derive(Debug, Clone)]
pub struct MethodFilter {
    allow_opt: Option<GlobSet>,
    deny: GlobSet,
}

// === impl GrpcSettings ===

impl GrpcSettings {
    /// Checks the settings as a whole; `Err` names the key at fault.
    pub fn validate(&self) -> GrpcResult<MethodFilter> {
        match self.target.scheme_str() {
            Some("http") if self.tls_opt.is_none() => {}
            Some("https") if self.tls_opt.is_some() => {}
            Some("https") => {
                return Err(GrpcError::Setting(
                    "tls_ca: an https:// target needs the CA its certificate chains to".into(),
                ));
            }
            Some("http") => {
                return Err(GrpcError::Setting(
                    "tls_ca: TLS settings need an https:// target".into(),
                ));
            }
            _ => {
                return Err(GrpcError::Setting(format!(
                    "target: {} is not http://host:port or https://host:port",
                    self.target
                )));
            }
        }
        // Credentials in the address would be logged with it; a path or
        // query would be dropped silently (gRPC names the method itself).
        let authority = self
            .target
            .authority()
            .map_or("", |authority| authority.as_str());
        if authority.contains('@') {
            return Err(GrpcError::Setting(
                "target: must not carry credentials (user:password@); use tls_client_cert or forward_metadata".into(),
            ));
        }
        if self
            .target
            .path_and_query()
            .is_some_and(|path| path.as_str() != "/")
        {
            return Err(GrpcError::Setting(
                "target: only scheme://host:port (no path or query: the method names its own path)"
                    .into(),
            ));
        }
        if self.target.host().is_none_or(str::is_empty) {
            return Err(GrpcError::Setting(format!(
                "target: {} names no host",
                self.target
            )));
        }
        if self.deadline.is_zero() || self.deadline > MAX_DEADLINE {
            return Err(GrpcError::Setting(
                "deadline_ms: must be between 1 and 3600000".into(),
            ));
        }
        if self
            .refresh_opt
            .is_some_and(|every| every < Duration::from_secs(1))
        {
            return Err(GrpcError::Setting(
                "refresh_secs: must be at least 1 (0 turns it off)".into(),
            ));
        }
        Ok(MethodFilter {
            allow_opt: if self.allow.is_empty() {
                None
            } else {
                Some(glob_set(&self.allow, "methods.allow")?)
            },
            deny: glob_set(&self.deny, "methods.deny")?,
        })
    }
}

fn glob_set(patterns: &[String], key: &str) -> GrpcResult<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern)
            .map_err(|error| GrpcError::Setting(format!("{key}: {pattern:?}: {error}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|error| GrpcError::Setting(format!("{key}: {error}")))
}

// === impl MethodFilter ===

impl MethodFilter {
    /// True when `method` (`package.Service/Method`) may be offered.
    pub fn admits(&self, method: &str) -> bool {
        self.allow_opt
            .as_ref()
            .is_none_or(|allow| allow.is_match(method))
            && !self.deny.is_match(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(target: &str) -> GrpcSettings {
        GrpcSettings {
            target: target.parse().expect("uri"),
            descriptor_set_opt: None,
            allow: Vec::new(),
            deny: vec!["*/Delete*".into()],
            deadline: Duration::from_secs(5),
            forward_metadata: Vec::new(),
            tls_opt: None,
            refresh_opt: None,
        }
    }

    #[test]
    fn deny_wins_over_allow() {
        let mut raw = settings("http://127.0.0.1:1");
        raw.allow = vec!["shop.v1.*".into()];
        let filter = raw.validate().expect("valid");
        assert!(filter.admits("shop.v1.Shop/Get"));
        assert!(!filter.admits("shop.v1.Shop/DeleteAll"));
        assert!(!filter.admits("other.Svc/Get"));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let error = settings("ftp://host:1").validate().expect_err("scheme");
        assert!(error.to_string().starts_with("target:"), "{error}");
        for address in [
            "http://user:secret@host:1",
            "http://host:1/some/path",
            "http://host:1/?x=1",
        ] {
            let error = settings(address).validate().expect_err(address);
            assert!(error.to_string().starts_with("target:"), "{error}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let error = settings("https://host:1").validate().expect_err("no ca");
        assert!(error.to_string().starts_with("tls_ca:"), "{error}");
        let mut raw = settings("http://host:1");
        raw.deadline = Duration::ZERO;
        let error = raw.validate().expect_err("deadline");
        assert!(error.to_string().starts_with("deadline_ms:"), "{error}");
        let mut raw = settings("http://host:1");
        raw.deny = vec!["a[".into()];
        let error = raw.validate().expect_err("glob");
        assert!(error.to_string().starts_with("methods.deny:"), "{error}");
        let error = ForwardedMetadata::parse("cookie").expect_err("not allowed");
        assert!(
            error.to_string().starts_with("forward_metadata:"),
            "{error}"
        );
    }
}
