//! `[cluster]`: the Redis (or Valkey) that replicas of one gateway share
//! their decisions through — its URL (`redis://` or `rediss://` for TLS,
//! an ACL user and password in it or the password in `password_file`),
//! the prefix of every key written, the connect and command timeouts, and
//! whether a session's revocation check fails open or closed while the
//! store is away, and how many replicas a replica assumes alive for the
//! fallbacks before it has heard a heartbeat. Absent: one process keeps all its state, as before.
//! Validated into [`ClusterConfig`]; errors name their key and never show
//! the password.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Most replicas `cluster.replicas_when_unknown` may name.
const MAX_REPLICAS: u64 = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// `redis://[user[:password]@]host[:port][/db]` or `rediss://…`.
    pub redis_url: Option<String>,
    /// A file holding the password (instead of one in the URL).
    pub password_file: Option<PathBuf>,
    /// Prefix of every key (default `micromcp:`): several gateways may share one Redis.
    pub key_prefix: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub command_timeout_ms: Option<u64>,
    /// `"open"` (default: a session is served) or `"closed"` (refused)
    /// when its revocation cannot be checked.
    pub revocations_when_down: Option<String>,
    /// Replicas assumed alive for the fallbacks before a heartbeat is heard.
    pub replicas_when_unknown: Option<u64>,
}

/// What a revocation check does while the store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenDown {
    /// Serve the session (it is still bound to its authenticated principal).
    Open,
    /// Refuse it with a transient error naming the store.
    Closed,
}

/// A password kept out of every `Debug` and log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

/// The validated `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The URL without its password (the password is in `password_opt`).
    pub redis_url: url::Url,
    /// From the URL, `password_file` or `MICROMCP_REDIS_PASSWORD`.
    pub password_opt: Option<Secret>,
    /// Where the credentials come from, as an error refusing them names it.
    pub credentials_from: &'static str,
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub revocations_when_down: WhenDown,
    /// Replicas assumed alive until the first heartbeat is heard.
    pub replicas_when_unknown: u32,
}

impl ClusterConfig {
    /// The URL as logs and `/readyz` show it (no password, ever).
    pub fn display_url(&self) -> String {
        self.redis_url.to_string()
    }
}

/// Validates `[cluster]`; `password_env_opt` is `MICROMCP_REDIS_PASSWORD`.
pub fn validate_cluster(
    raw: RawCluster,
    password_env_opt: Option<&str>,
    errors: &mut Vec<String>,
) -> Option<ClusterConfig> {
    let Some(text) = raw.redis_url else {
        for (key, set) in [
            ("cluster.password_file", raw.password_file.is_some()),
            ("cluster.key_prefix", raw.key_prefix.is_some()),
            (
                "cluster.connect_timeout_ms",
                raw.connect_timeout_ms.is_some(),
            ),
            (
                "cluster.command_timeout_ms",
                raw.command_timeout_ms.is_some(),
            ),
            (
                "cluster.revocations_when_down",
                raw.revocations_when_down.is_some(),
            ),
            (
                "cluster.replicas_when_unknown",
                raw.replicas_when_unknown.is_some(),
            ),
        ] {
            if set {
                errors.push(format!("{key}: needs cluster.redis_url"));
            }
        }
        return None;
    };
    let mut url = match url::Url::parse(&text) {
        Ok(url) => url,
        Err(error) => {
            // The text may hold a password: never echo it.
            errors.push(format!("cluster.redis_url: not a URL: {error}"));
            return None;
        }
    };
    if !matches!(url.scheme(), "redis" | "rediss") {
        errors.push(format!(
            "cluster.redis_url: scheme {:?} is not redis or rediss",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        errors.push("cluster.redis_url: names no host".into());
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() && path.parse::<u16>().is_err() {
        errors.push(format!(
            "cluster.redis_url: the path {path:?} is not a database number"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Query parameters may carry a password (`?password=`): refused
        // without echoing them, as nothing here reads them.
        errors.push(
            "cluster.redis_url: takes no query or fragment (give the password in the URL's userinfo, cluster.password_file or MICROMCP_REDIS_PASSWORD; other settings are keys of [cluster])".into(),
        );
        url.set_query(None);
        url.set_fragment(None);
    }
    let in_url = url
        .password()
        .map(|password| percent_decoded(password).into_owned());
    let _ = url.set_password(None);
    let from_file =
        raw.password_file
            .as_ref()
            .and_then(|path| match std::fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
                Ok(_) => {
                    errors.push(format!(
                        "cluster.password_file: {} is empty",
                        path.display()
                    ));
                    None
                }
                Err(error) => {
                    errors.push(format!(
                        "cluster.password_file: {}: {error}",
                        path.display()
                    ));
                    None
                }
            });
    if in_url.is_some() && raw.password_file.is_some() {
        errors.push(
            "cluster.password_file: cluster.redis_url has a password already (give one of them)"
                .into(),
        );
    }
    let credentials_from = match (&in_url, &from_file, password_env_opt) {
        (Some(_), _, _) => "the user and password in cluster.redis_url",
        (None, Some(_), _) => "cluster.password_file (and the user in cluster.redis_url)",
        (None, None, Some(_)) => "MICROMCP_REDIS_PASSWORD (and the user in cluster.redis_url)",
        (None, None, None) => {
            "cluster.redis_url (no password in it, nor in cluster.password_file or MICROMCP_REDIS_PASSWORD)"
        }
    };
    let password_opt = in_url
        .or(from_file)
        .or_else(|| password_env_opt.map(str::to_owned))
        .map(Secret);
    let key_prefix = raw.key_prefix.unwrap_or_else(|| "micromcp:".into());
    if key_prefix.is_empty()
        || key_prefix.len() > 64
        || key_prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(format!(
            "cluster.key_prefix: {key_prefix:?} must be 1 to 64 characters without spaces"
        ));
    }
    let millis = |key: &str, value_opt: Option<u64>, default: u64, errors: &mut Vec<String>| {
        let value = value_opt.unwrap_or(default);
        if !(1..=60_000).contains(&value) {
            errors.push(format!("{key}: {value} is not between 1 and 60000"));
        }
        Duration::from_millis(value.clamp(1, 60_000))
    };
    let connect_timeout = millis(
        "cluster.connect_timeout_ms",
        raw.connect_timeout_ms,
        1000,
        errors,
    );
    let command_timeout = millis(
        "cluster.command_timeout_ms",
        raw.command_timeout_ms,
        250,
        errors,
    );
    let revocations_when_down = match raw.revocations_when_down.as_deref() {
        None | Some("open") => WhenDown::Open,
        Some("closed") => WhenDown::Closed,
        Some(other) => {
            errors.push(format!(
                "cluster.revocations_when_down: {other:?} is not \"open\" or \"closed\""
            ));
            WhenDown::Open
        }
    };
    let replicas_when_unknown = raw.replicas_when_unknown.unwrap_or(2);
    if !(1..=MAX_REPLICAS).contains(&replicas_when_unknown) {
        errors.push(format!(
            "cluster.replicas_when_unknown: {replicas_when_unknown} is not between 1 and {MAX_REPLICAS}"
        ));
    }
    Some(ClusterConfig {
        redis_url: url,
        password_opt,
        credentials_from,
        key_prefix,
        connect_timeout,
        command_timeout,
        revocations_when_down,
        replicas_when_unknown: u32::try_from(replicas_when_unknown.clamp(1, MAX_REPLICAS))
            .unwrap_or(1),
    })
}

/// `%XX` escapes of a URL's userinfo decoded (a password may hold `@` or `:`).
fn percent_decoded(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('%') {
        return text.into();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 3).and_then(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        });
        match (bytes[index], escaped) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(raw: RawCluster, env_opt: Option<&str>) -> (Option<ClusterConfig>, String) {
        let mut errors = Vec::new();
        let config = validate_cluster(raw, env_opt, &mut errors);
        (config, errors.join("\n"))
    }

    #[test]
    fn a_query_is_refused_without_being_echoed() {
        let raw = RawCluster {
            redis_url: Some("redis://u:pw@127.0.0.1:6379?password=Sekr1tPW2".into()),
            ..RawCluster::default()
        };
        let mut errors = Vec::new();
        let _ = validate_cluster(raw, None, &mut errors);
        assert!(
            errors.iter().any(|error| error.contains("takes no query")),
            "{errors:?}"
        );
        assert!(
            errors.iter().all(|error| !error.contains("Sekr1tPW2")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_url_with_a_password_is_split_and_the_password_never_shown() {
        let (config, errors) = validated(
            RawCluster {
                redis_url: Some("rediss://gw:hun%40ter2@redis.internal:6380/2".into()),
                ..RawCluster::default()
            },
            Some("ignored"),
        );
        assert_eq!(errors, "");
        let config = config.expect("valid");
        assert_eq!(
            config.password_opt.as_ref().map(Secret::expose),
            Some("hun@ter2")
        );
        assert_eq!(config.display_url(), "rediss://gw@redis.internal:6380/2");
        assert!(!format!("{config:?}").contains("ter2"), "{config:?}");
        assert_eq!(config.key_prefix, "micromcp:");
        assert_eq!(config.revocations_when_down, WhenDown::Open);
        assert_eq!(config.replicas_when_unknown, 2);
    }

    #[test]
    fn errors_name_their_key_and_hide_the_password() {
        let (_, errors) = validated(
            RawCluster {
                redis_url: Some("http://u:hunter2@host:1/x".into()),
                password_file: Some("/nonexistent/redis.pass".into()),
                key_prefix: Some("has space".into()),
                command_timeout_ms: Some(0),
                revocations_when_down: Some("sometimes".into()),
                replicas_when_unknown: Some(0),
                ..RawCluster::default()
            },
            None,
        );
        for key in [
            "cluster.replicas_when_unknown: 0 is not between 1 and 1000",
            "cluster.redis_url: scheme \"http\"",
            "cluster.redis_url: the path \"x\"",
            "cluster.password_file: /nonexistent/redis.pass",
            "cluster.password_file: cluster.redis_url has a password already",
            "cluster.key_prefix:",
            "cluster.command_timeout_ms: 0",
            "cluster.revocations_when_down:",
        ] {
            assert!(errors.contains(key), "missing {key} in {errors}");
        }
        assert!(!errors.contains("hunter2"), "{errors}");
        let (_, errors) = validated(
            RawCluster {
                redis_url: Some("redis://u:hunter2@:1".into()),
                ..RawCluster::default()
            },
            None,
        );
        assert!(
            errors.starts_with("cluster.redis_url: not a URL"),
            "{errors}"
        );
        assert!(!errors.contains("hunter2"), "{errors}");
        let (config, errors) = validated(
            RawCluster {
                key_prefix: Some("x:".into()),
                ..RawCluster::default()
            },
            None,
        );
        assert!(config.is_none());
        assert!(errors.contains("cluster.key_prefix: needs cluster.redis_url"));
    }

    #[test]
    fn the_password_comes_from_a_file_or_the_environment() {
        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join("redis.pass");
        std::fs::write(&file, "from-file\n").expect("write");
        let (config, errors) = validated(
            RawCluster {
                redis_url: Some("redis://127.0.0.1:6379".into()),
                password_file: Some(file),
                revocations_when_down: Some("closed".into()),
                ..RawCluster::default()
            },
            Some("from-env"),
        );
        assert_eq!(errors, "");
        let config = config.expect("valid");
        assert_eq!(
            config.password_opt.as_ref().map(Secret::expose),
            Some("from-file")
        );
        assert_eq!(config.revocations_when_down, WhenDown::Closed);
        let (config, _) = validated(
            RawCluster {
                redis_url: Some("redis://127.0.0.1:6379".into()),
                ..RawCluster::default()
            },
            Some("from-env"),
        );
        assert_eq!(
            config
                .and_then(|config| config.password_opt)
                .map(|secret| secret.expose().to_owned()),
            Some("from-env".to_owned())
        );
    }
}
