//! Applying a new, already validated config to the running gateway (a
//! reload, or a service registered or removed at run time): the set of
//! services (unchanged ones keep their connections, stack and catalog),
//! each service's own rates, the tokens and the policies take effect at
//! once; every other key keeps its start-up value and is reported as
//! needing a restart when the new config changes it.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::backends::SetChanges;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::policy::Policy;

use super::Gateway;

/// What a reconfiguration did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Reconfigured {
    /// Services added, replaced (their config changed) and removed.
    pub services: SetChanges,
    /// Keys whose new values wait for a restart.
    pub restart_required: Vec<&'static str>,
}

// === impl Gateway (reconfiguration) ===

impl Gateway {
    /// Makes `new` the running config where it can be changed live; the
    /// principals' catalog views are rebuilt before it returns. Blocking
    /// (view building): run it off the request threads. Nothing changes
    /// when the new set of services cannot be made.
    pub fn reconfigure(&self, new: &GatewayConfig) -> Result<Reconfigured, GatewayError> {
        let services = self.backends.apply(&new.services)?;
        self.rates.set_services(&new.services);
        let previous = self.auth.load_full();
        self.auth.store(Arc::new(Authenticator::new(
            new.auth.clone(),
            Some(&previous),
        )));
        self.policy.store(Arc::new(Policy::with(
            new.policy.cedar.clone(),
            self.backends.names().clone(),
        )));
        self.warm_policy_views();
        Ok(Reconfigured {
            services,
            restart_required: needs_restart(&self.config, new),
        })
    }
}

/// The keys that differ between `running` and `new` and are read only at
/// start.
fn needs_restart(running: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 20] = [
        ("gateway.listen", running.listen == new.listen),
        ("gateway.tls", running.tls == new.tls),
        (
            "gateway.allowed_hosts",
            running.allowed_hosts == new.allowed_hosts,
        ),
        (
            "gateway.allowed_origins",
            running.allowed_origins == new.allowed_origins,
        ),
        (
            "gateway.max_body_bytes",
            running.max_body_bytes == new.max_body_bytes,
        ),
        (
            "gateway.request_timeout_secs",
            running.request_timeout == new.request_timeout,
        ),
        (
            "gateway.session_max_age_secs",
            running.session_max_age == new.session_max_age,
        ),
        (
            "gateway.session_key_file",
            running.session_key_file == new.session_key_file,
        ),
        (
            "gateway.namespace_separator",
            running.namespace_separator == new.namespace_separator,
        ),
        ("gateway.page_size", running.page_size == new.page_size),
        ("gateway.threads", running.threads == new.threads),
        ("gateway.keepalive_secs", running.keepalive == new.keepalive),
        (
            "gateway.list_ttl_ms",
            running.list_ttl_ms == new.list_ttl_ms,
        ),
        ("audit", running.audit == new.audit),
        ("limits", running.limits == new.limits),
        ("rate_limits", running.rate_limits == new.rate_limits),
        ("admin", running.admin == new.admin),
        ("consent", running.consent == new.consent),
        ("cluster", running.cluster_opt == new.cluster_opt),
        ("catalog", running.catalog == new.catalog),
    ];
    checks
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}
