//! Bounds on a query's shape, checked before tantivy's parser sees it: the
//! parser is recursive, and a few kilobytes of nested parentheses overflow
//! the stack of the thread parsing them, aborting the whole service for
//! every client. Too long or too deeply nested queries are refused with a
//! clear invalid-argument error instead.

use crate::SearchError;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Deepest nesting of parentheses accepted.
pub const MAX_QUERY_NESTING: usize = 32;

/// Refuses a query the parser must not see.
pub fn check_query_shape(query: &str) -> Result<(), SearchError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(SearchError::Query(format!(
            "query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
            query.len()
        )));
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_phrase = false;
    let mut escaped = false;
    for byte in query.bytes() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => in_phrase = !in_phrase,
            b'(' if !in_phrase => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' if !in_phrase => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_QUERY_NESTING {
        return Err(SearchError::Query(format!(
            "query nests parentheses {deepest} deep; at most {MAX_QUERY_NESTING} are accepted"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_long_queries_are_refused_before_parsing() {
        assert!(check_query_shape("rust AND (tokio OR (tower -hyper))").is_ok());
        let nested = format!("{}a{}", "(".repeat(3000), ")".repeat(3000));
        let error = check_query_shape(&nested).expect_err("too long");
        assert!(error.to_string().contains("at most 2048"), "{error}");
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        let error = check_query_shape(&deep).expect_err("too deep");
        assert!(error.to_string().contains("40 deep"), "{error}");
        let quoted = format!("\"{}\"", "(".repeat(100));
        assert!(check_query_shape(&quoted).is_ok());
        let edge = format!("{}a{}", "(".repeat(32), ")".repeat(32));
        assert!(check_query_shape(&edge).is_ok());
    }
}
