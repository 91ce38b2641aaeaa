//! Keeps the layering of the gateway crate, of the `micromcp` binary and of
//! the bridge service true without anyone drawing it: reads every module
//! of each, finds each `crate::…` and `super::…` path outside comments and
//! strings (`parse`), and fails on an import that does not run strictly
//! down the crate's layer table — the gateway's is the one in `lib.rs`'s
//! doc and in `gateway/README.md`, the bridge's is below; in the binary,
//! commands (`src/commands/`) sit above helpers (every other module) and
//! only `main.rs` names a command. Also checks that requests are authorized
//! in one place (`methods/route.rs`) and that the gateway's files stay
//! under 500 lines.

#[path = "layers/parse.rs"]
mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parse::{code_only, referenced_paths};

/// Each unit and its layer, lowest first. A unit may use only units of a
/// strictly lower layer (and itself); units sharing a layer are siblings
/// that never import each other.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("quota", 0),
    ("shares", 0),
    ("telemetry", 0),
    ("unwritten", 0),
    ("wire", 1),
    ("principal", 2),
    ("catalog", 3),
    ("policy", 4),
    ("config", 5),
    ("auth", 6),
    ("session", 6),
    ("mcp_registry", 6),
    ("context", 7),
    ("rates", 7),
    ("backends", 8),
    ("audit", 8),
    ("cluster", 8),
    ("gateway", 9),
    ("methods", 10),
    ("methods::route", 10),
    ("methods::outbound", 10),
    ("methods::result", 10),
    ("methods::consent", 10),
    ("methods::input_rounds", 10),
    ("methods::task_ids", 10),
    ("live_config", 10),
    ("methods::tools", 11),
    ("methods::resources", 11),
    ("methods::prompts", 11),
    ("methods::subscriptions", 11),
    ("methods::listen", 11),
    ("methods::tasks", 11),
    ("dispatch", 12),
    ("front", 13),
];

/// The only modules that may ask `policy` for a decision or a view.
const AUTHORIZATION_POINTS: &[&str] = &[
    // every request
    "methods/route.rs",
    // warms views off the request path when the catalog changes
    "gateway.rs",
    // the policy itself
    "policy.rs",
    "policy/tests.rs",
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `micromcp` binary's sources (the workspace root's `src/`).
fn binary_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src")
}

/// The bridge service's sources.
fn bridge_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/bridge/src")
}

/// The bridge's units and layers, lowest first (as `LAYERS`): what the
/// upstream's transports are built of, the transports, connecting, the
/// upstream connection, per-principal sessions, one call, the service. A
/// transport never reaches up to the session or the service.
const BRIDGE_LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("convert", 0),
    ("process_tree", 0),
    ("child_stderr", 0),
    ("http_pool", 0),
    ("liveness", 0),
    ("paged", 0),
    ("private_home", 1),
    ("routing", 0),
    ("watches", 0),
    ("stdio_transport", 1),
    ("legacy_sse", 1),
    ("late_probe", 1),
    ("handler", 1),
    ("connect", 2),
    ("upstream", 3),
    ("principal_sessions", 4),
    ("call", 5),
    ("service", 6),
];

/// Every `.rs` file under `root`, as paths relative to it.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read src dir")
            .map(|entry| entry.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path.strip_prefix(root).expect("under src").to_path_buf());
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found
}

/// Every `.rs` file under `root` with its text.
fn sources(root: &Path) -> Vec<(PathBuf, String)> {
    rust_files(root)
        .into_iter()
        .map(|relative| {
            let text = std::fs::read_to_string(root.join(&relative)).expect("read");
            (relative, text)
        })
        .collect()
}

/// The module path of a file: `methods/tools.rs` → `[methods, tools]`,
/// `commands/mod.rs` → `[commands]`, a crate root → `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = segments.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    if segments.len() > 1 && segments.last().is_some_and(|last| last == "mod") {
        segments.pop();
    }
    if segments == ["lib"] || segments == ["main"] {
        segments.clear();
    }
    segments
}

/// The layer-table unit a module path belongs to (`methods` is split into
/// its submodules; every other unit is a top-level module).
fn unit_of(path: &[String]) -> Option<String> {
    let first = path.first()?;
    if first == "methods"
        && let Some(second) = path.get(1)
    {
        let unit = format!("methods::{second}");
        if rank(LAYERS, &unit).is_some() {
            return Some(unit);
        }
    }
    Some(first.clone())
}

fn rank(layers: &[(&str, u8)], unit: &str) -> Option<u8> {
    layers
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, rank)| *rank)
}

/// The imports in `files` (one crate's) that do not run strictly down
/// `layers`; `unit_of` names the unit of a module path.
fn layer_violations(
    files: &[(PathBuf, String)],
    layers: &[(&str, u8)],
    unit_of: &dyn Fn(&[String]) -> Option<String>,
) -> BTreeSet<String> {
    let mut violations = BTreeSet::new();
    for (relative, text) in files {
        let own = module_path(relative);
        let Some(own_unit) = unit_of(&own) else {
            continue; // the crate root: declares the modules
        };
        let Some(own_rank) = rank(layers, &own_unit) else {
            violations.insert(format!(
                "{}: module {own_unit} is not in the layer table (gateway/tests/layers.rs, and the crate's docs)",
                relative.display()
            ));
            continue;
        };
        for (path, from_super) in referenced_paths(&code_only(text), &own) {
            let Some(target_unit) = unit_of(&path) else {
                continue;
            };
            if target_unit == own_unit {
                continue;
            }
            match rank(layers, &target_unit) {
                Some(target_rank) if target_rank < own_rank => {}
                Some(target_rank) => {
                    violations.insert(format!(
                        "{}: {own_unit} (layer {own_rank}) uses {} of {target_unit} (layer {target_rank})",
                        relative.display(),
                        path.join("::")
                    ));
                }
                // An item of the file's own parent (inline test modules).
                None if from_super => {}
                None => {
                    violations.insert(format!(
                        "{}: uses crate::{} (unknown module)",
                        relative.display(),
                        path.join("::")
                    ));
                }
            }
        }
    }
    violations
}

/// The modules `mod name;` (or `mod name { … }`) declares in `code`.
fn declared_modules(code: &str) -> BTreeSet<String> {
    code.split([';', '{', '}'])
        .filter_map(
            |item| match item.split_whitespace().collect::<Vec<_>>().as_slice() {
                [.., "mod", name] => Some((*name).to_owned()),
                _ => None,
            },
        )
        .collect()
}

/// What a crate root re-exports (`pub use module::{Item, …};`): item →
/// the module it comes from.
fn reexports(code: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for statement in code.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items
            .trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace())
            .split(',')
        {
            let name = item.split_whitespace().last().unwrap_or_default();
            if !name.is_empty() {
                found.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    found
}

/// The binary's layering broken in `files` (its `src/`): a helper (a module
/// outside `commands/`) naming a command, or any module naming an item of
/// `main.rs`, which only parses the command line and dispatches.
fn binary_violations(files: &[(PathBuf, String)]) -> BTreeSet<String> {
    let root = files
        .iter()
        .find(|(relative, _)| relative == Path::new("main.rs"))
        .map(|(_, text)| code_only(text))
        .unwrap_or_default();
    let modules = declared_modules(&root);
    let mut violations = BTreeSet::new();
    for (relative, text) in files {
        let own = module_path(relative);
        let Some(top) = own.first() else {
            continue; // main.rs
        };
        for (path, from_super) in referenced_paths(&code_only(text), &own) {
            let Some(first) = path.first() else {
                continue;
            };
            if !modules.contains(first) {
                // Through `super::`, an item of the file's own parent.
                if !from_super {
                    violations.insert(format!(
                        "{}: uses crate::{} of main.rs (main.rs only parses and dispatches)",
                        relative.display(),
                        path.join("::")
                    ));
                }
            } else if first == "commands" && top != "commands" {
                violations.insert(format!(
                    "{}: the helper {top} uses the command {} (commands sit above helpers; only main.rs names them)",
                    relative.display(),
                    path.join("::")
                ));
            }
        }
    }
    violations
}

/// The bridge unit a module path belongs to: its top-level module, through
/// the crate root's re-exports for an item named at the root.
fn bridge_unit_of(
    reexported: &BTreeMap<String, String>,
) -> impl Fn(&[String]) -> Option<String> + '_ {
    |path: &[String]| {
        let first = path.first()?;
        Some(reexported.get(first).unwrap_or(first).clone())
    }
}

fn assert_none(what: &str, violations: BTreeSet<String>) {
    assert!(
        violations.is_empty(),
        "{what}:\n{}",
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_import_runs_down_the_layer_table() {
    let files = sources(&source_root());
    assert!(files.len() > 20, "found only {} files", files.len());
    assert_none(
        "imports against the layer table",
        layer_violations(&files, LAYERS, &unit_of),
    );
}

#[test]
fn the_binarys_commands_sit_above_its_helpers() {
    let files = sources(&binary_root());
    assert!(files.len() > 20, "found only {} files", files.len());
    assert!(
        files
            .iter()
            .any(|(relative, _)| relative.starts_with("commands")),
        "no src/commands/"
    );
    assert_none(
        "the binary's imports against its layering",
        binary_violations(&files),
    );
}

#[test]
fn every_bridge_import_runs_down_its_layer_table() {
    let files = sources(&bridge_root());
    assert!(files.len() > 15, "found only {} files", files.len());
    let root = files
        .iter()
        .find(|(relative, _)| relative == Path::new("lib.rs"))
        .map(|(_, text)| code_only(text))
        .expect("lib.rs");
    let reexported = reexports(&root);
    assert_eq!(
        reexported.get("BridgeConfig").map(String::as_str),
        Some("config")
    );
    assert_none(
        "the bridge's imports against its layer table",
        layer_violations(&files, BRIDGE_LAYERS, &bridge_unit_of(&reexported)),
    );
}

#[test]
fn requests_are_authorized_only_in_route() {
    let files = rust_files(&source_root());
    let mut offenders = Vec::new();
    for relative in &files {
        let name = relative.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(source_root().join(relative)).expect("read");
        let code: String = code_only(&text)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let asks_policy = [
            ".policy.check_",
            ".policy.decide",
            ".policy.visible(",
            ".policy.build_view(",
        ]
        .iter()
        .any(|call| code.contains(call));
        if asks_policy && !AUTHORIZATION_POINTS.contains(&name.as_str()) {
            offenders.push(format!("{name}: asks policy directly"));
        }
        // Handlers reach a service only through an authorized route, which
        // also fails fast when the service is down.
        let is_handler = name.starts_with("methods/") && name != "methods/route.rs";
        let reaches_backend =
            code.contains("backends.services()") || code.contains(".client.clone()");
        if is_handler && reaches_backend {
            offenders.push(format!("{name}: reaches a backend without a route"));
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn files_stay_under_500_lines() {
    let files = rust_files(&source_root());
    let long: Vec<String> = files
        .iter()
        .filter_map(|relative| {
            let text = std::fs::read_to_string(source_root().join(relative)).expect("read");
            let lines = text.lines().count();
            (lines > 500).then(|| format!("{}: {lines} lines", relative.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_checker_sees_what_it_must() {
    // A test that cannot fail proves nothing: feed it the shapes it checks.
    let own = vec!["methods".to_owned(), "tools".to_owned()];
    let code = code_only(
        "use crate::{dispatch, wire::jsonrpc::{a, b}};\n\
         // use crate::front::http;\n\
         let s = \"crate::gateway\";\n\
         use super::prompts::get;\n\
         let c = '\"'; let q = '\\''; use crate::context::CallContext;\n\
         let r = r#\"crate::audit\"#;\n",
    );
    let units: BTreeSet<String> = referenced_paths(&code, &own)
        .into_iter()
        .filter_map(|(path, _)| unit_of(&path))
        .collect();
    let expected: BTreeSet<String> = ["dispatch", "wire", "methods::prompts", "context"]
        .iter()
        .map(|unit| (*unit).to_owned())
        .collect();
    assert_eq!(units, expected);
    let policy_call: String = code_only("gateway\n    .policy\n    .check_resource(x)")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(policy_call.contains(".policy.check_"));
}

#[test]
fn the_binary_and_bridge_checks_see_what_they_must() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let binary = [
        file(
            "main.rs",
            "mod commands;\nmod token;\n#[cfg(test)]\nmod tests;\nconst HELP: &str = \"\";\n",
        ),
        file("commands/mod.rs", "pub mod check;\npub mod up;\n"),
        file(
            "commands/up.rs",
            "use crate::token::make;\nuse super::check::run;\nuse crate::commands::check;\n",
        ),
        file(
            "token.rs",
            "use crate::commands::up::run;\n// crate::commands::up\nfn f() { let _ = crate::HELP; }\n\
             mod tests { use super::make; }\n",
        ),
    ];
    let found: Vec<String> = binary_violations(&binary).into_iter().collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("token.rs: the helper token uses the command commands::up::run"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("token.rs: uses crate::HELP of main.rs"),
        "{found:#?}"
    );
    let bridge = [
        file(
            "lib.rs",
            "mod config;\nmod service;\nmod stdio_transport;\npub use config::{BridgeConfig, RunAs};\n\
             pub use service::BridgeService;\n",
        ),
        file("stdio_transport.rs", "use crate::{RunAs, BridgeService};\n"),
        file(
            "service.rs",
            "use crate::stdio_transport::StdioTransport;\n",
        ),
    ];
    let reexported = reexports(&code_only(&bridge[0].1));
    let found: Vec<String> = layer_violations(&bridge, BRIDGE_LAYERS, &bridge_unit_of(&reexported))
        .into_iter()
        .collect();
    assert_eq!(
        found,
        ["stdio_transport.rs: stdio_transport (layer 1) uses BridgeService of service (layer 6)"]
    );
}
