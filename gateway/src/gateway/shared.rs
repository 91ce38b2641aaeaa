//! The gateway's decisions that replicas share when `[cluster]` is set —
//! whether a session was ended, whether an approval round was used,
//! whether a call is within its rates, which tool definitions operators
//! approved — each asked of the cluster first
//! and answered by its documented fallback while the store is away;
//! without `[cluster]`, by this process alone, as before.

use std::sync::Arc;

use super::Gateway;
use crate::cluster::{Cluster, Decision, StoreError};
use crate::config::WhenDown;
use crate::context::{CallContext, PendingRevocation};
use crate::error::GatewayError;
use crate::quota::QuotaPermit;
use crate::session::{RoundId, RoundUse, SessionClaims, SingleUseError};

/// The error of a shared write the store could not take.
fn store_unavailable(error: &StoreError) -> GatewayError {
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
        self.check_revocation(session_id, &claims).await?;
        Ok(claims)
    }

    /// Opens a session id for a request of `method` as
    /// [`Gateway::open_session`] does, except that a `tools/call`'s shared
    /// revocation check is returned to be made later, with the call's rate
    /// limits (one round trip to the store); `None` when it was made now.
    pub async fn open_session_for(
        &self,
        session_id: &str,
        principal: &str,
        method: &str,
    ) -> Result<(SessionClaims, Option<Arc<PendingRevocation>>), GatewayError> {
        if method != "tools/call" || self.cluster_opt.is_none() {
            return Ok((self.open_session(session_id, principal).await?, None));
        }
        let claims = self.sessions.open(session_id, principal)?;
        let pending = PendingRevocation::new(session_id, claims.clone());
        Ok((claims, Some(pending)))
    }

    /// Makes `context`'s session revocation check if it is still to make:
    /// before anything a request does has an effect, when no rate-limit
    /// decision took it along.
    pub async fn confirm_session(&self, context: &CallContext) -> Result<(), GatewayError> {
        match &context.revocation_opt {
            Some(pending) if pending.take() => {
                self.check_revocation(&pending.session_id, &pending.claims)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// The shared revocation check of an opened session.
    async fn check_revocation(
        &self,
        session_id: &str,
        claims: &SessionClaims,
    ) -> Result<(), GatewayError> {
        let Some(cluster) = &self.cluster_opt else {
            return Ok(());
        };
        match cluster.is_session_revoked(session_id).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(self.learnt_ended(session_id, claims)),
            Err(error) => self.revocation_fallback(cluster, &error),
        }
    }

    /// A session some replica ended: learnt here (later requests here need
    /// not ask), and the error its request gets.
    fn learnt_ended(&self, session_id: &str, claims: &SessionClaims) -> GatewayError {
        self.sessions.revoke(session_id, claims);
        self.runtimes.remove(session_id);
        GatewayError::SessionNotFound
    }

    /// What a revocation check does while the store cannot answer.
    fn revocation_fallback(
        &self,
        cluster: &Cluster,
        error: &StoreError,
    ) -> Result<(), GatewayError> {
        cluster.store().fell_back("revocations");
        match cluster.store().config().revocations_when_down {
            WhenDown::Open => Ok(()),
            WhenDown::Closed => Err(store_unavailable(error)),
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
    /// and its in-flight cap (both shared with `[cluster]`: the place then
    /// holds the call's lease too), or refuses it
    /// naming the limit; with a session revocation check still to make
    /// (`revocation_opt`), makes it in the same round trip to the store.
    pub async fn admit_call(
        &self,
        principal: &str,
        service: &str,
        revocation_opt: Option<&PendingRevocation>,
    ) -> Result<Option<QuotaPermit<String>>, GatewayError> {
        let Some(cluster) = &self.cluster_opt else {
            return self.rates.admit(principal, service);
        };
        let pending_opt = revocation_opt.filter(|pending| pending.take());
        let session_opt = pending_opt.map(|pending| pending.session_id.as_str());
        match cluster
            .decide_call(&self.rates, principal, service, session_opt)
            .await
        {
            Decision::Counted(lease_opt) => {
                let place_opt = self.rates.admit_in_flight(principal)?;
                Ok(match (place_opt, lease_opt) {
                    (Some(place), Some(lease)) => Some(place.holding(Box::new(lease))),
                    (place_opt, _) => place_opt,
                })
            }
            Decision::Refused(error) => Err(error),
            Decision::Full => Err(crate::rates::in_flight_refusal(principal)),
            Decision::Ended => Err(match pending_opt {
                Some(pending) => self.learnt_ended(&pending.session_id, &pending.claims),
                None => GatewayError::SessionNotFound,
            }),
            Decision::Away { error, limited } => {
                if pending_opt.is_some() {
                    self.revocation_fallback(cluster, &error)?;
                }
                if limited {
                    tracing::debug!(%error, "rate limits decided by this replica alone");
                    cluster.check_fallback_rates(&self.rates, principal, service)?;
                }
                cluster.admit_fallback_in_flight(&self.rates, principal)
            }
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
