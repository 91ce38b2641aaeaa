//! Run-time registrations shared between replicas: the list of services
//! registered through any replica's admin API, kept in Redis as one JSON
//! document (the registrations file's format) with a version. A change is
//! written only over the version its replica last applied (one script:
//! compare and set), so two replicas changing at once cannot lose either
//! change — the second is refused and may be sent again; every replica
//! reads the version each second and applies a newer list. While Redis
//! cannot answer, registrations are refused (503 naming Redis) and the
//! services in force stay. A version that is not a whole number (no
//! replica writes one) is named in a clear error — registering is refused
//! (409), following it logs once — until it is a number again, when every
//! replica applies the document as it stands.

use super::Cluster;
use super::store::{Script, StoreError};

/// The version key holds a whole number (what `INCR` writes), else the
/// script answers -1 and changes nothing.
macro_rules! version_of_keys_2 {
    () => {
        "local raw = redis.call('GET', KEYS[2])
if raw and (not string.match(raw, '^%d+$') or #raw > 15) then return {-1} end
local now = tonumber(raw or '0')
"
    };
}

/// KEYS: the document, its version. ARGV: the version the change was made
/// over, the new document. `{1, new version}`, `{0, version now}` or
/// `{-1}` (the version is not a number).
const SAVE: &str = concat!(
    version_of_keys_2!(),
    "if now ~= tonumber(ARGV[1]) then return {0, now} end
redis.call('SET', KEYS[1], ARGV[2])
return {1, redis.call('INCR', KEYS[2])}
"
);

/// KEYS: the document, its version. ARGV: the version known. `{version}`
/// when it is the one known, `{-1}` when the version is not a number,
/// else `{version, document}`.
const SINCE: &str = concat!(
    version_of_keys_2!(),
    "if now == tonumber(ARGV[1]) then return {now} end
return {now, redis.call('GET', KEYS[1]) or ''}
"
);

/// What a shared change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written: the list's new version.
    At(u64),
    /// Another replica changed the list first: its version now.
    Behind(u64),
}

// === impl Cluster ===

impl Cluster {
    fn not_a_version(&self, key: &str) -> StoreError {
        self.ignored("registrations_version", key);
        StoreError::NotAVersion {
            key: key.to_owned(),
        }
    }

    fn registration_keys(&self) -> [String; 2] {
        [
            self.store.key("registrations", "document"),
            self.store.key("registrations", "version"),
        ]
    }

    /// Writes `document` as the registrations list if the list is still at
    /// `over` (the version this replica applied).
    pub async fn save_registrations(&self, over: u64, document: &str) -> Result<Saved, StoreError> {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(SAVE));
        let args = [over.to_string(), document.to_owned()];
        let keys = self.registration_keys();
        let answer: Vec<i64> = self
            .store
            .run(script, &keys, &args, "registrations")
            .await?;
        let version = answer
            .get(1)
            .and_then(|version| u64::try_from(*version).ok())
            .unwrap_or(0);
        match answer.first() {
            Some(1) => Ok(Saved::At(version)),
            Some(0) => Ok(Saved::Behind(version)),
            _ => Err(self.not_a_version(&keys[1])),
        }
    }

    /// The list's version and document when it is not at `known` any more.
    pub async fn registrations_since(
        &self,
        known: u64,
    ) -> Result<Option<(u64, String)>, StoreError> {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(SINCE));
        let keys = self.registration_keys();
        let answer: Vec<redis::Value> = self
            .store
            .run(script, &keys, &[known.to_string()], "registrations")
            .await?;
        let Some(version) = answer
            .first()
            .and_then(|value| redis::from_redis_value_ref::<u64>(value).ok())
        else {
            return Err(self.not_a_version(&keys[1]));
        };
        Ok(answer
            .get(1)
            .and_then(|value| redis::from_redis_value_ref::<String>(value).ok())
            .map(|document| (version, document)))
    }
}
