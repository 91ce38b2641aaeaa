//! [`Store`]: the one connection to the shared Redis — made lazily (a
//! gateway starts, and serves, while Redis is away), re-made by the
//! connection manager after a failure — and the only place commands are
//! sent: each under `cluster.command_timeout_ms`, its round trip recorded
//! (`micromcp_cluster_store_duration_seconds`), its outcome kept as the
//! store's state (`micromcp_cluster_store_up`, `/readyz`). After
//! [`FAILURES_TO_FAIL_FAST`] failures in a row (one slow answer under load
//! is not an outage), commands fail at once — their decisions take their
//! fallback without waiting — and only the heartbeat's probe
//! ([`Store::probe`]) is sent, once a second, until one is answered. Keys are built here,
//! under `cluster.key_prefix`. The password goes to Redis only: no log
//! line, error or metric carries it. A store that refuses this replica's
//! credentials (wrong password, unknown user, an ACL that denies a
//! command) is a configuration error, not an outage: logged at ERROR
//! naming where the credentials come from, shown by `/readyz` (`degraded`)
//! and `micromcp_cluster_store_auth_refused`, and named by every error of
//! a shared decision until the store accepts them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo};

use crate::config::ClusterConfig;
use crate::telemetry;

/// Commands failed in a row after which the next ones are not sent.
pub const FAILURES_TO_FAIL_FAST: u32 = 3;

/// Why a shared decision could not be made through the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No answer within `cluster.command_timeout_ms`.
    #[error("the cluster store (redis at {url}) did not answer within {timeout_ms} ms")]
    Timeout { url: String, timeout_ms: u128 },
    /// Not reachable, or it refused the command.
    #[error("the cluster store (redis at {url}) is unavailable: {reason}")]
    Unavailable { url: String, reason: String },
    /// The registrations' version key holds something no replica writes.
    #[error(
        "the cluster store's {key} is not a whole number (no replica writes that): registrations cannot change until it is; write the number back (e.g. SET {key} 1), then every replica applies the shared document as it stands"
    )]
    NotAVersion { key: String },
}

/// The shared Redis of `[cluster]`.
pub struct Store {
    connection: ConnectionManager,
    config: ClusterConfig,
    url: String,
    up: AtomicBool,
    /// Commands failed in a row.
    failures: AtomicU32,
    /// Decisions taken by a fallback because the store could not answer.
    fallbacks: AtomicU64,
    /// The store refused this replica's credentials at the last answer.
    credentials_refused: AtomicBool,
}

// === impl Store ===

impl Store {
    /// A store for `config`, not connected yet (the first command connects).
    pub fn new(config: &ClusterConfig) -> Result<Self, StoreError> {
        let url = config.display_url();
        let unavailable = |error: redis::RedisError| StoreError::Unavailable {
            url: url.clone(),
            reason: error.to_string(),
        };
        let mut info = config
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(unavailable)?;
        if let Some(password) = &config.password_opt {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(password.expose());
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(unavailable)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            // Each command is timed out by `send` (one timer per command, not two).
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_max_delay(std::time::Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(unavailable)?;
        Ok(Self {
            connection,
            url,
            config: config.clone(),
            up: AtomicBool::new(false),
            failures: AtomicU32::new(FAILURES_TO_FAIL_FAST),
            fallbacks: AtomicU64::new(0),
            credentials_refused: AtomicBool::new(false),
        })
    }

    /// `cluster.key_prefix` + `kind` + `:` + `name`.
    pub fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.config.key_prefix)
    }

    /// The config it was made from.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// True when the last command was answered.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Why the store refuses this replica, when it refuses its credentials
    /// (a configuration error).
    pub fn refusal(&self) -> Option<String> {
        self.credentials_refused
            .load(Ordering::Relaxed)
            .then(|| self.refused_reason())
    }

    fn refused_reason(&self) -> String {
        format!(
            "refuses this replica's credentials (from {}): a configuration error",
            self.config.credentials_from
        )
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Notes one decision taken by a fallback (`decision`: a fixed label).
    pub fn fell_back(&self, decision: &'static str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::CLUSTER_FALLBACKS, "decision" => decision).increment(1);
    }

    /// Decisions taken by a fallback since start.
    pub fn fallbacks_total(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Sends `command` and reads its answer (at once an error while the
    /// store is down).
    pub async fn query<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
        what: &'static str,
    ) -> Result<T, StoreError> {
        self.fail_fast()?;
        let answer = self.send(command, what).await;
        self.answered(answer)
    }

    /// Runs `script` even while the store is down: the heartbeat, which
    /// finds out when it is back.
    pub async fn probe<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        what: &'static str,
    ) -> Result<T, StoreError> {
        let answer = self.send_script(script, keys, args, what).await;
        self.answered(answer)
    }

    /// The error of a command not sent because the store is down.
    fn fail_fast(&self) -> Result<(), StoreError> {
        if self.failures.load(Ordering::Relaxed) < FAILURES_TO_FAIL_FAST {
            return Ok(());
        }
        let reason = match self.refusal() {
            Some(refused) => format!("{refused} (tried again every second)"),
            None => "not answering (tried again every second)".into(),
        };
        Err(StoreError::Unavailable {
            url: self.url.clone(),
            reason,
        })
    }

    /// Runs `script` with `keys` and `args` (EVALSHA, sending its text
    /// when Redis does not know it yet).
    pub async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        what: &'static str,
    ) -> Result<T, StoreError> {
        self.fail_fast()?;
        let answer = self.send_script(script, keys, args, what).await;
        self.answered(answer)
    }

    async fn send_script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        what: &'static str,
    ) -> Option<redis::RedisResult<T>> {
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha
            .arg(&script.hash)
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        match self.send::<T>(&evalsha, what).await {
            Some(Err(error))
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let mut eval = redis::cmd("EVAL");
                eval.arg(script.source).arg(keys.len()).arg(keys).arg(args);
                self.send(&eval, what).await
            }
            other => other,
        }
    }

    /// One round trip: Redis's answer, or `None` after the command timeout.
    async fn send<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
        what: &'static str,
    ) -> Option<redis::RedisResult<T>> {
        let mut connection = self.connection.clone();
        let started = Instant::now();
        let answer = tokio::time::timeout(
            self.config.command_timeout,
            command.query_async::<T>(&mut connection),
        )
        .await;
        metrics::histogram!(telemetry::CLUSTER_STORE_SECONDS, "command" => what)
            .record(started.elapsed().as_secs_f64());
        answer.ok()
    }

    /// The result of an answer (or of none), noting whether the store is up.
    fn answered<T>(&self, answer: Option<redis::RedisResult<T>>) -> Result<T, StoreError> {
        let refused = matches!(&answer, Some(Err(error)) if refuses_credentials(error));
        if answer.is_some() {
            self.set_refused(refused);
        }
        let result = match answer {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) if refused => Err(StoreError::Unavailable {
                url: self.url.clone(),
                reason: format!("{}: {error}", self.refused_reason()),
            }),
            Some(Err(error)) => Err(StoreError::Unavailable {
                url: self.url.clone(),
                reason: error.to_string(),
            }),
            None => Err(StoreError::Timeout {
                url: self.url.clone(),
                timeout_ms: self.config.command_timeout.as_millis(),
            }),
        };
        self.set_up(result.is_ok());
        result
    }

    fn set_refused(&self, refused: bool) {
        let was = self.credentials_refused.swap(refused, Ordering::Relaxed);
        metrics::gauge!(telemetry::CLUSTER_STORE_AUTH_REFUSED).set(f64::from(u8::from(refused)));
        if refused && !was {
            tracing::error!(
                url = %self.url,
                credentials = self.config.credentials_from,
                "cluster store refuses this replica's credentials: fix the password or ACL user, shared decisions fall back until then"
            );
        } else if was && !refused {
            tracing::info!(url = %self.url, "cluster store accepts this replica's credentials again");
        }
    }

    fn set_up(&self, up: bool) {
        if up {
            self.failures.store(0, Ordering::Relaxed);
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let was = self.up.swap(up, Ordering::Relaxed);
        metrics::gauge!(telemetry::CLUSTER_STORE_UP).set(f64::from(u8::from(up)));
        if was != up {
            if up {
                tracing::info!(url = %self.url, "cluster store reachable");
            } else {
                tracing::warn!(url = %self.url, "cluster store unreachable: shared decisions fall back until it returns");
            }
        }
    }
}

/// True for Redis refusing who this replica is or what it may do: a wrong
/// password or user (`WRONGPASS`, failed `AUTH`), no password given where
/// one is needed (`NOAUTH`), a command the ACL user may not run (`NOPERM`).
fn refuses_credentials(error: &redis::RedisError) -> bool {
    matches!(
        error.kind(),
        redis::ErrorKind::AuthenticationFailed
            | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
    ) || matches!(error.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

/// A Lua script run atomically by Redis, known by its SHA-1.
pub struct Script {
    source: &'static str,
    hash: String,
}

// === impl Script ===

impl Script {
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            hash: redis::Script::new(source).get_hash().to_owned(),
        }
    }
}
