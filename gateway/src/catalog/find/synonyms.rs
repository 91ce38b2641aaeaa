//! Query words widened by general software synonyms (`folder` also looks
//! for `directory`, `remove` for `delete`, `pr` for `pull request`): a
//! short fixed thesaurus of the words tool definitions use for the same
//! action or object, applied to queries only, each synonym weighing less
//! than the word the caller wrote. The pairs are general vocabulary of
//! tool names (file systems, version control, the web, CRUD verbs), not
//! chosen for particular queries.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Weight of a synonym against a word of the query (1).
pub(super) const SYNONYM_WEIGHT: f32 = 0.5;

/// Each word and the words it also looks for (before stemming).
const THESAURUS: &[(&str, &[&str])] = &[
    ("folder", &["directory"]),
    ("directory", &["folder"]),
    ("dir", &["directory"]),
    ("remove", &["delete"]),
    ("erase", &["delete"]),
    ("delete", &["remove"]),
    ("picture", &["image"]),
    ("photo", &["image"]),
    ("image", &["picture"]),
    ("pr", &["pull", "request"]),
    ("bug", &["issue"]),
    ("ticket", &["issue"]),
    ("rename", &["move"]),
    ("download", &["fetch", "get"]),
    ("modify", &["update", "edit"]),
    ("change", &["update", "edit"]),
    ("edit", &["update"]),
    ("launch", &["start", "run"]),
    ("execute", &["run"]),
    ("run", &["execute"]),
    ("find", &["search"]),
    ("look", &["search"]),
    ("search", &["find"]),
    ("website", &["page", "web", "site"]),
    ("webpage", &["page", "web"]),
    ("site", &["web"]),
    ("link", &["url"]),
    ("url", &["link"]),
    ("kill", &["terminate", "stop"]),
    ("terminate", &["kill", "stop"]),
    ("repo", &["repository"]),
    ("make", &["create"]),
    ("new", &["create"]),
    ("info", &["information", "details"]),
    ("details", &["info"]),
];

/// The analyzed synonyms of the analyzed query word `term`.
pub(super) fn synonyms_of(term: &str) -> &'static [String] {
    static STEMMED: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let stemmed = STEMMED.get_or_init(|| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (word, synonyms) in THESAURUS {
            let entry = map.entry(analyzed(word)).or_default();
            for synonym in *synonyms {
                let synonym = analyzed(synonym);
                if !entry.contains(&synonym) {
                    entry.push(synonym);
                }
            }
        }
        map
    });
    stemmed.get(term).map_or(&[], Vec::as_slice)
}

/// `word` through the index's analyzer (lowercased, stemmed).
fn analyzed(word: &str) -> String {
    let mut analyzer = super::terms::analyzer();
    let mut stream = analyzer.token_stream(word);
    let mut out = String::new();
    while let Some(token) = stream.next() {
        out.push_str(&token.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_are_looked_up_and_given_stemmed() {
        assert_eq!(synonyms_of("folder"), ["directori"]);
        assert_eq!(synonyms_of("pr"), ["pull", "request"]);
        assert!(synonyms_of("zzqx").is_empty());
    }
}
