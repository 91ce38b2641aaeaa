//! `[catalog]`: how the caller's tools are disclosed — `find_tools` (ranked
//! search over the caller's own tools) and the `search` disclosure, where
//! `tools/list` answers only `find_tools` and `call_tool` (and, with
//! `add_found_tools`, the tools a session found).

use serde::Deserialize;

/// `[catalog]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// Offer the gateway tool `find_tools` (default false; on with
    /// `disclosure = "search"`).
    pub find_tools: Option<bool>,
    /// `"all"` (default): `tools/list` lists every tool the caller may
    /// call; `"search"`: only `find_tools` and `call_tool`.
    pub disclosure: Option<String>,
    /// Under the search disclosure, add the tools a handshake-era session
    /// found to its `tools/list` (default false).
    pub add_found_tools: Option<bool>,
}

/// What `tools/list` discloses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Disclosure {
    /// Every tool the caller may call.
    #[default]
    All,
    /// Only `find_tools` and `call_tool`.
    Search,
}

/// The validated `[catalog]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogConfig {
    pub find_tools: bool,
    pub disclosure: Disclosure,
    pub add_found_tools: bool,
}

// === impl CatalogConfig ===

impl CatalogConfig {
    /// True when the gateway offers its own tools (`find_tools`, and
    /// `call_tool` under the search disclosure).
    pub fn searches(&self) -> bool {
        self.find_tools
    }
}

pub(super) fn validate_catalog(raw: RawCatalog, errors: &mut Vec<String>) -> CatalogConfig {
    let disclosure = match raw.disclosure.as_deref() {
        None | Some("all") => Disclosure::All,
        Some("search") => Disclosure::Search,
        Some(other) => {
            errors.push(format!(
                "catalog.disclosure: {other:?} is not \"all\" or \"search\""
            ));
            Disclosure::All
        }
    };
    if disclosure == Disclosure::Search && raw.find_tools == Some(false) {
        errors.push(
            "catalog.find_tools: false, but catalog.disclosure = \"search\" lists only find_tools and call_tool"
                .into(),
        );
    }
    let add_found_tools = raw.add_found_tools.unwrap_or(false);
    if add_found_tools && disclosure != Disclosure::Search {
        errors.push(
            "catalog.add_found_tools: true needs catalog.disclosure = \"search\" (otherwise tools/list lists every tool already)"
                .into(),
        );
    }
    CatalogConfig {
        find_tools: raw.find_tools.unwrap_or(false) || disclosure == Disclosure::Search,
        disclosure,
        add_found_tools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(
        find_tools: Option<bool>,
        disclosure: Option<&str>,
    ) -> Result<CatalogConfig, Vec<String>> {
        adding(find_tools, disclosure, None)
    }

    fn adding(
        find_tools: Option<bool>,
        disclosure: Option<&str>,
        add_found_tools: Option<bool>,
    ) -> Result<CatalogConfig, Vec<String>> {
        let mut errors = Vec::new();
        let config = validate_catalog(
            RawCatalog {
                find_tools,
                disclosure: disclosure.map(str::to_owned),
                add_found_tools,
            },
            &mut errors,
        );
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn search_disclosure_turns_find_tools_on_and_errors_name_the_key() {
        assert_eq!(validated(None, None), Ok(CatalogConfig::default()));
        let search = validated(None, Some("search")).expect("valid");
        assert!(search.find_tools && search.disclosure == Disclosure::Search);
        assert!(validated(Some(true), None).expect("valid").find_tools);
        let unknown = validated(None, Some("some")).expect_err("invalid");
        assert!(unknown[0].starts_with("catalog.disclosure:"), "{unknown:?}");
        let conflict = validated(Some(false), Some("search")).expect_err("invalid");
        assert!(
            conflict[0].starts_with("catalog.find_tools:"),
            "{conflict:?}"
        );
    }

    #[test]
    fn found_tools_are_added_only_under_the_search_disclosure() {
        let added = adding(None, Some("search"), Some(true)).expect("valid");
        assert!(added.add_found_tools);
        let refused = adding(Some(true), None, Some(true)).expect_err("invalid");
        assert!(
            refused[0].starts_with("catalog.add_found_tools:"),
            "{refused:?}"
        );
        assert!(
            !adding(None, Some("search"), None)
                .expect("valid")
                .add_found_tools
        );
    }
}
