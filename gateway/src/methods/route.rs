//! The one place a request is authorized. Every routed method goes through
//! here in the same order: look the target up in the merged catalog →
//! decide whether the principal may use it (scopes, then Cedar, from the
//! principal's cached catalog view) → find the owning service → fail fast
//! with a transient error when that service is unavailable. Lists ask
//! here for the part of the catalog the principal may see.

use std::sync::Arc;

use crate::backends::{Backend, BackendClient};
use crate::catalog::{ListKind, MergedCatalog, Page};
use crate::context::CallContext;
use crate::error::GatewayError;
use crate::gateway::Gateway;

/// An authorized request's way to the service that owns its target.
pub struct Route<'g> {
    backend: &'g Backend,
    catalog: Arc<MergedCatalog>,
    service: usize,
    original: String,
}

// === impl Route ===

impl<'g> Route<'g> {
    fn to(
        gateway: &'g Gateway,
        catalog: Arc<MergedCatalog>,
        service: usize,
        original: String,
    ) -> Self {
        Self {
            backend: &gateway.backends.services()[service],
            catalog,
            service,
            original,
        }
    }

    /// The owning service's configured name.
    pub fn service_name(&self) -> &'g str {
        &self.backend.config.name
    }

    /// The service's own name for the tool or prompt (empty for resources).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// [`Route::original`], owned.
    pub fn into_original(self) -> String {
        self.original
    }

    /// True when the owning service completes arguments.
    pub fn completes(&self) -> bool {
        self.catalog.completes(self.service)
    }

    /// True when the owning service can watch resources.
    pub fn watches(&self) -> bool {
        self.catalog.watches(self.service)
    }

    /// A client of the owning service; a transient error at once when the
    /// service is unavailable (its catalog stream is down), instead of a
    /// call that would wait for a dial to fail.
    pub fn client(&self) -> Result<BackendClient, GatewayError> {
        if !self.backend.is_available() {
            let service = self.service_name();
            return Err(GatewayError::transient(
                service,
                format!("service {service:?} is unavailable; retry later"),
            ));
        }
        Ok(self.backend.client.clone())
    }
}

/// `tools/call` of the exposed tool `name`.
pub fn tool<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    name: &str,
) -> Result<Route<'g>, GatewayError> {
    listed(gateway, context, ListKind::Tools, name)
}

/// `prompts/get` (and completion of a prompt's argument) of `name`.
pub fn prompt<'g>(
    gateway: &'g Gateway,
    context: &CallContext,
    name: &str,
) -> Result<Route<'g>, GatewayError> {
    listed(gateway, context, ListKind::Prompts, name)
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
        }
    })
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
    let (position, item) = found.ok_or_else(|| {
        let noun = kind.field().trim_end_matches('s');
        GatewayError::InvalidParams(format!("unknown {noun}: {name}"))
    })?;
    gateway
        .policy
        .check_listed(&context.principal, &catalog, kind, position, item)?;
    let (service, original) = (item.service, item.original.clone());
    Ok(Route::to(gateway, catalog, service, original))
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
        .policy
        .check_resource(&context.principal, &catalog, uri, service)?;
    Ok(Route::to(gateway, catalog, service, String::new()))
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
    match gateway.policy.visible(&context.principal, &catalog) {
        None => catalog.page(kind, cursor, page_size),
        Some(view) => catalog.page_visible(kind, view.list(kind), cursor, page_size),
    }
}
