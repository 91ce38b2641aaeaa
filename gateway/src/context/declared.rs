//! `Declared`: the client capabilities the gateway acts on (elicitation,
//! sampling, roots, the tasks extension), read once per request from the
//! client's raw capabilities JSON into the call context — not parsed again
//! by each layer that asks.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::wire::protocol::TASKS_EXTENSION;

/// What a client declared, among the capabilities the gateway acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub elicitation: bool,
    pub sampling: bool,
    pub roots: bool,
    /// The tasks extension (`extensions["io.modelcontextprotocol/tasks"]`).
    pub tasks: bool,
}

/// The part of a capabilities object read here (any other key skipped).
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(default, deserialize_with = "present")]
    elicitation: bool,
    #[serde(default, deserialize_with = "present")]
    sampling: bool,
    #[serde(default, deserialize_with = "present")]
    roots: bool,
    #[serde(default, borrow)]
    extensions: Option<HashMap<Cow<'a, str>, IgnoredAny>>,
}

/// A key that is there counts, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

// === impl Declared ===

impl Declared {
    /// Reads `raw` (a JSON object); nothing is declared when it is not one.
    pub fn parse(raw: &str) -> Self {
        // The common cases, no capabilities or none the gateway acts on,
        // are decided without a parse.
        if !["elicitation", "sampling", "roots", "extensions"]
            .iter()
            .any(|name| raw.contains(name))
        {
            return Self::default();
        }
        serde_json::from_str::<Shape<'_>>(raw).map_or_else(
            |_| Self::default(),
            |shape| Self {
                elicitation: shape.elicitation,
                sampling: shape.sampling,
                roots: shape.roots,
                tasks: shape
                    .extensions
                    .is_some_and(|extensions| extensions.contains_key(TASKS_EXTENSION)),
            },
        )
    }

    /// True when the client declared `capability` (`elicitation`,
    /// `sampling` or `roots`; anything else is not declared).
    pub fn has(&self, capability: &str) -> bool {
        match capability {
            "elicitation" => self.elicitation,
            "sampling" => self.sampling,
            "roots" => self.roots,
            _ => false,
        }
    }

    /// True when the client can be asked for input at all.
    pub fn takes_input(&self) -> bool {
        self.elicitation || self.sampling || self.roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_capabilities_declare_nothing() {
        assert_eq!(Declared::parse("{}"), Declared::default());
        assert_eq!(Declared::parse(""), Declared::default());
        assert_eq!(Declared::parse("not json, roots"), Declared::default());
    }

    #[test]
    fn each_capability_is_read_as_the_json_says() {
        let declared = Declared::parse(
            r#"{"roots":{"listChanged":true},"sampling":null,"experimental":{"elicitation":{}},
                "extensions":{"io.modelcontextprotocol/tasks":{}}}"#,
        );
        assert_eq!(
            declared,
            Declared {
                elicitation: false,
                sampling: true,
                roots: true,
                tasks: true,
            }
        );
        assert!(declared.has("roots") && declared.has("sampling"));
        assert!(!declared.has("elicitation") && !declared.has("tasks"));
        assert!(declared.takes_input());
    }

    #[test]
    fn the_tasks_extension_is_found_under_extensions_only() {
        let declared = Declared::parse(r#"{"io.modelcontextprotocol/tasks":{},"extensions":{}}"#);
        assert!(!declared.tasks);
        let escaped = Declared::parse(r#"{"extensions":{"io.modelcontextprotocol\/tasks":{}}}"#);
        assert!(escaped.tasks);
    }
}
