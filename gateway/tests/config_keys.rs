//! Every key the config parser accepts is documented in
//! `docs/configuration.md`, and every key documented there is accepted.
//!
//! The keys are not listed by hand: they are read out of the parser itself.
//! `RawConfig`'s `Deserialize` is run against a deserializer that answers
//! each struct with all of its fields (serde hands every derived struct's
//! field list to `deserialize_struct`), each array with one element and
//! each table of user-chosen names with one entry named `*`, so the walk
//! reaches every nested table (`services.backends`, `mcp_servers.*.
//! principalTokens`). A field added to any `Raw*` struct is a new key here;
//! the test then fails until `docs/configuration.md` has a row for it.

use std::cell::RefCell;
use std::collections::BTreeSet;

use micromcp_gateway::config::RawConfig;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A failed walk (a type the walker cannot answer).
#[derive(Debug)]
struct WalkError(String);

impl std::fmt::Display for WalkError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for WalkError {}

impl de::Error for WalkError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

/// What one walk found, and what it must not offer again.
#[derive(Default)]
struct Walk {
    /// Every key path seen (aliases too: serde lists them with the fields).
    keys: BTreeSet<String>,
    /// Key paths recorded but not offered to the struct: the alias of a
    /// field already offered (offering both is a duplicate field).
    skip: BTreeSet<String>,
    /// The key path offered last (the one a duplicate-field error is about).
    last: String,
}

/// Answers one value at `path`, recording the path of every struct field.
struct KeyWalker<'a> {
    path: String,
    walk: &'a RefCell<Walk>,
}

impl KeyWalker<'_> {
    fn child(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        Self {
            path,
            walk: self.walk,
        }
    }
}

macro_rules! answer_with {
    ($($method:ident => $visit:ident($value:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
            visitor.$visit($value)
        })*
    };
}

impl<'de> Deserializer<'de> for KeyWalker<'_> {
    type Error = WalkError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, WalkError> {
        Err(WalkError(format!(
            "{}: a value of no fixed type; teach tests/config_keys.rs its shape",
            self.path
        )))
    }

    answer_with! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('a'),
        deserialize_str => visit_str("a"),
        deserialize_string => visit_str("a"),
        deserialize_bytes => visit_bytes(b"a"),
        deserialize_byte_buf => visit_bytes(b"a"),
        deserialize_identifier => visit_str("a"),
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_seq(OneElement { walker: Some(self) })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_map(Fields {
            walker: self,
            names: vec!["*"],
            record: false,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        let mut names = Vec::new();
        {
            let mut walk = self.walk.borrow_mut();
            for field in fields {
                let path = self.child(field).path;
                walk.keys.insert(path.clone());
                if !walk.skip.contains(&path) {
                    names.push(*field);
                }
            }
        }
        names.reverse();
        visitor.visit_map(Fields {
            walker: self,
            names,
            record: true,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.deserialize_any(visitor)
    }
}

/// A struct's fields (or a map's one `*` entry), each answered by a walker.
struct Fields<'a> {
    walker: KeyWalker<'a>,
    /// Still to offer, last first.
    names: Vec<&'static str>,
    /// Struct fields are keys; a map's `*` is a name the operator chooses.
    record: bool,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, WalkError> {
        let Some(name) = self.names.last() else {
            return Ok(None);
        };
        if self.record {
            self.walker.walk.borrow_mut().last = self.walker.child(name).path;
        }
        seed.deserialize(de::value::BorrowedStrDeserializer::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, WalkError> {
        let name = self
            .names
            .pop()
            .ok_or_else(|| WalkError("a value asked for after the last key".into()))?;
        seed.deserialize(self.walker.child(name))
    }
}

/// An array answered with one element at the array's own path.
struct OneElement<'a> {
    walker: Option<KeyWalker<'a>>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = WalkError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, WalkError> {
        match self.walker.take() {
            Some(walker) => seed.deserialize(walker).map(Some),
            None => Ok(None),
        }
    }
}

/// Every key path `RawConfig` accepts (`gateway.listen`, `services.name`,
/// `mcp_servers.*.command`).
fn accepted_keys() -> BTreeSet<String> {
    let walk = RefCell::new(Walk::default());
    // An alias offered beside its field is a duplicate field: it is then
    // recorded but not offered, and the walk starts again (a few times at
    // most: once per alias).
    for _ in 0..100 {
        let walker = KeyWalker {
            path: String::new(),
            walk: &walk,
        };
        match RawConfig::deserialize(walker) {
            Ok(_) => return walk.into_inner().keys,
            Err(error) if error.0.starts_with("duplicate field") => {
                let mut walk = walk.borrow_mut();
                let last = walk.last.clone();
                assert!(walk.skip.insert(last.clone()), "{last}: {error}");
            }
            Err(error) => panic!("walking RawConfig's keys failed: {error}"),
        }
    }
    panic!("walking RawConfig's keys did not end")
}

/// The keys named in the first column of `docs/configuration.md`'s key
/// table: rows that start with ``| `key` |``.
fn documented_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(key, _)| key.to_owned())
        .collect()
}

fn configuration_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn the_walk_reaches_nested_tables_of_every_kind() {
    let keys = accepted_keys();
    for key in [
        "version",
        "gateway.listen",
        "gateway.tls.cert_file",
        "services.name",
        "services.backends.max_concurrent_calls",
        "services.token_exchange.token_endpoint",
        "auth.tokens.sha256",
        "auth.issuers.jwks_uri",
        "mcp_servers.*.command",
        "mcp_servers.*.principalTokens.file",
        "mcp_servers.*.tokenExchange.audience",
    ] {
        assert!(keys.contains(key), "{key} not found; walked: {keys:#?}");
    }
    assert!(keys.len() > 120, "only {} keys walked", keys.len());
}

#[test]
fn every_key_the_parser_accepts_is_documented() {
    let documented: BTreeSet<String> = documented_keys(&configuration_doc()).into_iter().collect();
    let missing: Vec<String> = accepted_keys()
        .into_iter()
        .filter(|key| !documented.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "config keys the parser accepts but docs/configuration.md does not document \
         (add a row ``| `key` | what it does |`` to its key table): {missing:#?}"
    );
}

#[test]
fn every_documented_key_is_accepted_and_listed_once() {
    let accepted = accepted_keys();
    let documented = documented_keys(&configuration_doc());
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|key| !accepted.contains(*key))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys the parser refuses: {unknown:#?}"
    );
    let mut seen = BTreeSet::new();
    let twice: Vec<&String> = documented
        .iter()
        .filter(|key| !seen.insert(key.as_str()))
        .collect();
    assert!(twice.is_empty(), "documented twice: {twice:#?}");
}

#[test]
fn the_key_table_parser_reads_rows_and_nothing_else() {
    let text = "intro `gateway.listen` in prose\n| key | what |\n|---|---|\n\
                | `gateway.listen` | where |\n| `services.name` | its name |\n";
    assert_eq!(
        documented_keys(text),
        vec!["gateway.listen".to_owned(), "services.name".to_owned()]
    );
}
