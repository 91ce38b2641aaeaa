//! Single-use rounds: the ids (a sealed box's nonce) of the 2026-07-28
//! rounds that may carry one call only — a person's approval, and the
//! rounds of a call that needed one — remembered until the round expires,
//! so the same `requestState` and `inputResponses` sent again are a replay
//! and run nothing. [`SingleUseStore`] is what the gateway asks;
//! [`InProcessSingleUse`] keeps the ids in this process (a bounded map,
//! expired ids dropped as it fills, and refusing new rounds rather than
//! forgetting live ones when full); `FileSingleUse` (`single_use_file.rs`)
//! also writes them to a journal so a restart keeps them. With several replicas behind one
//! address a replay may reach another replica: that needs a store they
//! share, behind the same trait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The id of one sealed round (its AEAD nonce: random, and bound to the
/// box, so no altered copy carries it).
pub type RoundId = [u8; 24];

/// What a round's use turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundUse {
    /// Its first use: go on.
    First,
    /// It was used before: a replay.
    Replay,
}

/// Why a round could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SingleUseError {
    /// As many live rounds as the store keeps are recorded already.
    #[error("{0} approvals are in use already; try again in a moment")]
    Full(usize),
    /// As many live rounds as one principal may hold are recorded for it.
    #[error(
        "you have {0} approvals in use already (the most one principal may hold); try again once they expire"
    )]
    PrincipalFull(usize),
    /// The use could not be written down (so it would not survive a restart).
    #[error("approvals used cannot be recorded: {0}")]
    Io(String),
    /// The store shared with other replicas cannot record it now.
    #[error("approvals used cannot be recorded now: {0}")]
    Unavailable(String),
}

/// Where used round ids are kept until they expire.
pub trait SingleUseStore: Send + Sync {
    /// Records the use of `id` by `owner` (a principal's name), valid until
    /// `expires_unix` (seconds since the Unix epoch): `First` the first
    /// time, `Replay` after.
    fn record(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
    ) -> Result<RoundUse, SingleUseError>;
}

/// Used round ids kept in this process.
pub struct InProcessSingleUse {
    capacity: usize,
    per_owner: usize,
    used: Mutex<Used>,
}

#[derive(Default)]
struct Used {
    /// Id → (expiry in seconds since the epoch, owner).
    rounds: HashMap<RoundId, (u64, Arc<str>)>,
    /// Owner → ids recorded for it (live or not yet dropped).
    owners: HashMap<Arc<str>, usize>,
}

impl Used {
    /// Drops the ids expired at `now_unix`, and their owners' counts.
    fn drop_expired(&mut self, now_unix: u64) {
        let owners = &mut self.owners;
        self.rounds.retain(|_, (expires, owner)| {
            let live = *expires >= now_unix;
            if !live && let Some(count) = owners.get_mut(owner) {
                *count = count.saturating_sub(1);
            }
            live
        });
        owners.retain(|_, count| *count > 0);
    }
}

/// Used rounds one gateway process keeps (each ~60 bytes: ~6 MB at most).
pub const MAX_USED_ROUNDS: usize = 100_000;
/// Live used rounds one principal may hold: one principal approving its
/// own calls cannot fill the store for everyone.
pub const MAX_USED_ROUNDS_PER_PRINCIPAL: usize = 1_000;

pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

// === impl InProcessSingleUse ===

impl InProcessSingleUse {
    /// A store keeping at most `capacity` live ids, `per_owner` of one owner.
    pub fn new(capacity: usize, per_owner: usize) -> Self {
        Self {
            capacity,
            per_owner,
            used: Mutex::default(),
        }
    }

    /// Its capacity.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The ids live at `now_unix`, with their expiry.
    pub(super) fn live(&self, now_unix: u64) -> Vec<(RoundId, u64, String)> {
        let used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.rounds
            .iter()
            .filter(|(_, (expires, _))| *expires >= now_unix)
            .map(|(id, (expires, owner))| (*id, *expires, owner.to_string()))
            .collect()
    }

    /// [`SingleUseStore::record`] at `now_unix`.
    fn record_at(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
        now_unix: u64,
    ) -> Result<RoundUse, SingleUseError> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((expires, _)) = used.rounds.get(id)
            && *expires >= now_unix
        {
            return Ok(RoundUse::Replay);
        }
        let owned = |used: &Used| used.owners.get(owner).copied().unwrap_or(0);
        if used.rounds.len() >= self.capacity || owned(&used) >= self.per_owner {
            used.drop_expired(now_unix);
            if owned(&used) >= self.per_owner {
                return Err(SingleUseError::PrincipalFull(self.per_owner));
            }
            if used.rounds.len() >= self.capacity {
                return Err(SingleUseError::Full(self.capacity));
            }
        }
        let owner: Arc<str> = Arc::from(owner);
        *used.owners.entry(owner.clone()).or_insert(0) += 1;
        if let Some((_, previous)) = used.rounds.insert(*id, (expires_unix, owner))
            && let Some(count) = used.owners.get_mut(&previous)
        {
            // An expired id used again: its old owner no longer holds it.
            *count = count.saturating_sub(1);
        }
        Ok(RoundUse::First)
    }
}

impl SingleUseStore for InProcessSingleUse {
    fn record(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
    ) -> Result<RoundUse, SingleUseError> {
        self.record_at(id, expires_unix, owner, now_unix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_used_once_until_it_expires_and_live_ones_are_never_forgotten() {
        let store = InProcessSingleUse::new(2, 10);
        let (first, second, third) = ([1; 24], [2; 24], [3; 24]);
        assert_eq!(
            store.record_at(&first, 100, "alice", 10),
            Ok(RoundUse::First)
        );
        assert_eq!(
            store.record_at(&first, 100, "alice", 11),
            Ok(RoundUse::Replay)
        );
        assert_eq!(
            store.record_at(&second, 50, "alice", 12),
            Ok(RoundUse::First)
        );
        // Full of live rounds: a new one is refused, the used ones stay used.
        assert_eq!(
            store.record_at(&third, 100, "alice", 13),
            Err(SingleUseError::Full(2))
        );
        assert_eq!(
            store.record_at(&first, 100, "alice", 14),
            Ok(RoundUse::Replay)
        );
        // Once one expired, its place is free (it could not be opened anyway).
        assert_eq!(
            store.record_at(&third, 100, "alice", 51),
            Ok(RoundUse::First)
        );
        assert_eq!(
            store.record_at(&first, 100, "alice", 52),
            Ok(RoundUse::Replay)
        );
        assert_eq!(
            store.record_at(&third, 100, "alice", 53),
            Ok(RoundUse::Replay)
        );
    }

    #[test]
    fn one_principal_cannot_fill_the_store_for_others() {
        let store = InProcessSingleUse::new(4, 2);
        assert_eq!(
            store.record_at(&[1; 24], 100, "mallory", 10),
            Ok(RoundUse::First)
        );
        assert_eq!(
            store.record_at(&[2; 24], 100, "mallory", 10),
            Ok(RoundUse::First)
        );
        assert_eq!(
            store.record_at(&[3; 24], 100, "mallory", 10),
            Err(SingleUseError::PrincipalFull(2))
        );
        assert_eq!(
            store.record_at(&[4; 24], 100, "alice", 11),
            Ok(RoundUse::First)
        );
        assert_eq!(
            store.record_at(&[1; 24], 100, "mallory", 12),
            Ok(RoundUse::Replay)
        );
        // Once hers expired, she may approve again.
        assert_eq!(
            store.record_at(&[3; 24], 200, "mallory", 101),
            Ok(RoundUse::First)
        );
    }
}
