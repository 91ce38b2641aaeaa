//! Crawled documents carry the authorization of their source. A document
//! the crawl indexed from the files of service `fs` is tagged `source:fs`;
//! when the gateway says which services' content the caller may read
//! (`readable_sources_opt`), documents of any other source are invisible to
//! that caller — in queries, similarity and hybrid search and as
//! `search://doc/…` resources — so content a principal may not read through
//! fs is not readable through search either. Crawled documents mirror their
//! source and cannot be overwritten or deleted through the tools; the
//! `source:` tag prefix is reserved for them (a crawl that mirrors no
//! service tags `source:files`).

use crate::freshness::STAMP_TAG_PREFIX;
use crate::{IndexedDocument, SearchError};

/// Tags starting with this name a document's source service.
pub const SOURCE_TAG_PREFIX: &str = "source:";

/// The source of a crawl that mirrors no service (`source:files`).
pub const UNNAMED_SOURCE: &str = "files";

/// The tag of documents crawled from `source`.
pub fn source_tag(source: &str) -> String {
    format!("{SOURCE_TAG_PREFIX}{source}")
}

/// Source tags whose documents the caller may not see: the crawl's source
/// when the gateway limited the caller to sources that exclude it.
pub fn hidden_tags(
    crawl_source_opt: Option<&str>,
    readable_sources_opt: Option<&[String]>,
) -> Vec<String> {
    match (crawl_source_opt, readable_sources_opt) {
        (Some(source), Some(readable)) if !readable.iter().any(|name| name == source) => {
            vec![source_tag(source)]
        }
        _ => Vec::new(),
    }
}

/// True when `document` carries one of the `hidden` tags.
pub fn is_hidden(document: &IndexedDocument, hidden: &[String]) -> bool {
    document.tags.iter().any(|tag| hidden.contains(tag))
}

/// The source a crawled document mirrors, if it is one.
pub fn mirrored_source(document: &IndexedDocument) -> Option<&str> {
    document
        .tags
        .iter()
        .find_map(|tag| tag.strip_prefix(SOURCE_TAG_PREFIX))
}

/// Refuses documents that would pass for a crawled file: `file://` ids
/// and urls are the crawl's (they name served files, and the id of a
/// look-alike — a trailing space, a case change — would sit beside the
/// real one for every reader), and ids with surrounding blanks or control
/// characters.
pub fn refuse_look_alikes(documents: &[IndexedDocument]) -> Result<(), SearchError> {
    for document in documents {
        let id = &document.id;
        let crawl_scheme = |text: &str| {
            text.trim_start()
                .get(..7)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://"))
        };
        if crawl_scheme(id) || crawl_scheme(&document.url) {
            return Err(SearchError::InvalidArgument(format!(
                "document {id:?}: ids and urls under file:// are the crawled files' own; index under another scheme or a plain id"
            )));
        }
        if id.trim() != id || id.chars().any(char::is_control) {
            return Err(SearchError::InvalidArgument(format!(
                "document {id:?}: an id has no surrounding blanks or control characters"
            )));
        }
    }
    Ok(())
}

/// Refuses documents that claim a source themselves.
pub fn refuse_reserved_tags(documents: &[IndexedDocument]) -> Result<(), SearchError> {
    for document in documents {
        if let Some(tag) = document
            .tags
            .iter()
            .find(|tag| tag.starts_with(SOURCE_TAG_PREFIX) || tag.starts_with(STAMP_TAG_PREFIX))
        {
            return Err(SearchError::InvalidArgument(format!(
                "document {}: tag {tag:?} is reserved (tags starting with {SOURCE_TAG_PREFIX:?} or {STAMP_TAG_PREFIX:?} mark crawled documents)",
                document.id
            )));
        }
    }
    Ok(())
}

/// The error for changing a crawled document through the tools.
pub fn mirrored_error(id: &str, source: &str) -> SearchError {
    SearchError::InvalidArgument(format!(
        "document {id} mirrors a file of {source} (crawled) and cannot be changed through search; change the file instead"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_of_crawled_files_are_refused() {
        let with = |id: &str, url: &str| IndexedDocument {
            id: id.into(),
            url: url.into(),
            ..document(&[])
        };
        for (id, url) in [
            ("file:///r/hello.txt ", ""),
            ("FILE:///r/hello.txt", ""),
            ("note-1", "file:///r/hello.txt"),
            (" note-1", ""),
            ("note\u{7}1", ""),
        ] {
            assert!(
                refuse_look_alikes(&[with(id, url)]).is_err(),
                "{id:?} {url:?}"
            );
        }
        assert!(refuse_look_alikes(&[with("note-1", "https://example.com/n/1")]).is_ok());
    }

    fn document(tags: &[&str]) -> IndexedDocument {
        IndexedDocument {
            id: "file:///r/a.txt".into(),
            title: "a".into(),
            body: "b".into(),
            url: String::new(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            vector: None,
        }
    }

    #[test]
    fn crawled_documents_follow_their_source() {
        let readable = vec!["fetch".to_owned()];
        assert_eq!(hidden_tags(Some("fs"), Some(&readable)), vec!["source:fs"]);
        let with_fs = vec!["fs".to_owned()];
        assert!(hidden_tags(Some("fs"), Some(&with_fs)).is_empty());
        assert!(hidden_tags(Some("fs"), None).is_empty(), "no limit sent");
        assert!(hidden_tags(None, Some(&readable)).is_empty(), "no crawl");
        let crawled = document(&["file", "source:fs"]);
        assert!(is_hidden(&crawled, &["source:fs".to_owned()]));
        assert_eq!(mirrored_source(&crawled), Some("fs"));
        assert!(refuse_reserved_tags(&[crawled]).is_err());
        assert!(refuse_reserved_tags(&[document(&["stamp:1:2:3:4.5:6.7:racy"])]).is_err());
        assert!(refuse_reserved_tags(&[document(&["note"])]).is_ok());
    }
}
