//! Approval rounds used once, shared between replicas: the same
//! `requestState` and `inputResponses` sent to another replica are a
//! replay there too. One script records a round's id (kept until the
//! round expires) and counts it against its principal's live rounds, as
//! the in-process store does; a round is never recorded while the store is
//! away — the call is refused as transient (a write of shared state), so a
//! replay cannot slip through a replica that could not ask.

use sha2::{Digest, Sha256};

use super::Cluster;
use super::store::{Script, StoreError};
use crate::session::{RoundId, RoundUse, SingleUseError};

const RECORD: &str = r"
local now = tonumber(redis.call('TIME')[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
local expires = math.max(tonumber(ARGV[1]), now)
redis.call('SET', KEYS[1], '1', 'EXAT', expires + 1)
redis.call('ZADD', KEYS[2], expires, ARGV[3])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[2], tonumber(last[2]) + 1)
return 1
";

// === impl Cluster ===

impl Cluster {
    /// Records the use of round `id` by `owner` until `expires_unix`:
    /// `First` the first time on any replica, `Replay` after; at most
    /// `per_owner` live rounds per owner.
    pub async fn record_round(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
        per_owner: usize,
    ) -> Result<Result<RoundUse, SingleUseError>, StoreError> {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(RECORD));
        let round = hex::encode(id);
        let owner_name = hex::encode(&Sha256::digest(owner.as_bytes())[..16]);
        let keys = [
            self.store.key("round", &round),
            self.store.key("rounds-of", &owner_name),
        ];
        let args = [expires_unix.to_string(), per_owner.to_string(), round];
        let answer: i64 = self.store.run(script, &keys, &args, "round").await?;
        Ok(match answer {
            1 => Ok(RoundUse::First),
            0 => Ok(RoundUse::Replay),
            _ => Err(SingleUseError::PrincipalFull(per_owner)),
        })
    }
}
