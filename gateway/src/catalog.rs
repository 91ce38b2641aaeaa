//! The merged catalog: every service's tools, prompts, resources and
//! templates, namespaced, pre-rendered to JSON once per catalog change, and
//! indexed for routing. `*/list` requests only slice this snapshot (no
//! fan-out on the request path); cursors are opaque and name the last item
//! of the previous page, so pages stay stable while catalogs change.

mod collisions;
mod find;
mod hints;
mod pages;
pub mod param_headers;
mod render;
mod reserved;
mod service_names;
mod visible;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::Catalog;

use self::collisions::{Collisions, insert_unique, inside_template};
pub use self::find::{
    CALL_TOOL, FIND_TOOLS, Hit, MAX_QUERY_BYTES, ToolIndex, ToolSearch, query_terms,
};
pub use self::hints::ToolHints;
use self::pages::{RenderedList, decode_cursor, encode_cursor};
pub use self::reserved::take_out_reserved;
pub use self::service_names::{MAX_SERVICE_NAMES, ServiceNames};
pub use self::visible::VisibleList;
use crate::error::GatewayError;
use crate::wire::names::valid_tool_name;

/// One listed item, already rendered.
#[derive(Debug, Clone)]
pub struct ListedItem {
    /// Exposed name (tools, prompts) or URI / template (resources).
    pub key: String,
    /// Index of the owning service in the config.
    pub service: usize,
    /// The service's own name for it.
    pub original: String,
    /// Behaviour hints (tools only; MCP's defaults otherwise).
    pub hints: ToolHints,
    /// Arguments mirrored in `Mcp-Param-*` headers (tools declaring `x-mcp-header`).
    pub param_headers: Option<Arc<[param_headers::ParamHeader]>>,
    /// MCP JSON of the item while merging; the finished merge moves it
    /// into its kind's [`RenderedList`] (empty afterwards).
    json: String,
}

/// One page of a list: the comma-separated item JSON and the next cursor.
#[derive(Debug, PartialEq)]
pub struct Page {
    /// Items of the page, rendered and joined with commas (no brackets).
    pub items: Bytes,
    /// Cursor of the following page, if any.
    pub next_cursor: Option<String>,
}

/// A catalog contribution from one service.
#[derive(Debug, Clone)]
pub struct ServiceCatalog {
    pub service: usize,
    pub service_name: String,
    pub namespace: String,
    pub catalog: Arc<Catalog>,
}

/// Which list a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools = 0,
    Prompts = 1,
    Resources = 2,
    ResourceTemplates = 3,
}

// === impl ListKind ===

impl ListKind {
    /// The result field holding the items.
    pub fn field(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "resourceTemplates",
        }
    }
}

/// All services' catalogs merged.
#[derive(Debug, Default)]
pub struct MergedCatalog {
    tools: Vec<ListedItem>,
    tool_index: HashMap<String, usize>,
    prompts: Vec<ListedItem>,
    prompt_index: HashMap<String, usize>,
    resources: Vec<ListedItem>,
    resource_index: HashMap<String, usize>,
    templates: Vec<ListedItem>,
    /// Rendered lists, indexed like [`ListKind`].
    rendered: [RenderedList; 4],
    /// (literal prefix of a template, service), longest prefix first.
    template_prefixes: Vec<(String, usize)>,
    /// Conflicts found while merging (the service known first wins).
    pub collisions: Vec<String>,
    /// For each of `collisions`, the service whose item is not listed.
    pub collision_losers: Vec<String>,
    /// For each of `collisions`, the service whose item is listed (empty:
    /// the gateway itself, for its reserved tool names).
    pub collision_winners: Vec<String>,
    /// Services that can complete arguments.
    completion_services: Vec<usize>,
    /// Services that can watch resources.
    subscription_services: Vec<usize>,
    /// Some service may answer with tasks.
    any_tasks: bool,
}

fn exposed_name(namespace: &str, separator: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}{separator}{name}")
    }
}

fn sort_and_index(items: &mut [ListedItem], index: &mut HashMap<String, usize>) {
    items.sort_by(|left, right| left.key.cmp(&right.key));
    index.clear();
    for (position, item) in items.iter().enumerate() {
        index.insert(item.key.clone(), position);
    }
}

// === impl MergedCatalog ===

impl MergedCatalog {
    /// Merges service catalogs (in config order; earlier services win conflicts).
    pub fn merge(services: &[ServiceCatalog], separator: &str, service_names: &[&str]) -> Self {
        let mut merged = Self::default();
        let mut invalid = Vec::new();
        for contribution in services {
            let catalog = &contribution.catalog;
            for tool in &catalog.tools {
                let key = exposed_name(&contribution.namespace, separator, &tool.name);
                if !valid_tool_name(&key) {
                    invalid.push(format!(
                        "service {:?}: tool name {key:?} is not 1-128 chars of A-Za-z0-9_.-; not listed",
                        contribution.service_name
                    ));
                    continue;
                }
                match render::tool(&key, tool) {
                    Ok(json) => insert_unique(
                        &mut merged.tools,
                        &mut merged.tool_index,
                        ListedItem {
                            key,
                            service: contribution.service,
                            original: tool.name.clone(),
                            hints: ToolHints::of(tool.annotations.as_ref())
                                .with_execution(&tool.extra_json),
                            param_headers: Some(param_headers::of_schema(&tool.input_schema_json))
                                .filter(|params| !params.is_empty())
                                .map(Into::into),
                            json,
                        },
                        "tool",
                        service_names,
                        &mut Collisions {
                            texts: &mut merged.collisions,
                            winners: &mut merged.collision_winners,
                            losers: &mut merged.collision_losers,
                        },
                    ),
                    Err(error) => invalid.push(format!(
                        "service {:?}: tool {:?} has an invalid schema ({error}); not listed",
                        contribution.service_name, tool.name
                    )),
                }
            }
            for prompt in &catalog.prompts {
                let key = exposed_name(&contribution.namespace, separator, &prompt.name);
                let json = render::prompt(&key, prompt);
                insert_unique(
                    &mut merged.prompts,
                    &mut merged.prompt_index,
                    ListedItem {
                        key,
                        service: contribution.service,
                        original: prompt.name.clone(),
                        hints: ToolHints::default(),
                        param_headers: None,
                        json,
                    },
                    "prompt",
                    service_names,
                    &mut Collisions {
                        texts: &mut merged.collisions,
                        winners: &mut merged.collision_winners,
                        losers: &mut merged.collision_losers,
                    },
                );
            }
            for resource in &catalog.resources {
                if let Some((prefix, owner)) = inside_template(
                    &merged.template_prefixes,
                    &resource.uri,
                    contribution.service,
                ) {
                    let (winner, loser) =
                        (service_names[*owner], service_names[contribution.service]);
                    merged.collisions.push(format!(
                        "resource {:?} of service {loser:?} lies under resource template prefix {prefix:?} of service {winner:?}",
                        resource.uri
                    ));
                    merged.collision_winners.push(winner.to_owned());
                    merged.collision_losers.push(loser.to_owned());
                    continue;
                }
                let json = render::resource(resource);
                insert_unique(
                    &mut merged.resources,
                    &mut merged.resource_index,
                    ListedItem {
                        key: resource.uri.clone(),
                        service: contribution.service,
                        original: resource.uri.clone(),
                        hints: ToolHints::default(),
                        param_headers: None,
                        json,
                    },
                    "resource",
                    service_names,
                    &mut Collisions {
                        texts: &mut merged.collisions,
                        winners: &mut merged.collision_winners,
                        losers: &mut merged.collision_losers,
                    },
                );
            }
            for template in &catalog.resource_templates {
                let json = render::template(template);
                let prefix = template
                    .uri_template
                    .split('{')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let same = merged
                    .template_prefixes
                    .iter()
                    .find(|(existing, _)| *existing == prefix);
                if let Some((existing, owner)) = same.or_else(|| {
                    inside_template(&merged.template_prefixes, &prefix, contribution.service)
                }) {
                    let (winner, loser) =
                        (service_names[*owner], service_names[contribution.service]);
                    merged.collisions.push(if *existing == prefix {
                        format!(
                            "resource template prefix {prefix:?} is offered by both service {winner:?} and service {loser:?}"
                        )
                    } else {
                        format!(
                            "resource template {:?} of service {loser:?} lies under resource template prefix {existing:?} of service {winner:?}",
                            template.uri_template
                        )
                    });
                    merged.collision_winners.push(winner.to_owned());
                    merged.collision_losers.push(loser.to_owned());
                    continue;
                }
                merged
                    .template_prefixes
                    .push((prefix, contribution.service));
                merged.templates.push(ListedItem {
                    key: template.uri_template.clone(),
                    service: contribution.service,
                    original: template.uri_template.clone(),
                    hints: ToolHints::default(),
                    param_headers: None,
                    json,
                });
            }
            if catalog.supports_completion {
                merged.completion_services.push(contribution.service);
            }
            if catalog.supports_subscriptions {
                merged.subscription_services.push(contribution.service);
            }
            merged.any_tasks |= catalog.supports_tasks;
        }
        for message in invalid {
            tracing::warn!(%message, "catalog item dropped");
        }
        sort_and_index(&mut merged.tools, &mut merged.tool_index);
        sort_and_index(&mut merged.prompts, &mut merged.prompt_index);
        sort_and_index(&mut merged.resources, &mut merged.resource_index);
        merged
            .templates
            .sort_by(|left, right| left.key.cmp(&right.key));
        merged.rendered = [
            RenderedList::take_from(&mut merged.tools),
            RenderedList::take_from(&mut merged.prompts),
            RenderedList::take_from(&mut merged.resources),
            RenderedList::take_from(&mut merged.templates),
        ];
        merged
            .template_prefixes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        merged
    }

    fn items(&self, kind: ListKind) -> &[ListedItem] {
        match kind {
            ListKind::Tools => &self.tools,
            ListKind::Prompts => &self.prompts,
            ListKind::Resources => &self.resources,
            ListKind::ResourceTemplates => &self.templates,
        }
    }

    /// Number of items of `kind`.
    pub fn len(&self, kind: ListKind) -> usize {
        self.items(kind).len()
    }

    /// Number of items of `kind` each of `services` services lists.
    pub fn counts_by_service(&self, kind: ListKind, services: usize) -> Vec<usize> {
        let mut counts = vec![0; services];
        for item in self.items(kind) {
            if let Some(count) = counts.get_mut(item.service) {
                *count += 1;
            }
        }
        counts
    }

    /// Exposed names of the tools, in list order.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|item| item.key.as_str())
    }

    /// True when nothing of `kind` is listed.
    pub fn is_empty(&self, kind: ListKind) -> bool {
        self.items(kind).is_empty()
    }

    /// The tool exposed as `name`.
    pub fn tool(&self, name: &str) -> Option<&ListedItem> {
        self.tool_index
            .get(name)
            .map(|position| &self.tools[*position])
    }

    /// The tool exposed as `name` and its position in the tool list.
    pub fn tool_at(&self, name: &str) -> Option<(usize, &ListedItem)> {
        self.tool_index
            .get(name)
            .map(|position| (*position, &self.tools[*position]))
    }

    /// The prompt exposed as `name` and its position in the prompt list.
    pub fn prompt_at(&self, name: &str) -> Option<(usize, &ListedItem)> {
        self.prompt_index
            .get(name)
            .map(|position| (*position, &self.prompts[*position]))
    }

    /// Position of the listed resource `uri`.
    pub fn resource_position(&self, uri: &str) -> Option<usize> {
        self.resource_index.get(uri).copied()
    }

    /// The prompt exposed as `name`.
    pub fn prompt(&self, name: &str) -> Option<&ListedItem> {
        self.prompt_index
            .get(name)
            .map(|position| &self.prompts[*position])
    }

    /// The service that serves `uri`: an exact resource, else the longest
    /// matching template prefix. A later service's resource or template
    /// under an earlier service's template is not merged at all, so the
    /// URIs under a template stay with the service known first.
    pub fn resource_service(&self, uri: &str) -> Option<usize> {
        if let Some(position) = self.resource_index.get(uri) {
            return Some(self.resources[*position].service);
        }
        self.template_prefixes
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, service)| *service)
    }

    /// The service owning the template `uri_template` (exact or by prefix).
    pub fn template_service(&self, uri_template: &str) -> Option<usize> {
        self.templates
            .iter()
            .find(|template| template.key == uri_template)
            .map(|template| template.service)
            .or_else(|| self.resource_service(uri_template))
    }

    /// True when `service` can watch resources.
    pub fn watches(&self, service: usize) -> bool {
        self.subscription_services.contains(&service)
    }

    /// True when any service can watch resources.
    pub fn any_watches(&self) -> bool {
        !self.subscription_services.is_empty()
    }

    /// True when any service may answer with tasks (the tasks extension).
    pub fn any_tasks(&self) -> bool {
        self.any_tasks
    }

    /// True when `service` declared completion support.
    pub fn completes(&self, service: usize) -> bool {
        self.completion_services.contains(&service)
    }

    /// One page of `kind` after `cursor` (the opaque token from the
    /// previous page); the items are a slice of the pre-rendered list.
    pub fn page(
        &self,
        kind: ListKind,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<Page, GatewayError> {
        let items = self.items(kind);
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor)?;
                items.partition_point(|item| item.key.as_str() <= after.as_str())
            }
        };
        let end = start.saturating_add(page_size).min(items.len());
        let rendered = &self.rendered[kind as usize];
        Ok(Page {
            items: rendered.slice(start, end),
            next_cursor: (end < items.len()).then(|| encode_cursor(&items[end - 1].key)),
        })
    }
}

#[cfg(test)]
mod tests;
