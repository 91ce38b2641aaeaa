//! The gateway's decisions that replicas share when `[cluster]` is set —
//! whether a session was ended, whether an approval round was used,
//! whether a call is within its rates, which tool definitions operators
//! approved — each asked of the cluster first
//! and answered by its documented fallback while the store is away;
//! without `[cluster]`, by this process alone, as before.

use super::Gateway;
use crate::config::WhenDown;
use crate::error::GatewayError;
use crate::quota::QuotaPermit;
use crate::session::{RoundId, RoundUse, SessionClaims, SingleUseError};

/// The error of a shared write the store could not take.
fn store_unavailable(error: &crate::cluster::StoreError) -> GatewayError {
    GatewayError::transient("redis", error.to_string())
}

// === impl Gateway ===

impl Gateway {
    /// Opens a handshake-era session id for `principal`: sealed, not
    /// expired, and ended neither here nor (with `[cluster]`) on another
    /// replica — while the store is away, served or refused as
    /// `cluster.revocations_when_down` says.
    pub async fn open_session(
        &self,
        session_id: &str,
        principal: &str,
    ) -> Result<SessionClaims, GatewayError> {
        let claims = self.sessions.open(session_id, principal)?;
        let Some(cluster) = &self.cluster_opt else {
            return Ok(claims);
        };
        match cluster.is_session_revoked(session_id).await {
            Ok(false) => Ok(claims),
            Ok(true) => {
                // Learnt: later requests here need not ask.
                self.sessions.revoke(session_id, &claims);
                self.runtimes.remove(session_id);
                Err(GatewayError::SessionNotFound)
            }
            Err(error) => {
                cluster.store().fell_back("revocations");
                match cluster.store().config().revocations_when_down {
                    WhenDown::Open => Ok(claims),
                    WhenDown::Closed => Err(store_unavailable(&error)),
                }
            }
        }
    }

    /// Ends a session here and (with `[cluster]`) for every replica; the
    /// shared write failing is a transient error naming the store (the
    /// session is ended here all the same).
    pub async fn end_session(
        &self,
        session_id: &str,
        claims: &SessionClaims,
    ) -> Result<(), GatewayError> {
        self.sessions.revoke(session_id, claims);
        self.runtimes.remove(session_id);
        let Some(cluster) = &self.cluster_opt else {
            return Ok(());
        };
        let expires = claims.issued_unix + self.config.session_max_age.as_secs() + 1;
        cluster
            .revoke_session(session_id, expires)
            .await
            .map_err(|error| store_unavailable(&error))
    }

    /// Records the use of approval round `id` by `owner`: `First` once on
    /// any replica. With `[cluster]` and the store away, no use is recorded
    /// and the error says so (the call is not run).
    pub async fn use_round(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
    ) -> Result<RoundUse, SingleUseError> {
        let Some(cluster) = &self.cluster_opt else {
            return self.single_use.record(id, expires_unix, owner);
        };
        let per_owner = crate::session::MAX_USED_ROUNDS_PER_PRINCIPAL;
        match cluster
            .record_round(id, expires_unix, owner, per_owner)
            .await
        {
            Ok(used) => used,
            Err(error) => {
                cluster.store().fell_back("used_rounds");
                Err(SingleUseError::Unavailable(error.to_string()))
            }
        }
    }

    /// Counts a call of `principal` to `service` against the rate limits
    /// (shared with `[cluster]`) and its in-flight cap, or refuses it
    /// naming the limit.
    pub async fn admit_call(
        &self,
        principal: &str,
        service: &str,
    ) -> Result<Option<QuotaPermit<String>>, GatewayError> {
        match &self.cluster_opt {
            Some(cluster) => cluster.admit_call(&self.rates, principal, service).await,
            None => self.rates.admit(principal, service),
        }
    }

    /// Shares an operator's approval of `service`'s `tool` definition
    /// `sha256` with the other replicas (nothing to do without `[cluster]`);
    /// an error names the store, and nothing should be approved then.
    pub async fn share_tool_approval(
        &self,
        service: &str,
        tool: &str,
        sha256: &str,
    ) -> Result<(), GatewayError> {
        let Some(cluster) = &self.cluster_opt else {
            return Ok(());
        };
        cluster
            .share_tool_approval(service, tool, sha256)
            .await
            .map_err(|error| store_unavailable(&error))
    }

    /// Approves here the held definitions other replicas' operators
    /// approved (the exact digest only); the number approved.
    pub async fn apply_shared_tool_approvals(&self) -> usize {
        let Some(cluster) = &self.cluster_opt else {
            return 0;
        };
        let held = self.backends.pins().held();
        if held.is_empty() {
            return 0;
        }
        let Ok(approvals) = cluster.tool_approvals().await else {
            return 0;
        };
        let mut approved = 0;
        for (service, tool, sha256) in approvals {
            let is_held = held
                .iter()
                .any(|held| held.service == service && held.tool == tool);
            if is_held
                && self.backends.approve_tool(&service, &tool, &sha256)
                    == crate::backends::pins::Approval::Approved
            {
                tracing::info!(%service, %tool, "tool definition approved through another replica");
                approved += 1;
            }
        }
        approved
    }
}
