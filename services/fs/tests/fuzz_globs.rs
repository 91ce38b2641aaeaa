//! Property-based fuzzing of `fs.search_files` patterns: glob soup (braces,
//! classes, negation, escapes, separators) through the real service over a
//! real directory. Every pattern must come back as matches or an
//! `invalid glob` tool error — before, deeply nested braces panicked inside
//! globset and came back as an internal error.

use micromcp_fs::{FsConfig, FsService};
use proptest::prelude::*;

fn glob_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "{", "}", ",", "[", "]", "!", "^", "*", "**", "?", "/", "a", "b", ".rs", "\\", "-", "{a,",
        "[!a-z]",
    ]);
    prop::collection::vec(tokens, 0..600).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_pattern_gets_matches_or_an_invalid_glob_error(patterns in prop::collection::vec(glob_soup(), 8)) {
        let root = tempfile::tempdir().expect("root");
        std::fs::create_dir_all(root.path().join("sub")).expect("dir");
        std::fs::write(root.path().join("sub/a.rs"), "fn main() {}\n").expect("write");
        let service = FsService::new(FsConfig::with_roots(vec![root.path().to_path_buf()])).expect("service");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        for pattern in patterns {
            let outcome = runtime.block_on(micromcp_sdk::call_tool_json(
                &service,
                "search_files",
                &serde_json::json!({"pattern": pattern}),
            ));
            let result = outcome.map_err(|error| format!("{pattern:?}: {error}"));
            prop_assert!(result.is_ok(), "{:?}", result);
            let value = result.expect("checked");
            if value["isError"] == true {
                let text = value["content"][0]["text"].as_str().unwrap_or_default();
                prop_assert!(text.starts_with("invalid glob: "), "{pattern:?}: {text}");
            }
        }
    }
}

#[test]
fn the_corpus_replays_to_matches_or_invalid_glob_errors() {
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("a.rs"), "fn main() {}\n").expect("write");
    let service =
        FsService::new(FsConfig::with_roots(vec![root.path().to_path_buf()])).expect("service");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, pattern) in micromcp_sdk::fuzz_corpus("glob") {
        let pattern = String::from_utf8_lossy(&pattern).into_owned();
        let value = runtime
            .block_on(micromcp_sdk::call_tool_json(
                &service,
                "search_files",
                &serde_json::json!({"pattern": pattern}),
            ))
            .unwrap_or_else(|error| panic!("glob/{name}: {error}"));
        if value["isError"] == true {
            let text = value["content"][0]["text"].as_str().unwrap_or_default();
            assert!(text.starts_with("invalid glob: "), "glob/{name}: {text}");
        }
    }
}
