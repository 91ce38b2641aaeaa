//! Property-based fuzzing of the search query path a client controls:
//! arbitrary query-language soup (parentheses, quotes, operators, fields,
//! ranges, boosts, escapes), run against a real index on a thread with the
//! stack size of the service's blocking pool. Every query must come back as
//! hits or a clear error — tantivy's parser is recursive, and before the
//! shape bounds a 6 KB query overflowed the stack and aborted the service.

use micromcp_search::{DocumentIndex, IndexedDocument, SearchError};
use proptest::prelude::*;

/// The stack of tokio's blocking threads, where the service parses.
const SERVICE_THREAD_STACK: usize = 2 * 1024 * 1024;

fn soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "(", ")", "\"", "a", "b", "rust", " AND ", " OR ", " NOT ", "+", "-", ":", "title:",
        "body:", "^2", "~1", "*", "[", "]", "{", "}", " TO ", "\\", " ", "'", "IN [a b]",
    ]);
    prop::collection::vec(tokens, 0..1500).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_query_gets_hits_or_a_clear_error(queries in prop::collection::vec(soup(), 8)) {
        let outcome = std::thread::Builder::new()
            .stack_size(SERVICE_THREAD_STACK)
            .spawn(move || {
                let dir = tempfile::tempdir().expect("dir");
                let index = DocumentIndex::open(dir.path(), 15_000_000).expect("index");
                index
                    .upsert(&[IndexedDocument {
                        id: "d1".into(),
                        title: "rust".into(),
                        body: "a b rust".into(),
                        ..IndexedDocument::default()
                    }])
                    .expect("upsert");
                for query in &queries {
                    match index.query(query, &[], &[], 0, 10) {
                        Ok(_) | Err(SearchError::Query(_) | SearchError::InvalidArgument(_)) => {}
                        Err(other) => return Err(format!("{query:?}: {other}")),
                    }
                }
                Ok(())
            })
            .expect("thread")
            .join();
        prop_assert!(outcome.is_ok(), "the parsing thread died");
        prop_assert_eq!(outcome.expect("joined"), Ok(()));
    }
}

#[test]
fn the_corpus_replays_to_hits_or_clear_errors() {
    let queries: Vec<(String, String)> = micromcp_sdk::fuzz_corpus("search_query")
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect();
    let outcome = std::thread::Builder::new()
        .stack_size(SERVICE_THREAD_STACK)
        .spawn(move || {
            let dir = tempfile::tempdir().expect("dir");
            let index = DocumentIndex::open(dir.path(), 15_000_000).expect("index");
            for (name, query) in &queries {
                match index.query(query, &[], &[], 0, 10) {
                    Ok(_) | Err(SearchError::Query(_) | SearchError::InvalidArgument(_)) => {}
                    Err(other) => return Err(format!("search_query/{name}: {other}")),
                }
            }
            Ok(())
        })
        .expect("thread")
        .join();
    assert_eq!(outcome.expect("the parsing thread died"), Ok(()));
}
