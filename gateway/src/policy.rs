//! Authorization: may this principal use this tool, prompt or resource?
//! Scopes are the ceiling (see `scopes`), then Cedar policies, when
//! configured, decide on attributes (see `cedar`). Lists are filtered to
//! what the caller may use: each principal gets a [`CatalogView`] per
//! catalog version, built once, so a call's check is a lookup and a
//! `tools/list` is still a slice of pre-rendered JSON. Views are kept by
//! the principal's [`ViewKey`] — a digest of its name, scopes and roles,
//! everything a decision depends on — so two tokens of one JWT subject
//! with other scopes or roles never share one. Principals holding
//! `*` with no Cedar policies skip all of it. A tool call permitted by a
//! Cedar policy annotated `@require_approval` comes back with that rule
//! (consent asks a person first); the view caches that too.

mod cedar;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use self::cedar::{CedarApproval, CedarDenial, CedarPolicies, SCHEMA, Subject};
use crate::catalog::{ListKind, ListedItem, MergedCatalog, ServiceNames, VisibleList};
use crate::error::GatewayError;
use crate::principal::{ItemKind, Principal, ViewKey, needed_scope};

/// Views kept at most. JWT subjects are not configured, so this is reached
/// by many signed-in people (or tokens with many scope sets): views of an
/// older catalog go first, then one view makes room for the next.
const MAX_VIEWS: usize = 4096;
/// Estimated bytes the kept views may hold together (each holds the
/// rendered items it shows): a large catalog keeps fewer views.
const MAX_VIEW_BYTES: usize = 256 << 20;

/// The gateway's authorization state.
#[derive(Debug)]
pub struct Policy {
    cedar_opt: Option<Arc<CedarPolicies>>,
    /// Service names by index (shared with the backends).
    service_names: Arc<ServiceNames>,
    /// Per principal (name, scopes, roles): the view of the current catalog.
    views: Mutex<HashMap<ViewKey, Arc<CatalogView>>>,
    /// Estimated bytes the kept views may hold ([`MAX_VIEW_BYTES`]).
    max_view_bytes: usize,
}

/// What one principal may see of one catalog version, per list kind.
#[derive(Debug)]
pub struct CatalogView {
    catalog: Arc<MergedCatalog>,
    lists: [VisibleList; 4],
    /// Visible tools a Cedar policy wants approved: (position, rule),
    /// ascending by position.
    approvals: Vec<(u32, Arc<str>)>,
}

// === impl CatalogView ===

impl CatalogView {
    /// The visible part of `kind`.
    pub fn list(&self, kind: ListKind) -> &VisibleList {
        &self.lists[kind as usize]
    }

    /// An estimate of the memory it holds, in bytes.
    fn estimated_bytes(&self) -> usize {
        let lists: usize = self.lists.iter().map(VisibleList::estimated_bytes).sum();
        lists + self.approvals.len() * 24 + std::mem::size_of::<Self>()
    }

    /// The Cedar rule that wants the visible tool at `position` approved.
    fn approval(&self, position: usize) -> CedarApproval {
        if self.approvals.is_empty() {
            return None;
        }
        let position = u32::try_from(position).ok()?;
        let found = self
            .approvals
            .binary_search_by_key(&position, |(at, _)| *at);
        found.ok().map(|index| self.approvals[index].1.clone())
    }
}

// === impl Policy ===

impl Policy {
    /// A policy over the services of `service_names`.
    pub fn with(cedar_opt: Option<Arc<CedarPolicies>>, service_names: Arc<ServiceNames>) -> Self {
        Self {
            cedar_opt,
            service_names,
            views: Mutex::default(),
            max_view_bytes: MAX_VIEW_BYTES,
        }
    }

    /// Whether a Cedar policy is in force.
    pub fn has_cedar(&self) -> bool {
        self.cedar_opt.is_some()
    }

    /// True when `principal` may use everything (no view needed).
    pub fn unrestricted(&self, principal: &Principal) -> bool {
        self.cedar_opt.is_none() && principal.scopes.grants_all()
    }

    fn service_name(&self, service: usize) -> &str {
        self.service_names.name(service)
    }

    /// The subject of a listed item of `kind`.
    pub fn subject<'a>(&'a self, kind: ListKind, item: &'a ListedItem) -> Subject<'a> {
        let service = self.service_name(item.service);
        match kind {
            ListKind::Tools => Subject::Tool {
                exposed: &item.key,
                name: &item.original,
                service,
                hints: item.hints,
            },
            ListKind::Prompts => Subject::Prompt {
                exposed: &item.key,
                name: &item.original,
                service,
            },
            ListKind::Resources | ListKind::ResourceTemplates => Subject::Resource {
                uri: &item.key,
                service,
            },
        }
    }

    /// The subject of a resource URI (listed or matched by a template).
    pub fn resource_subject<'a>(&'a self, uri: &'a str, service: usize) -> Subject<'a> {
        Subject::Resource {
            uri,
            service: self.service_name(service),
        }
    }

    /// Decides from scratch, with the reason on refusal.
    pub fn decide(&self, principal: &Principal, subject: &Subject<'_>) -> Result<(), GatewayError> {
        self.decide_with(principal, None, subject).map(drop)
    }

    /// [`Policy::decide`], reusing the principal's Cedar entity when given.
    fn decide_with(
        &self,
        principal: &Principal,
        entity_opt: Option<&cedar_policy::Entity>,
        subject: &Subject<'_>,
    ) -> Result<CedarApproval, GatewayError> {
        let (service, kind, name) = match *subject {
            Subject::Tool { service, name, .. } | Subject::Prompt { service, name, .. } => {
                (service, ItemKind::Named, name)
            }
            Subject::Resource { service, uri } => (service, ItemKind::Resource, uri),
        };
        if !principal.scopes.allows(service, kind, name) {
            let scope = needed_scope(service, kind, name);
            return Err(GatewayError::Forbidden {
                message: format!(
                    "forbidden: principal {} has no scope for {} (needs {scope})",
                    principal.id,
                    subject.label()
                ),
                scope_opt: Some(scope),
            });
        }
        let Some(cedar) = &self.cedar_opt else {
            return Ok(None);
        };
        let decided = match entity_opt {
            Some(entity) => cedar.decide_for(entity, subject),
            None => cedar.decide(principal, subject),
        };
        decided.map_err(|CedarDenial { reason }| GatewayError::Forbidden {
            message: format!(
                "forbidden: {} for principal {}: {reason}",
                subject.label(),
                principal.id
            ),
            scope_opt: None,
        })
    }

    /// True when the principal's scopes reach the tool or prompt `name` of
    /// the service named `service` (Cedar, which decides on the item's
    /// attributes, is asked once the item is known).
    pub fn scopes_reach(&self, principal: &Principal, service: &str, name: &str) -> bool {
        principal.scopes.allows(service, ItemKind::Named, name)
    }

    /// True when `principal` may read the content of service `service`
    /// as a whole (its resources, by scopes and Cedar): what copies of that
    /// content held elsewhere (a search index) are shown under.
    pub fn may_read_service(&self, principal: &Principal, service: usize) -> bool {
        self.unrestricted(principal)
            || self
                .decide(principal, &self.resource_subject("", service))
                .is_ok()
    }

    /// Checks the item at `position` of list `kind` (a cached decision);
    /// `Ok(Some(rule))` for a tool a Cedar policy wants approved.
    pub fn check_listed(
        &self,
        principal: &Principal,
        catalog: &Arc<MergedCatalog>,
        kind: ListKind,
        position: usize,
        item: &ListedItem,
    ) -> Result<CedarApproval, GatewayError> {
        if self.unrestricted(principal) {
            return Ok(None);
        }
        let view = self.view(principal, catalog);
        if view.list(kind).contains(position) {
            return Ok(match kind {
                ListKind::Tools => view.approval(position),
                _ => None,
            });
        }
        // Allowed now though the view said no: the catalog changed
        // between the two looks; the fresh decision stands.
        let approval = self.decide_with(principal, None, &self.subject(kind, item))?;
        Ok(approval.filter(|_| kind == ListKind::Tools))
    }

    /// Checks a resource URI of `service` (cached when it is listed).
    pub fn check_resource(
        &self,
        principal: &Principal,
        catalog: &Arc<MergedCatalog>,
        uri: &str,
        service: usize,
    ) -> Result<(), GatewayError> {
        if self.unrestricted(principal) {
            return Ok(());
        }
        if let Some(position) = catalog.resource_position(uri)
            && self
                .view(principal, catalog)
                .list(ListKind::Resources)
                .contains(position)
        {
            return Ok(());
        }
        self.decide(principal, &self.resource_subject(uri, service))
    }

    /// What `principal` may see of `catalog`; `None` when everything.
    pub fn visible(
        &self,
        principal: &Principal,
        catalog: &Arc<MergedCatalog>,
    ) -> Option<Arc<CatalogView>> {
        (!self.unrestricted(principal)).then(|| self.view(principal, catalog))
    }

    fn view(&self, principal: &Principal, catalog: &Arc<MergedCatalog>) -> Arc<CatalogView> {
        let key = principal.view_key();
        if let Ok(views) = self.views.lock()
            && let Some(view) = views.get(&key)
            && Arc::ptr_eq(&view.catalog, catalog)
        {
            return view.clone();
        }
        let view = Arc::new(self.build_view(principal, catalog));
        if let Ok(mut views) = self.views.lock() {
            if views.len() >= MAX_VIEWS && !views.contains_key(&key) {
                views.retain(|_, kept| Arc::ptr_eq(&kept.catalog, catalog));
                if views.len() >= MAX_VIEWS
                    && let Some(evicted) = views.keys().next().copied()
                {
                    views.remove(&evicted);
                }
            }
            // Bounded by bytes too: older catalogs' views first, then any.
            let mut held: usize = views.values().map(|kept| kept.estimated_bytes()).sum();
            let adding = view.estimated_bytes();
            while held + adding > self.max_view_bytes {
                let evicted_opt = views
                    .iter()
                    .find(|(_, kept)| !Arc::ptr_eq(&kept.catalog, catalog))
                    .or_else(|| views.iter().next())
                    .map(|(evicted, kept)| (*evicted, kept.estimated_bytes()));
                let Some((evicted, bytes)) = evicted_opt else {
                    break;
                };
                views.remove(&evicted);
                held = held.saturating_sub(bytes);
            }
            views.insert(key, view.clone());
        }
        view
    }

    /// The same policy keeping views of at most `max_view_bytes` together.
    #[cfg(test)]
    fn with_view_bytes(mut self, max_view_bytes: usize) -> Self {
        self.max_view_bytes = max_view_bytes;
        self
    }

    /// Views kept now.
    #[cfg(test)]
    fn views_kept(&self) -> usize {
        self.views.lock().map_or(0, |views| views.len())
    }

    /// Decides every listed item for `principal` (once per catalog version).
    pub fn build_view(&self, principal: &Principal, catalog: &Arc<MergedCatalog>) -> CatalogView {
        let entity_opt = self
            .cedar_opt
            .as_ref()
            .and_then(|cedar| cedar.principal_entity(principal).ok());
        let mut approvals = Vec::new();
        let mut list = |kind: ListKind| {
            let mut position = 0_u32;
            catalog.visible(kind, |item| {
                let decided =
                    self.decide_with(principal, entity_opt.as_ref(), &self.subject(kind, item));
                if let (ListKind::Tools, Ok(Some(rule))) = (kind, &decided) {
                    approvals.push((position, rule.clone()));
                }
                position += 1;
                decided.is_ok()
            })
        };
        let lists = [
            list(ListKind::Tools),
            list(ListKind::Prompts),
            list(ListKind::Resources),
            list(ListKind::ResourceTemplates),
        ];
        CatalogView {
            catalog: catalog.clone(),
            lists,
            approvals,
        }
    }
}
