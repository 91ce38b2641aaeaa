//! Property-based fuzzing of what a client controls before any backend sees
//! it: the JSON-RPC envelope and params head (arbitrary bytes, and nesting
//! far past what a recursive parser could take), sealed session ids, and
//! list cursors. Each must answer with a value or a clear error — never a
//! panic or a stack overflow. Bounded runs (a few thousand cases) in
//! `cargo test`; every file of the repository's corpora
//! (`fuzz/corpus/envelope`, `session_id`, `cursor`) is replayed too, and a
//! failing case found later belongs there as a file.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use micromcp_gateway::catalog::{ListKind, MergedCatalog, ServiceCatalog};
use micromcp_gateway::session::SessionCodec;
use micromcp_gateway::wire::jsonrpc::Envelope;
use micromcp_gateway::wire::protocol::ParamsHead;
use micromcp_proto::{Catalog, Tool};
use proptest::prelude::*;

/// JSON-ish text: pieces of envelopes in any order, nested deep.
fn jsonish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"jsonrpc\"",
        "\"2.0\"",
        "\"id\"",
        "\"method\"",
        "\"params\"",
        "\"tools/call\"",
        "\"_meta\"",
        "\"name\"",
        "\"arguments\"",
        "1",
        "-0.5e9",
        "null",
        "true",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"x\"",
        " ",
        "{\"a\":",
        "[[",
    ]);
    prop::collection::vec(pieces, 0..3000).prop_map(|pieces| pieces.concat())
}

fn parse_all_the_way(body: &[u8]) {
    if let Ok(envelope) = Envelope::parse(body) {
        let _ = envelope.kind();
        let _ = envelope.id_text();
        if let Ok(head) = ParamsHead::parse(envelope.params) {
            let _ = head.required_name();
            let _ = head.meta_protocol_version();
        }
    }
}

fn small_catalog() -> MergedCatalog {
    let tools = (0..30)
        .map(|index| Tool {
            name: format!("tool_{index}"),
            input_schema_json: Bytes::from_static(br#"{"type":"object"}"#),
            ..Tool::default()
        })
        .collect();
    let services = [ServiceCatalog {
        service: 0,
        service_name: "svc".into(),
        namespace: "svc".into(),
        catalog: Arc::new(Catalog {
            tools,
            ..Catalog::default()
        }),
    }];
    MergedCatalog::merge(&services, ".", &["svc"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn envelopes_of_arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_all_the_way(&body);
    }

    #[test]
    fn envelopes_of_jsonish_text_never_panic(text in jsonish()) {
        parse_all_the_way(text.as_bytes());
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{text}}}"#);
        parse_all_the_way(wrapped.as_bytes());
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed(depth in 0usize..20_000, opener in prop::sample::select(vec!["[", "{\"a\":"])) {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{}"#, opener.repeat(depth));
        parse_all_the_way(body.as_bytes());
    }

    #[test]
    fn session_ids_of_anything_never_open(id in ".{0,300}", base64ish in "[A-Za-z0-9_-]{0,5000}") {
        let codec = SessionCodec::new(&[9u8; 32], Duration::from_secs(60));
        prop_assert!(codec.open(&id, "alice").is_err());
        prop_assert!(codec.open(&base64ish, "alice").is_err());
    }

    #[test]
    fn cursors_of_anything_page_or_refuse(cursor in ".{0,200}", base64ish in "[A-Za-z0-9_-]{0,200}") {
        let catalog = small_catalog();
        for candidate in [&cursor, &base64ish] {
            if let Ok(page) = catalog.page(ListKind::Tools, Some(candidate), 10) {
                prop_assert!(page.items.len() <= catalog.page(ListKind::Tools, None, 30).expect("all").items.len());
            }
        }
    }
}

#[test]
fn the_corpora_replay_without_a_panic() {
    for (name, body) in micromcp_sdk::fuzz_corpus("envelope") {
        let parsed = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || parse_all_the_way(&body))
            .expect("thread")
            .join();
        assert!(parsed.is_ok(), "envelope/{name} crashed the parse");
    }
    let codec = SessionCodec::new(&[9u8; 32], Duration::from_secs(60));
    for (name, id) in micromcp_sdk::fuzz_corpus("session_id") {
        let id = String::from_utf8_lossy(&id);
        assert!(
            codec.open(&id, "alice").is_err(),
            "session_id/{name} opened"
        );
    }
    let catalog = small_catalog();
    for (name, cursor) in micromcp_sdk::fuzz_corpus("cursor") {
        let cursor = String::from_utf8_lossy(&cursor);
        if let Ok(page) = catalog.page(ListKind::Tools, Some(&cursor), 10) {
            assert!(page.items.len() <= 10, "cursor/{name}");
        }
    }
}
