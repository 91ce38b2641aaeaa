//! Scopes: what a principal may reach, by service and item name. `*` grants
//! everything; `fs` grants everything service `fs` offers (tools, prompts,
//! resources, templates); `fs:read_*` grants the tools and prompts of `fs`
//! whose own (un-namespaced) names match the glob (`*` and `?`). Checked
//! before any Cedar policy: a scope is the ceiling, Cedar narrows it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use globset::{Glob, GlobMatcher};

/// Compiled name patterns by pattern text, shared by every principal that
/// carries one (a compiled glob is a regex of ~10 KB: one per token cached
/// made 100 tokens of 300 patterns cost ~300 MB). Entries die with the last
/// principal holding them; dead ones are swept as the map grows.
fn shared_matcher(pattern: &str) -> Result<Arc<GlobMatcher>, globset::Error> {
    static MATCHERS: OnceLock<Mutex<HashMap<String, Weak<GlobMatcher>>>> = OnceLock::new();
    let matchers = MATCHERS.get_or_init(Mutex::default);
    if let Some(matcher) = matchers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
        .and_then(Weak::upgrade)
    {
        return Ok(matcher);
    }
    let compiled = Arc::new(Glob::new(pattern)?.compile_matcher());
    let mut matchers = matchers.lock().unwrap_or_else(PoisonError::into_inner);
    if matchers.len() >= 1024 && matchers.len().is_power_of_two() {
        matchers.retain(|_, matcher| matcher.strong_count() > 0);
    }
    matchers.insert(pattern.to_owned(), Arc::downgrade(&compiled));
    Ok(compiled)
}

/// One granted scope.
#[derive(Debug, Clone)]
enum Grant {
    /// `*`.
    All,
    /// `service`: all of one service.
    Service(String),
    /// `service:glob`: tools and prompts of one service by own name.
    Items {
        service: String,
        names: Arc<GlobMatcher>,
    },
}

/// A principal's scopes, parsed.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    grants: Vec<Grant>,
    /// The scopes as written (audit, Cedar's `principal.scopes`).
    texts: Vec<String>,
}

/// What an item is, for matching.
#[derive(Debug, Clone, Copy)]
pub enum ItemKind {
    /// Tools and prompts: matched by service and own name.
    Named,
    /// Resources and templates: matched by service only.
    Resource,
}

// === impl Scopes ===

impl Scopes {
    /// Parses `texts`; the error names the offending scope. `service_names`
    /// are the configured services: a scope naming another is a mistake.
    pub fn parse(texts: &[String], service_names: &[&str]) -> Result<Self, String> {
        let mut grants = Vec::with_capacity(texts.len());
        for text in texts {
            let (service, pattern_opt) = match text.split_once(':') {
                Some((service, pattern)) => (service, Some(pattern)),
                None => (text.as_str(), None),
            };
            if text == "*" {
                grants.push(Grant::All);
                continue;
            }
            if !service_names.contains(&service) {
                return Err(format!(
                    "{text:?}: no service named {service:?} (scopes are `*`, `SERVICE` or `SERVICE:NAME_GLOB`)"
                ));
            }
            grants.push(match pattern_opt {
                None | Some("*") => Grant::Service(service.to_owned()),
                Some(pattern) => {
                    let names = shared_matcher(pattern)
                        .map_err(|error| format!("{text:?}: invalid name pattern: {error}"))?;
                    Grant::Items {
                        service: service.to_owned(),
                        names,
                    }
                }
            });
        }
        Ok(Self {
            grants,
            texts: texts.to_vec(),
        })
    }

    /// Everything, for the local stdio user and unauthenticated loopback.
    pub fn all() -> Self {
        Self {
            grants: vec![Grant::All],
            texts: vec!["*".into()],
        }
    }

    /// True when `*` is among the scopes.
    pub fn grants_all(&self) -> bool {
        self.grants.iter().any(|grant| matches!(grant, Grant::All))
    }

    /// The scopes as configured.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// True when some scope covers `name` (its own name) of `service`.
    pub fn allows(&self, service: &str, kind: ItemKind, name: &str) -> bool {
        self.grants.iter().any(|grant| match grant {
            Grant::All => true,
            Grant::Service(granted) => granted == service,
            Grant::Items {
                service: granted,
                names,
            } => granted == service && matches!(kind, ItemKind::Named) && names.is_match(name),
        })
    }
}

/// The narrowest scope that grants `name` of `service` (for
/// `WWW-Authenticate: … scope=`).
pub fn needed_scope(service: &str, kind: ItemKind, name: &str) -> String {
    match kind {
        ItemKind::Named => format!("{service}:{name}"),
        ItemKind::Resource => service.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(texts: &[&str]) -> Result<Scopes, String> {
        let texts: Vec<String> = texts.iter().map(|text| (*text).to_owned()).collect();
        Scopes::parse(&texts, &["fs", "fetch"])
    }

    #[test]
    fn principals_with_one_pattern_share_its_compiled_matcher() {
        let first = scopes(&["fs:shared_pattern_*"]).expect("valid");
        let second = scopes(&["fs:shared_pattern_*"]).expect("valid");
        let matcher = |scopes: &Scopes| match &scopes.grants[0] {
            Grant::Items { names, .. } => names.clone(),
            _ => panic!("an item grant"),
        };
        assert!(Arc::ptr_eq(&matcher(&first), &matcher(&second)));
        assert!(second.allows("fs", ItemKind::Named, "shared_pattern_x"));
    }

    #[test]
    fn service_item_and_all_scopes_match_what_they_say() {
        let reader = scopes(&["fs:read_*", "fetch"]).expect("valid");
        assert!(reader.allows("fs", ItemKind::Named, "read_file"));
        assert!(!reader.allows("fs", ItemKind::Named, "write_file"));
        assert!(!reader.allows("fs", ItemKind::Resource, "file:///x"));
        assert!(reader.allows("fetch", ItemKind::Named, "fetch"));
        assert!(reader.allows("fetch", ItemKind::Resource, "https://x"));
        assert!(!reader.grants_all());
        let everything = scopes(&["*"]).expect("valid");
        assert!(everything.grants_all() && everything.allows("x", ItemKind::Resource, "y"));
        let nothing = scopes(&[]).expect("valid");
        assert!(!nothing.allows("fs", ItemKind::Named, "read_file"));
        assert!(
            scopes(&["fs:*"])
                .expect("valid")
                .allows("fs", ItemKind::Resource, "u")
        );
    }

    #[test]
    fn unknown_services_and_bad_globs_are_named() {
        assert!(
            scopes(&["search"])
                .expect_err("unknown")
                .contains("\"search\"")
        );
        assert!(
            scopes(&["fs:[x"])
                .expect_err("glob")
                .contains("invalid name pattern")
        );
    }
}
