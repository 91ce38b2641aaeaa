//! Cedar policies: attribute-based rules over what the catalog knows about
//! each tool (its hints), prompt and resource, and what the principal holds
//! (name, scopes). Policies are parsed and validated against [`SCHEMA`] at
//! start, so a misspelt attribute is a config error, not a silent deny.
//! A permit policy annotated `@require_approval` (optionally with a reason:
//! `@require_approval("deletions need a person")`) makes every request it
//! permits need a person's approval (consent), even when other policies
//! permit it too.
//! Evaluation builds the two entities of one request; the gateway caches
//! decisions per principal and catalog (see `policy::views`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};

use crate::catalog::ToolHints;
use crate::principal::Principal;

/// The entity types, attributes and actions policies may use.
pub const SCHEMA: &str = r#"
namespace Micromcp {
  entity Principal = { name: String, scopes: Set<String>, roles: Set<String> };
  entity Tool = {
    name: String, service: String,
    read_only: Bool, destructive: Bool, idempotent: Bool, open_world: Bool
  };
  entity Prompt = { name: String, service: String };
  entity Resource = { uri: String, service: String };
  action "tools/call" appliesTo { principal: Principal, resource: Tool };
  action "prompts/get" appliesTo { principal: Principal, resource: Prompt };
  action "resources/read" appliesTo { principal: Principal, resource: Resource };
}
"#;

/// What a request is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Tool {
        exposed: &'a str,
        name: &'a str,
        service: &'a str,
        hints: ToolHints,
    },
    Prompt {
        exposed: &'a str,
        name: &'a str,
        service: &'a str,
    },
    Resource {
        uri: &'a str,
        service: &'a str,
    },
}

/// A validated policy set.
#[derive(Debug, Clone)]
pub struct CedarPolicies {
    policies: PolicySet,
    names: Names,
    /// Each policy's `@id` annotation, if it has one (looking it up per
    /// denial parsed the annotation key every time).
    labels: HashMap<PolicyId, String>,
    /// The permit policies annotated `@require_approval`: what the
    /// approval is asked under (`policy "<label>"`, and the reason given).
    approvals: HashMap<PolicyId, Arc<str>>,
}

/// Entity type names and action ids, parsed once (parsing them per
/// request was a third of an evaluation's time).
#[derive(Debug, Clone)]
struct Names {
    principal: EntityTypeName,
    tool: EntityTypeName,
    prompt: EntityTypeName,
    resource: EntityTypeName,
    call_tool: EntityUid,
    get_prompt: EntityUid,
    read_resource: EntityUid,
}

// === impl Names ===

impl Names {
    fn new() -> Result<Self, String> {
        let type_name = |name: &str| {
            EntityTypeName::from_str(&format!("Micromcp::{name}"))
                .map_err(|error| error.to_string())
        };
        let action = type_name("Action")?;
        let action_uid =
            |id: &str| EntityUid::from_type_name_and_id(action.clone(), EntityId::new(id));
        Ok(Self {
            principal: type_name("Principal")?,
            tool: type_name("Tool")?,
            prompt: type_name("Prompt")?,
            resource: type_name("Resource")?,
            call_tool: action_uid("tools/call"),
            get_prompt: action_uid("prompts/get"),
            read_resource: action_uid("resources/read"),
        })
    }

    fn action(&self, subject: &Subject<'_>) -> &EntityUid {
        match subject {
            Subject::Tool { .. } => &self.call_tool,
            Subject::Prompt { .. } => &self.get_prompt,
            Subject::Resource { .. } => &self.read_resource,
        }
    }
}

/// What Cedar said yes to: `Some` with the rule to name when a policy
/// that permitted it asks for a person's approval first.
pub type CedarApproval = Option<Arc<str>>;

/// Why Cedar said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CedarDenial {
    pub reason: String,
}

// === impl Subject ===

impl Subject<'_> {
    /// The action name this subject is used with.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Tool { .. } => "tools/call",
            Self::Prompt { .. } => "prompts/get",
            Self::Resource { .. } => "resources/read",
        }
    }

    /// Human name of the target.
    pub fn label(&self) -> String {
        match self {
            Self::Tool { exposed, .. } => format!("tool {exposed}"),
            Self::Prompt { exposed, .. } => format!("prompt {exposed}"),
            Self::Resource { uri, .. } => format!("resource {uri}"),
        }
    }

    fn entity(&self, names: &Names) -> Result<Entity, String> {
        let string = |text: &str| RestrictedExpression::new_string(text.to_owned());
        let (type_name, id, attrs) = match *self {
            Self::Tool {
                exposed,
                name,
                service,
                hints,
            } => (
                &names.tool,
                exposed,
                HashMap::from([
                    ("name".to_owned(), string(name)),
                    ("service".to_owned(), string(service)),
                    (
                        "read_only".to_owned(),
                        RestrictedExpression::new_bool(hints.read_only),
                    ),
                    (
                        "destructive".to_owned(),
                        RestrictedExpression::new_bool(hints.destructive),
                    ),
                    (
                        "idempotent".to_owned(),
                        RestrictedExpression::new_bool(hints.idempotent),
                    ),
                    (
                        "open_world".to_owned(),
                        RestrictedExpression::new_bool(hints.open_world),
                    ),
                ]),
            ),
            Self::Prompt {
                exposed,
                name,
                service,
            } => (
                &names.prompt,
                exposed,
                HashMap::from([
                    ("name".to_owned(), string(name)),
                    ("service".to_owned(), string(service)),
                ]),
            ),
            Self::Resource { uri, service } => (
                &names.resource,
                uri,
                HashMap::from([
                    ("uri".to_owned(), string(uri)),
                    ("service".to_owned(), string(service)),
                ]),
            ),
        };
        let uid = EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id));
        Entity::new(uid, attrs, HashSet::new()).map_err(|error| error.to_string())
    }
}

fn principal_entity(names: &Names, principal: &Principal) -> Result<Entity, String> {
    let scopes = principal
        .scopes
        .texts()
        .iter()
        .map(|scope| RestrictedExpression::new_string(scope.clone()));
    let attrs = HashMap::from([
        (
            "name".to_owned(),
            RestrictedExpression::new_string(principal.id.clone()),
        ),
        ("scopes".to_owned(), RestrictedExpression::new_set(scopes)),
        (
            "roles".to_owned(),
            RestrictedExpression::new_set(
                principal
                    .roles
                    .iter()
                    .map(|role| RestrictedExpression::new_string(role.clone())),
            ),
        ),
    ]);
    let uid =
        EntityUid::from_type_name_and_id(names.principal.clone(), EntityId::new(&principal.id));
    Entity::new(uid, attrs, HashSet::new()).map_err(|error| error.to_string())
}

// === impl CedarPolicies ===

impl CedarPolicies {
    /// Parses and validates `text` (the file's content).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|error| format!("schema: {error}"))?;
        let policies = PolicySet::from_str(text).map_err(|error| {
            let details =
                crate::error::with_causes(error.to_string(), std::error::Error::source(&error));
            format!("does not parse: {details}")
        })?;
        let validation = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let problems: Vec<String> = validation
                .validation_errors()
                .map(|error| error.to_string())
                .collect();
            return Err(format!(
                "does not fit the Micromcp schema: {}",
                problems.join("; ")
            ));
        }
        let labels = policies
            .policies()
            .filter_map(|policy| {
                policy
                    .annotation("id")
                    .map(|label| (policy.id().clone(), label.to_owned()))
            })
            .collect::<HashMap<PolicyId, String>>();
        let approvals = policies
            .policies()
            .filter(|policy| policy.effect() == cedar_policy::Effect::Permit)
            .filter_map(|policy| {
                let reason = policy.annotation("require_approval")?;
                let label = labels
                    .get(policy.id())
                    .map_or_else(|| policy.id().to_string(), String::clone);
                let rule = if reason.is_empty() {
                    format!("policy {label:?}")
                } else {
                    format!("policy {label:?}: {reason}")
                };
                Some((policy.id().clone(), Arc::from(rule)))
            })
            .collect();
        Ok(Self {
            policies,
            names: Names::new()?,
            labels,
            approvals,
        })
    }

    /// The principal's entity, built once per view.
    pub fn principal_entity(&self, principal: &Principal) -> Result<Entity, String> {
        principal_entity(&self.names, principal)
    }

    /// True when some policy asks for approval (else no decision does).
    pub fn asks_approval(&self) -> bool {
        !self.approvals.is_empty()
    }

    /// Evaluates one request; `Err` says which policy (by `@id`, else
    /// Cedar's id) forbade it, or that none permitted it; `Ok(Some(rule))`
    /// when a permitting policy asks for approval.
    pub fn decide(
        &self,
        principal: &Principal,
        subject: &Subject<'_>,
    ) -> Result<CedarApproval, CedarDenial> {
        let entity = principal_entity(&self.names, principal).map_err(|error| CedarDenial {
            reason: format!("policy request not built: {error}"),
        })?;
        self.decide_for(&entity, subject)
    }

    /// [`CedarPolicies::decide`] with the principal's entity already built.
    /// Entities and request are built from the schema's own shapes, and
    /// the policies were validated against it at start, so they are not
    /// validated again per request.
    pub fn decide_for(
        &self,
        principal: &Entity,
        subject: &Subject<'_>,
    ) -> Result<CedarApproval, CedarDenial> {
        let denial = |reason: String| CedarDenial { reason };
        let request = (|| -> Result<(Request, Entities), String> {
            let resource_entity = subject.entity(&self.names)?;
            let request = Request::new(
                principal.uid(),
                self.names.action(subject).clone(),
                resource_entity.uid(),
                Context::empty(),
                None,
            )
            .map_err(|error| error.to_string())?;
            let entities = Entities::from_entities([principal.clone(), resource_entity], None)
                .map_err(|error| error.to_string())?;
            Ok((request, entities))
        })();
        let (request, entities) =
            request.map_err(|error| denial(format!("policy request not built: {error}")))?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        if response.decision() == Decision::Allow {
            if self.approvals.is_empty() {
                return Ok(None);
            }
            return Ok(response
                .diagnostics()
                .reason()
                .filter_map(|id| self.approvals.get(id))
                .min()
                .cloned());
        }
        let named: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| {
                self.labels
                    .get(id)
                    .map_or_else(|| id.to_string(), String::clone)
            })
            .collect();
        Err(denial(if named.is_empty() {
            format!(
                "no policy permits {} on {}",
                subject.action(),
                subject.label()
            )
        } else {
            format!("forbidden by policy {}", named.join(", "))
        }))
    }
}
