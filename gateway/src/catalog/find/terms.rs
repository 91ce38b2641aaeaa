//! The words of tool definitions and of queries: names split on `.`, `_`,
//! `-` and camelCase, then one analyzer (unicode words, lowercased,
//! English stems) for the index and the queries alike. A query is plain
//! words, never tantivy query syntax: quotes, `AND`, `field:`, `*` and
//! brackets are just separators or words.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

use crate::error::GatewayError;

/// The analyzer's name in the index.
pub(super) const ANALYZER: &str = "tool_words";

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;

/// Distinct words of a query used at most (the rest are ignored).
pub const MAX_QUERY_TERMS: usize = 32;

/// The analyzer of every text field and of queries.
pub(super) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// `text` with identifier parts apart: `fs.readFile_v2-x` → `fs read File v2 x`.
pub(super) fn split_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous: Option<char> = None;
    for character in text.chars() {
        if matches!(character, '.' | '_' | '-' | '/') {
            out.push(' ');
            previous = None;
            continue;
        }
        if let Some(before) = previous
            && character.is_uppercase()
            && (before.is_lowercase() || before.is_ascii_digit())
        {
            out.push(' ');
        }
        out.push(character);
        previous = Some(character);
    }
    out
}

/// The analyzed, distinct words of `query`, in order; a user error when
/// it is too long or holds no word.
pub fn query_terms(query: &str) -> Result<Vec<String>, GatewayError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(GatewayError::InvalidParams(format!(
            "find_tools: query is {} bytes; at most {MAX_QUERY_BYTES}",
            query.len()
        )));
    }
    let mut terms: Vec<String> = Vec::new();
    let mut analyzer = analyzer();
    let split = split_words(query);
    let mut stream = analyzer.token_stream(&split);
    while let Some(token) = stream.next() {
        if terms.len() >= MAX_QUERY_TERMS {
            break;
        }
        if !terms.contains(&token.text) {
            terms.push(token.text.clone());
        }
    }
    if terms.is_empty() {
        return Err(GatewayError::InvalidParams(
            "find_tools: query holds no words to search for".into(),
        ));
    }
    Ok(terms)
}
