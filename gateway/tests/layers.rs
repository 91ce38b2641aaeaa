//! Keeps the gateway crate's layering true without anyone drawing it: reads
//! every module under `src/`, finds each `crate::…` and `super::…` path
//! outside comments and strings, and fails on an import that does not run
//! strictly down the layer table (the one in `lib.rs`'s doc and in
//! `gateway/README.md`). Also checks that requests are authorized in one
//! place (`methods/route.rs`) and that files stay under 500 lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(
                path.strip_prefix(source_root())
                    .expect("under src")
                    .to_path_buf(),
            );
        }
    }
}

/// The module path of a file: `methods/tools.rs` → `[methods, tools]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = segments.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    if segments == ["lib"] {
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
        if rank(&unit).is_some() {
            return Some(unit);
        }
    }
    Some(first.clone())
}

fn rank(unit: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, rank)| *rank)
}

/// `text` with comments, string and char literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let here = chars[index];
        let next = chars.get(index + 1).copied();
        if here == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
            }
        } else if here == '/' && next == Some('*') {
            index += 2;
            while index + 1 < chars.len() && !(chars[index] == '*' && chars[index + 1] == '/') {
                index += 1;
            }
            index += 2;
            out.push(' ');
        } else if here == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_before(&chars, index)
        {
            let mut hashes = 0;
            let mut cursor = index + 1;
            while chars.get(cursor) == Some(&'#') {
                hashes += 1;
                cursor += 1;
            }
            if chars.get(cursor) != Some(&'"') {
                out.push(here);
                index += 1;
                continue;
            }
            cursor += 1;
            loop {
                if cursor >= chars.len() {
                    break;
                }
                if chars[cursor] == '"'
                    && (0..hashes).all(|offset| chars.get(cursor + 1 + offset) == Some(&'#'))
                {
                    cursor += 1 + hashes;
                    break;
                }
                cursor += 1;
            }
            index = cursor;
            out.push_str("\"\"");
        } else if here == '"' {
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\\' {
                    index += 1;
                }
                index += 1;
            }
            index += 1;
            out.push_str("\"\"");
        } else if here == '\'' && next == Some('\\') {
            // Skip the escaped character too: `'\''` holds a quote.
            index += 3;
            while index < chars.len() && chars[index] != '\'' {
                index += 1;
            }
            index += 1;
            out.push_str("' '");
        } else if here == '\'' && chars.get(index + 2) == Some(&'\'') {
            index += 3;
            out.push_str("' '");
        } else {
            out.push(here);
            index += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], index: usize) -> bool {
    index > 0 && (chars[index - 1].is_alphanumeric() || chars[index - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `ident(::ident)*` at `start`, stopping before `{` or `*`.
fn read_path(code: &[char], start: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut index = start;
    loop {
        let begin = index;
        while index < code.len() && is_ident(code[index]) {
            index += 1;
        }
        if begin == index {
            break;
        }
        segments.push(code[begin..index].iter().collect());
        if code.get(index) == Some(&':') && code.get(index + 1) == Some(&':') {
            index += 2;
        } else {
            break;
        }
    }
    (segments, index)
}

/// The first paths inside a `{ … }` use group starting at `open`.
fn group_paths(code: &[char], open: usize) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut depth = 0;
    let mut index = open;
    let mut item_start = true;
    while index < code.len() {
        let c = code[index];
        if c == '{' {
            depth += 1;
            item_start = depth == 1;
        } else if c == '}' {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if c == ',' && depth == 1 {
            item_start = true;
        } else if depth == 1 && item_start && is_ident(c) {
            let (path, end) = read_path(code, index);
            paths.push(path);
            index = end;
            item_start = false;
            continue;
        }
        index += 1;
    }
    paths
}

/// Every module path named from `file` (its module path is `own`), as
/// absolute paths from the crate root; `from_super` marks paths reached
/// through `super::` (which may name items of an inline test module).
fn referenced_paths(code: &str, own: &[String]) -> Vec<(Vec<String>, bool)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let rest_starts = |word: &str| {
            word.chars()
                .enumerate()
                .all(|(offset, c)| chars.get(index + offset) == Some(&c))
        };
        let at_word = !ident_before(&chars, index);
        if at_word && rest_starts("crate::") {
            let start = index + "crate::".len();
            if chars.get(start) == Some(&'{') {
                for path in group_paths(&chars, start) {
                    found.push((path, false));
                }
            } else {
                let (path, _) = read_path(&chars, start);
                found.push((path, false));
            }
            index = start;
        } else if at_word && rest_starts("super::") {
            let mut base: Vec<String> = own.to_vec();
            let mut cursor = index;
            while chars[cursor..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                base.pop();
                cursor += "super::".len();
            }
            let tails = if chars.get(cursor) == Some(&'{') {
                group_paths(&chars, cursor)
            } else {
                vec![read_path(&chars, cursor).0]
            };
            for tail in tails {
                if tail.first().is_some_and(|segment| segment != "self") {
                    let mut path = base.clone();
                    path.extend(tail);
                    found.push((path, true));
                }
            }
            index = cursor;
        } else {
            index += 1;
        }
    }
    found
}

#[test]
fn every_import_runs_down_the_layer_table() {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut violations = BTreeSet::new();
    for relative in &files {
        let own = module_path(relative);
        let Some(own_unit) = unit_of(&own) else {
            continue; // lib.rs: declares the modules
        };
        let Some(own_rank) = rank(&own_unit) else {
            violations.insert(format!(
                "{}: module {own_unit} is not in the layer table (tests/layers.rs, lib.rs, README.md)",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(source_root().join(relative)).expect("read");
        for (path, from_super) in referenced_paths(&code_only(&text), &own) {
            let Some(target_unit) = unit_of(&path) else {
                continue;
            };
            if target_unit == own_unit {
                continue;
            }
            match rank(&target_unit) {
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
    assert!(
        violations.is_empty(),
        "imports against the layer table:\n{}",
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn requests_are_authorized_only_in_route() {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
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
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
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
