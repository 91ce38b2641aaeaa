use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{Catalog, Prompt, Resource, Tool, ToolAnnotations};

use super::*;
use crate::catalog::ServiceCatalog;
use crate::principal::Scopes;

fn tool(name: &str, destructive: bool) -> Tool {
    Tool {
        name: name.into(),
        description: format!("{name} tool"),
        input_schema_json: Bytes::from_static(br#"{"type":"object"}"#),
        annotations: Some(ToolAnnotations {
            read_only_hint: Some(!destructive),
            destructive_hint: Some(destructive),
            ..ToolAnnotations::default()
        }),
        ..Tool::default()
    }
}

fn catalog() -> Arc<MergedCatalog> {
    let fs = Catalog {
        tools: vec![tool("read_file", false), tool("stat", false)],
        prompts: vec![Prompt {
            name: "summarize".into(),
            ..Prompt::default()
        }],
        resources: vec![Resource {
            uri: "file:///a.txt".into(),
            name: "a.txt".into(),
            ..Resource::default()
        }],
        ..Catalog::default()
    };
    let search = Catalog {
        tools: vec![tool("query", false), tool("delete", true)],
        ..Catalog::default()
    };
    let contributions = [
        ServiceCatalog {
            service: 0,
            service_name: "fs".into(),
            namespace: "fs".into(),
            catalog: Arc::new(fs),
        },
        ServiceCatalog {
            service: 1,
            service_name: "search".into(),
            namespace: "search".into(),
            catalog: Arc::new(search),
        },
    ];
    Arc::new(MergedCatalog::merge(&contributions, ".", &["fs", "search"]))
}

/// A principal with its own name (views are kept by name, scopes and roles).
fn principal(scopes: &[&str], roles: &[&str]) -> Principal {
    let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
    Principal::new(
        format!("{scopes:?}{roles:?}"),
        Scopes::parse(&scopes, &["fs", "search"]).expect("scopes"),
        roles.iter().map(|role| (*role).to_owned()).collect(),
    )
}

/// One name (a JWT subject) holding `scopes` and `roles` (one token's).
fn subject(scopes: &[&str], roles: &[&str]) -> Principal {
    let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
    Principal::new(
        "corp:alice".into(),
        Scopes::parse(&scopes, &["fs", "search"]).expect("scopes"),
        roles.iter().map(|role| (*role).to_owned()).collect(),
    )
}

fn policy(cedar: Option<&str>) -> Policy {
    let cedar_opt = cedar.map(|text| Arc::new(CedarPolicies::parse(text).expect("policies")));
    Policy::with(cedar_opt, ServiceNames::of(["fs", "search"]))
}

fn listed_tools(
    policy: &Policy,
    principal: &Principal,
    catalog: &Arc<MergedCatalog>,
) -> Vec<String> {
    let page = match policy.visible(principal, catalog) {
        None => catalog.page(ListKind::Tools, None, 100),
        Some(view) => catalog.page_visible(ListKind::Tools, view.list(ListKind::Tools), None, 100),
    }
    .expect("page");
    let items: serde_json::Value =
        serde_json::from_slice(&[b"[", &page.items[..], b"]"].concat()).expect("json");
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn check_tool(
    policy: &Policy,
    principal: &Principal,
    catalog: &Arc<MergedCatalog>,
    name: &str,
) -> Result<CedarApproval, GatewayError> {
    let (position, item) = catalog.tool_at(name).expect("tool");
    policy.check_listed(principal, catalog, ListKind::Tools, position, item)
}

const DESTRUCTIVE_NEEDS_ADMIN: &str = r#"
permit(principal, action, resource);
@id("destructive-needs-admin")
forbid(principal, action == Micromcp::Action::"tools/call", resource is Micromcp::Tool)
  when { resource.destructive } unless { principal.roles.contains("admin") };
"#;

#[test]
fn scopes_filter_lists_and_refuse_calls_with_the_scope_needed() {
    let catalog = catalog();
    let policy = policy(None);
    let everything = principal(&["*"], &[]);
    assert!(
        policy.visible(&everything, &catalog).is_none(),
        "no view for `*`"
    );
    let reader = principal(&["fs:read_*", "search:query"], &[]);
    assert_eq!(
        listed_tools(&policy, &reader, &catalog),
        ["fs.read_file", "search.query"]
    );
    assert!(check_tool(&policy, &reader, &catalog, "fs.read_file").is_ok());
    let refused = check_tool(&policy, &reader, &catalog, "search.delete").expect_err("no scope");
    match refused {
        GatewayError::Forbidden { message, scope_opt } => {
            assert!(message.contains("tool search.delete"), "{message}");
            assert_eq!(scope_opt.as_deref(), Some("search:delete"));
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    // Item scopes do not reach resources; a service scope does.
    assert!(
        policy
            .check_resource(&reader, &catalog, "file:///a.txt", 0)
            .is_err()
    );
    let fs_only = principal(&["fs"], &[]);
    assert!(
        policy
            .check_resource(&fs_only, &catalog, "file:///a.txt", 0)
            .is_ok()
    );
    assert!(
        policy
            .check_resource(&fs_only, &catalog, "file:///other", 0)
            .is_ok()
    );
    assert_eq!(
        listed_tools(&policy, &fs_only, &catalog),
        ["fs.read_file", "fs.stat"]
    );
}

#[test]
fn cedar_narrows_what_scopes_allow_and_names_the_policy() {
    let catalog = catalog();
    let policy = policy(Some(DESTRUCTIVE_NEEDS_ADMIN));
    let user = principal(&["*"], &[]);
    let admin = principal(&["*"], &["admin"]);
    assert_eq!(
        listed_tools(&policy, &user, &catalog),
        ["fs.read_file", "fs.stat", "search.query"]
    );
    assert_eq!(listed_tools(&policy, &admin, &catalog).len(), 4);
    let refused = check_tool(&policy, &user, &catalog, "search.delete").expect_err("forbidden");
    assert!(
        refused.to_string().contains("destructive-needs-admin"),
        "{refused}"
    );
    assert!(check_tool(&policy, &admin, &catalog, "search.delete").is_ok());
    // Scopes stay the ceiling even for an admin.
    let narrow_admin = principal(&["fs"], &["admin"]);
    assert!(check_tool(&policy, &narrow_admin, &catalog, "search.delete").is_err());
}

#[test]
fn without_a_permit_cedar_denies_and_says_so() {
    let catalog = catalog();
    let policy = policy(Some(
        r#"permit(principal, action == Micromcp::Action::"tools/call", resource) when { resource.read_only };"#,
    ));
    let user = principal(&["*"], &[]);
    let refused = check_tool(&policy, &user, &catalog, "search.delete").expect_err("denied");
    assert!(
        refused.to_string().contains("no policy permits tools/call"),
        "{refused}"
    );
    assert!(
        policy
            .check_resource(&user, &catalog, "file:///a.txt", 0)
            .is_err()
    );
}

#[test]
fn policies_that_do_not_fit_the_schema_are_refused_at_start() {
    let typo = CedarPolicies::parse(
        r#"forbid(principal, action, resource is Micromcp::Tool) when { resource.destrutive };"#,
    )
    .expect_err("unknown attribute");
    assert!(typo.contains("does not fit the Micromcp schema"), "{typo}");
    let syntax = CedarPolicies::parse("permit(principal, action").expect_err("syntax");
    assert!(syntax.contains("does not parse"), "{syntax}");
}

#[test]
fn views_follow_catalog_changes() {
    let policy = policy(None);
    let reader = principal(&["search"], &[]);
    let first = catalog();
    assert_eq!(
        listed_tools(&policy, &reader, &first),
        ["search.delete", "search.query"]
    );
    let second = Arc::new(MergedCatalog::merge(
        &[ServiceCatalog {
            service: 1,
            service_name: "search".into(),
            namespace: "search".into(),
            catalog: Arc::new(Catalog {
                tools: vec![tool("index", false)],
                ..Catalog::default()
            }),
        }],
        ".",
        &["fs", "search"],
    ));
    assert_eq!(listed_tools(&policy, &reader, &second), ["search.index"]);
}

#[test]
fn reading_a_service_as_a_whole_needs_its_resources() {
    let scopes_only = policy(None);
    assert!(scopes_only.may_read_service(&principal(&["fs", "search"], &[]), 0));
    assert!(scopes_only.may_read_service(&principal(&["*"], &[]), 0));
    assert!(!scopes_only.may_read_service(&principal(&["fs:stat", "search"], &[]), 0));
    assert!(!scopes_only.may_read_service(&principal(&["fs:read_*"], &[]), 0));
    assert!(!scopes_only.may_read_service(&principal(&["search"], &[]), 0));
    let no_resources = policy(Some(
        r#"permit(principal, action, resource);
forbid(principal, action == Micromcp::Action::"resources/read", resource is Micromcp::Resource)
  when { resource.service == "fs" } unless { principal.roles.contains("reader") };"#,
    ));
    assert!(!no_resources.may_read_service(&principal(&["*"], &[]), 0));
    assert!(no_resources.may_read_service(&principal(&["*"], &["reader"]), 0));
}

#[test]
fn a_permit_annotated_require_approval_marks_the_calls_it_permits() {
    let catalog = catalog();
    let policy = policy(Some(
        r#"
permit(principal, action, resource);
@id("destructive-needs-a-person")
@require_approval("deletions need a person")
permit(principal, action == Micromcp::Action::"tools/call", resource is Micromcp::Tool)
  when { resource.destructive };
@require_approval
permit(principal, action == Micromcp::Action::"prompts/get", resource);
"#,
    ));
    let user = principal(&["*"], &[]);
    // The view's cached marks, twice (built, then reused).
    for _ in 0..2 {
        assert_eq!(
            check_tool(&policy, &user, &catalog, "search.delete")
                .expect("permitted")
                .as_deref(),
            Some(r#"policy "destructive-needs-a-person": deletions need a person"#),
        );
        assert_eq!(
            check_tool(&policy, &user, &catalog, "search.query").expect("permitted"),
            None,
            "another permit lets it through without approval"
        );
    }
    // Not in the view (as when the catalog changed between two looks):
    // decided afresh, still marked.
    let (position, item) = catalog.tool_at("search.delete").expect("tool");
    let fresh = policy
        .check_listed(&user, &catalog, ListKind::Tools, position + 100, item)
        .expect("permitted");
    assert!(fresh.is_some());
    // Only tool calls ask; a prompt permitted by a marked policy does not.
    let (position, item) = catalog.prompt_at("fs.summarize").expect("prompt");
    assert_eq!(
        policy
            .check_listed(&user, &catalog, ListKind::Prompts, position, item)
            .expect("permitted"),
        None
    );
    // A forbid wins over the mark.
    let forbidding = self::policy(Some(
        r#"
@require_approval
permit(principal, action, resource);
forbid(principal, action, resource) when { resource is Micromcp::Tool && resource.destructive };
"#,
    ));
    assert!(check_tool(&forbidding, &user, &catalog, "search.delete").is_err());
    assert!(
        check_tool(&forbidding, &user, &catalog, "search.query")
            .expect("permitted")
            .is_some_and(|rule| rule.starts_with("policy \"policy")),
        "an unnamed policy is named by its id"
    );
}

#[test]
fn tokens_of_one_subject_do_not_share_a_view() {
    let catalog = catalog();
    let policy = policy(Some(DESTRUCTIVE_NEEDS_ADMIN));
    let (wide, narrow) = (
        subject(&["*"], &["admin"]),
        subject(&["search:query"], &["admin"]),
    );
    let reader = subject(&["*"], &["reader"]);
    for _ in 0..2 {
        // Either order, each token's own scopes and roles decide.
        assert!(check_tool(&policy, &wide, &catalog, "search.delete").is_ok());
        assert!(check_tool(&policy, &narrow, &catalog, "fs.read_file").is_err());
        assert!(
            policy
                .check_resource(&narrow, &catalog, "file:///a.txt", 0)
                .is_err()
        );
        assert!(check_tool(&policy, &reader, &catalog, "search.delete").is_err());
        assert_eq!(listed_tools(&policy, &narrow, &catalog), ["search.query"]);
        assert!(listed_tools(&policy, &wide, &catalog).contains(&"fs.read_file".to_owned()));
    }
    assert_eq!(policy.views_kept(), 3);
}

#[test]
fn views_kept_are_bounded_and_the_newest_is_kept() {
    let catalog = catalog();
    let policy = policy(None);
    for index in 0..MAX_VIEWS + 10 {
        let one = Principal::new(
            format!("corp:user{index}"),
            Scopes::parse(&["fs".into()], &["fs", "search"]).expect("scopes"),
            Vec::new(),
        );
        assert_eq!(
            listed_tools(&policy, &one, &catalog),
            ["fs.read_file", "fs.stat"]
        );
        assert!(policy.views_kept() <= MAX_VIEWS);
    }
    assert_eq!(policy.views_kept(), MAX_VIEWS);
}

#[test]
fn views_kept_are_bounded_by_their_bytes_too() {
    let catalog = catalog();
    let principal = |index: usize| {
        Principal::new(
            format!("corp:user{index}"),
            Scopes::parse(&["fs".into()], &["fs", "search"]).expect("scopes"),
            Vec::new(),
        )
    };
    let one_view = policy(None)
        .build_view(&principal(0), &catalog)
        .estimated_bytes();
    let policy = policy(None).with_view_bytes(one_view * 3);
    for index in 0..20 {
        assert_eq!(
            listed_tools(&policy, &principal(index), &catalog),
            ["fs.read_file", "fs.stat"]
        );
        assert!(
            policy.views_kept() <= 3,
            "{} views kept",
            policy.views_kept()
        );
    }
    assert_eq!(policy.views_kept(), 3);
}
