//! The one place a request is authorized. Every routed method goes through
//! here in the same order: look the target up in the merged catalog →
//! decide whether the principal may use it (scopes, then Cedar, from the
//! principal's cached catalog view) → find the owning service → fail fast
//! with a transient error when that service is unavailable (also for a
//! name under the namespace of a service down since before its catalog was
//! known) → the rate
//! limits of the principal and the service → the service's stack (breaker,
//! concurrency limit); safe operations — reads, prompts, completions, and
//! tools their service annotates idempotent or read-only — are retried
//! through [`Route::retrying`] (tool calls through [`Route::retry_backoff`]). Lists ask here for the part of the catalog the
//! principal may see; a service that holds copies of other services'
//! content (`content_from`) is told which of them the principal may read.

use std::sync::Arc;
use std::time::Duration;

use crate::backends::{Backend, BackendClient, CallPermit};
use crate::catalog::param_headers::ParamHeader;
use crate::catalog::{ListKind, MergedCatalog, Page, ToolHints};
use crate::context::{CallContext, PendingRevocation};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::policy::{CatalogView, CedarApproval};
use crate::principal::Principal;

/// An authorized request's way to the service that owns its target.
pub struct Route<'g> {
    backend: Arc<Backend>,
    gateway: &'g Gateway,
    principal: Arc<Principal>,
    catalog: Arc<MergedCatalog>,
    service: usize,
    original: String,
    /// The tool's behaviour hints (MCP's defaults for anything else).
    hints: ToolHints,
    /// The tool's arguments mirrored in `Mcp-Param-*` headers, if any.
    param_headers: Option<Arc<[ParamHeader]>>,
    /// For a service holding other services' content: those of them the
    /// principal may read, comma-separated.
    readable_sources_opt: Option<String>,
    /// The Cedar policy that wants this tool call approved, if one does.
    cedar_approval: CedarApproval,
    /// The session's revocation check, when still to make (with the rates).
    revocation_opt: Option<Arc<PendingRevocation>>,
}

// === impl Route ===

impl<'g> Route<'g> {
    fn to(
        gateway: &'g Gateway,
        context: &CallContext,
        catalog: Arc<MergedCatalog>,
        service: usize,
        original: String,
        hints: ToolHints,
    ) -> Result<Self, GatewayError> {
        // Removed by a reconfiguration since the catalog was read.
        let backend = gateway.backends.service(service).ok_or_else(|| {
            let name = gateway.backends.names().name(service);
            GatewayError::transient(name, format!("service {name:?} was just removed"))
        })?;
        Ok(Self {
            hints,
            param_headers: None,
            readable_sources_opt: readable_sources(gateway, context, &backend),
            cedar_approval: None,
            gateway,
            principal: context.principal.clone(),
            revocation_opt: context.revocation_opt.clone(),
            backend,
            catalog,
            service,
            original,
        })
    }

    /// The services whose content the principal may read, comma-separated,
    /// when the owning service holds copies of other services' content.
    pub fn readable_sources(&self) -> Option<&str> {
        self.readable_sources_opt.as_deref()
    }

    /// The owning service's configured name.
    pub fn service_name(&self) -> &str {
        &self.backend.config.name
    }

    /// The service's own name for the tool or prompt (empty for resources).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// [`Route::original`], taken out (empty afterwards).
    pub fn take_original(&mut self) -> String {
        std::mem::take(&mut self.original)
    }

    /// The rule that makes this tool call need a person's approval, if
    /// one does: its service's `require_approval` pattern, else the Cedar
    /// policy annotated `@require_approval` that permitted it.
    pub fn approval_rule(&self) -> Option<String> {
        let configured = self
            .backend
            .config
            .require_approval
            .requiring(&self.original);
        match (configured, &self.cedar_approval) {
            (Some(pattern), _) => Some(format!("require_approval {pattern:?}")),
            (None, Some(rule)) => Some(rule.to_string()),
            (None, None) => None,
        }
    }

    /// True when the owning service passes each caller's own credential
    /// upstream (`token_exchange`).
    pub fn exchanges_token(&self) -> bool {
        self.backend.config.token_exchange.is_some()
    }

    /// The context of a request to the owning service: `context` itself,
    /// or — for a service with `token_exchange` — a copy carrying the
    /// token exchanged for the caller's own (RFC 8693), which the service
    /// passes upstream. A caller not signed in with an issuer's token has
    /// nothing to exchange and is refused.
    pub async fn exchanged_context(
        &self,
        gateway: &Gateway,
        context: &CallContext,
    ) -> Result<Option<Box<CallContext>>, GatewayError> {
        let Some(exchange) = &self.backend.config.token_exchange else {
            return Ok(None);
        };
        let service = self.service_name();
        let Some(subject) = &context.principal.subject_token else {
            return Err(GatewayError::Forbidden {
                message: format!(
                    "forbidden: service {service:?} passes each caller's own credential upstream (token exchange); principal {} did not sign in with an identity provider's token",
                    context.principal.id
                ),
                scope_opt: None,
            });
        };
        let token = gateway
            .token_exchanges
            .exchange(service, exchange, subject)
            .await?;
        let mut exchanged = Box::new(context.clone());
        exchanged.upstream_token_opt = Some(token);
        Ok(Some(exchanged))
    }

    /// True when the owning service completes arguments.
    pub fn completes(&self) -> bool {
        self.catalog.completes(self.service)
    }

    /// True when the owning service can watch resources.
    pub fn watches(&self) -> bool {
        self.catalog.watches(self.service)
    }

    /// A client of the owning service for one call, with its place in the
    /// service's stack: a transient error at once when the service is
    /// unavailable (its catalog stream is down), when a rate limit of the
    /// principal or the service is reached (HTTP 429), when its breaker is
    /// open, or when it is at capacity (after waiting at most `max_wait`).
    pub async fn admit(
        &self,
        max_wait: Duration,
    ) -> Result<(BackendClient, CallPermit), GatewayError> {
        self.check_available()?;
        let principal_place = self
            .gateway
            .admit_call(
                &self.principal.id,
                self.service_name(),
                self.revocation_opt.as_deref(),
            )
            .await?;
        let mut permit = self
            .backend
            .stack
            .admit(&self.principal.id, max_wait)
            .await?;
        permit.hold(principal_place);
        permit.label_target(&self.original);
        Ok((self.backend.client.clone(), permit))
    }

    /// True when the tool answers only with a task (tasks extension).
    pub fn task_required(&self) -> bool {
        self.hints.task_required
    }

    /// The tool's arguments mirrored in `Mcp-Param-*` headers (`x-mcp-header`).
    pub fn param_headers(&self) -> Option<&[ParamHeader]> {
        self.param_headers.as_deref()
    }

    /// True for a tool its service annotates idempotent or read-only: a
    /// call of it that failed as UNAVAILABLE may be sent again.
    pub fn tool_retries_safely(&self) -> bool {
        self.hints.idempotent || self.hints.read_only
    }

    /// The wait before retry number `retried + 1` of a safe operation, or
    /// `None` when it has had its retries or the service's budget is spent.
    pub fn retry_backoff(&self, retried: u32) -> Option<Duration> {
        self.backend.stack.retry_backoff(retried)
    }

    /// Runs a safe operation (`attempt` builds and sends a fresh request
    /// each time), trying again after a jittered backoff while it fails as
    /// UNAVAILABLE and the service's retry budget allows. Never for a tool
    /// call that is not idempotent.
    pub async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut retried = 0;
        loop {
            match attempt().await {
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    let Some(wait) = self.retry_backoff(retried) else {
                        return Err(status);
                    };
                    tracing::debug!(service = %self.service_name(), retried, "retrying a safe operation");
                    tokio::time::sleep(wait).await;
                    retried += 1;
                }
                other => return other,
            }
        }
    }

    /// A client for a long-lived stream (a resource watch): availability and
    /// breaker checked, no place taken.
    pub fn client(&self) -> Result<BackendClient, GatewayError> {
        self.check_available()?;
        self.backend.stack.check_breaker()?;
        Ok(self.backend.client.clone())
    }

    fn check_available(&self) -> Result<(), GatewayError> {
        if self.backend.is_available() {
            return Ok(());
        }
        let service = self.service_name();
        Err(GatewayError::transient(
            service,
            format!("service {service:?} is unavailable; retry later"),
        ))
    }
}

/// `tools/call` of the exposed tool `name`.
pub fn tool<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    name: &str,
) -> Result<Route<'g>, GatewayError> {
    route_span().in_scope(|| listed(gateway, context, ListKind::Tools, name))
}

/// The span of the lookup and the policy decision, when traces are on.
fn route_span() -> tracing::Span {
    if !micromcp_telemetry::traces::enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(target: micromcp_telemetry::traces::TARGET, "mcp.route")
}

/// `prompts/get` (and completion of a prompt's argument) of `name`.
pub fn prompt<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    name: &str,
) -> Result<Route<'g>, GatewayError> {
    route_span().in_scope(|| listed(gateway, context, ListKind::Prompts, name))
}

/// `resources/read` and `resources/subscribe` of `uri` (listed, or matched
/// by a template).
pub fn resource<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    uri: &str,
) -> Result<Route<'g>, GatewayError> {
    let catalog = gateway.backends.catalog();
    let service_opt = catalog.resource_service(uri);
    by_uri(gateway, context, catalog, uri, service_opt, || {
        GatewayError::ResourceNotFound {
            message: format!("resource not found: {uri}"),
            modern: context.is_modern(),
            uri: uri.to_owned(),
        }
    })
}

/// A task of `service` (the tasks extension). The task id was sealed for
/// this principal by this gateway when an authorized call created it, so
/// following it needs no new decision; the service's availability, limits
/// and breaker still apply.
pub fn task<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    service: &str,
) -> Result<Route<'g>, GatewayError> {
    let index = gateway.backends.names().index_of(service).ok_or_else(|| {
        GatewayError::transient(service, format!("service {service:?} was removed"))
    })?;
    let catalog = gateway.backends.catalog();
    Route::to(
        gateway,
        context,
        catalog,
        index,
        String::new(),
        ToolHints::default(),
    )
}

/// Completion of an argument of the resource template `uri_template`.
pub fn template<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    uri_template: &str,
) -> Result<Route<'g>, GatewayError> {
    let catalog = gateway.backends.catalog();
    let service_opt = catalog.template_service(uri_template);
    by_uri(gateway, context, catalog, uri_template, service_opt, || {
        GatewayError::InvalidParams(format!("unknown resource template: {uri_template}"))
    })
}

/// A tool or prompt by exposed name: its cached decision in the
/// principal's view (decided afresh if the catalog just changed).
fn listed<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    kind: ListKind,
    name: &str,
) -> Result<Route<'g>, GatewayError> {
    let catalog = gateway.backends.catalog();
    let found = match kind {
        ListKind::Tools => catalog.tool_at(name),
        ListKind::Prompts => catalog.prompt_at(name),
        ListKind::Resources | ListKind::ResourceTemplates => None,
    };
    let Some((position, item)) = found else {
        return Err(missing_name(gateway, context, kind, name));
    };
    let cedar_approval =
        gateway
            .policy()
            .check_listed(&context.principal, &catalog, kind, position, item)?;
    let (service, original, hints) = (item.service, item.original.clone(), item.hints);
    let param_headers = item.param_headers.clone();
    let mut route = Route::to(gateway, context, catalog, service, original, hints)?;
    route.param_headers = param_headers;
    route.cedar_approval = cedar_approval;
    Ok(route)
}

/// The answer for a tool or prompt name no catalog holds. Under the
/// namespace of a service that is down or whose catalog is not known yet
/// (a bridged server never reached) the name may well exist: that is
/// "unavailable, retry", not "unknown" — when the principal's scopes would
/// reach it (otherwise it learns nothing of the service).
fn missing_name(
    gateway: &Gateway,
    context: &CallContext,
    kind: ListKind,
    name: &str,
) -> GatewayError {
    let separator = gateway.config.namespace_separator.as_str();
    let policy = gateway.policy();
    let services = gateway.backends.services();
    let down_owner = services.iter().find_map(|backend| {
        let namespace = backend.config.namespace.as_str();
        if namespace.is_empty() || backend.is_available() {
            return None;
        }
        let original = name.strip_prefix(namespace)?.strip_prefix(separator)?;
        let service = backend.config.name.as_str();
        policy
            .scopes_reach(&context.principal, service, original)
            .then_some(service)
    });
    let noun = kind.field().trim_end_matches('s');
    if kind == ListKind::Tools
        && let Some(held) = held_tool(gateway, &services, name)
    {
        return held;
    }
    match down_owner {
        Some(service) => GatewayError::transient(
            service,
            format!(
                "service {service:?} is unavailable, so its {noun} {name} cannot be looked up; retry later"
            ),
        ),
        None => GatewayError::InvalidParams(format!("unknown {noun}: {name}")),
    }
}

/// The refusal of a tool held because its definition changed since it
/// was approved (`backends::pins`).
fn held_tool(gateway: &Gateway, services: &[Arc<Backend>], name: &str) -> Option<GatewayError> {
    let separator = gateway.config.namespace_separator.as_str();
    let pins = gateway.backends.pins();
    services.iter().find_map(|backend| {
        let namespace = backend.config.namespace.as_str();
        let original = if namespace.is_empty() {
            name
        } else {
            name.strip_prefix(namespace)?.strip_prefix(separator)?
        };
        pins.is_held(&backend.config.name, original).then(|| GatewayError::Forbidden {
            message: format!(
                "tool {name}: definition changed since it was approved; held until an operator reviews it (micromcp tools held) and approves that definition (micromcp tools approve {name} --sha256 DIGEST, the digest `tools held` shows)"
            ),
            scope_opt: None,
        })
    })
}

/// A resource URI or template owned by `service_opt`.
fn by_uri<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    catalog: Arc<MergedCatalog>,
    uri: &str,
    service_opt: Option<usize>,
    missing: impl FnOnce() -> GatewayError,
) -> Result<Route<'g>, GatewayError> {
    let service = service_opt.ok_or_else(missing)?;
    gateway
        .policy()
        .check_resource(&context.principal, &catalog, uri, service)?;
    Route::to(
        gateway,
        context,
        catalog,
        service,
        String::new(),
        ToolHints::default(),
    )
}

/// The content sources of `backend` the principal may read (`None` when
/// the service holds no other service's content).
fn readable_sources(gateway: &Gateway, context: &CallContext, backend: &Backend) -> Option<String> {
    let sources = &backend.config.content_from;
    if sources.is_empty() {
        return None;
    }
    let policy = gateway.policy();
    let readable: Vec<&str> = sources
        .iter()
        .filter(|source| {
            gateway
                .backends
                .names()
                .index_of(source)
                .is_some_and(|index| policy.may_read_service(&context.principal, index))
        })
        .map(String::as_str)
        .collect();
    Some(readable.join(","))
}

/// One page of list `kind` as the principal may see it.
pub fn visible_page(
    gateway: &Gateway,
    context: &CallContext,
    kind: ListKind,
    cursor: Option<&str>,
) -> Result<Page, GatewayError> {
    let catalog = gateway.backends.catalog();
    let page_size = gateway.config.page_size;
    match gateway.policy().visible(&context.principal, &catalog) {
        None => catalog.page(kind, cursor, page_size),
        Some(view) => catalog.page_visible(kind, view.list(kind), cursor, page_size),
    }
}

/// The tools the principal may call: the current catalog and the
/// principal's view of it (`None` when it may call every tool).
pub fn tool_view(
    gateway: &Gateway,
    context: &CallContext,
) -> (Arc<MergedCatalog>, Option<Arc<CatalogView>>) {
    let catalog = gateway.backends.catalog();
    let view_opt = gateway.policy().visible(&context.principal, &catalog);
    (catalog, view_opt)
}
