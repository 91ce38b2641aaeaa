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

/// Runs every query of `queries` (named) against a small real index on a
/// thread with the service's stack; `Err` names the first that failed
/// otherwise than with a clear query error. Panics if the thread dies.
fn run_on_service_stack(queries: Vec<(String, String)>) -> Result<(), String> {
    std::thread::Builder::new()
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
            for (name, query) in &queries {
                match index.query(query, &[], &[], 0, 10) {
                    Ok(_) | Err(SearchError::Query(_) | SearchError::InvalidArgument(_)) => {}
                    Err(other) => return Err(format!("{name}: {other}")),
                }
            }
            Ok(())
        })
        .expect("thread")
        .join()
        .expect("the parsing thread died")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_query_gets_hits_or_a_clear_error(queries in prop::collection::vec(soup(), 8)) {
        let named = queries.into_iter().map(|query| (format!("{query:?}"), query)).collect();
        prop_assert_eq!(run_on_service_stack(named), Ok(()));
    }
}

#[test]
fn the_corpus_replays_to_hits_or_clear_errors() {
    let queries = micromcp_sdk::fuzz_corpus("search_query")
        .into_iter()
        .map(|(name, bytes)| {
            (
                format!("search_query/{name}"),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect();
    assert_eq!(run_on_service_stack(queries), Ok(()));
}
