//! What one request does: a `tools/call` of a named tool with arguments,
//! `tools/list` or `resources/read` of a URI — alone or in a weighted mix
//! (`--mix "8*tools/call:echo,1*tools/list,1*resources/read:file:///x"`).
//! Builds each request's JSON-RPC body and era headers.

use bytes::Bytes;
use serde_json::Value;

use crate::Era;

/// One kind of request.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Call { tool: String, args: Value },
    List,
    Read { uri: String },
}

impl Operation {
    /// Parses `tools/call[:NAME]`, `tools/list` or `resources/read:URI`;
    /// a call without a name uses `default_tool`, and every call `args`.
    pub fn parse(text: &str, default_tool: &str, args: &Value) -> Result<Self, String> {
        let (method, target) = match text.split_once(':') {
            Some((method, target)) => (method, Some(target)),
            None => (text, None),
        };
        match (method, target) {
            ("tools/call", target) => Ok(Self::Call {
                tool: target.unwrap_or(default_tool).to_owned(),
                args: args.clone(),
            }),
            ("tools/list", None) => Ok(Self::List),
            ("resources/read", Some(uri)) if !uri.is_empty() => Ok(Self::Read {
                uri: uri.to_owned(),
            }),
            ("resources/read", _) => Err("resources/read needs a URI (resources/read:URI)".into()),
            _ => Err(format!(
                "unknown operation {text:?} (use tools/call[:NAME], tools/list or resources/read:URI)"
            )),
        }
    }

    /// The JSON-RPC method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Call { .. } => "tools/call",
            Self::List => "tools/list",
            Self::Read { .. } => "resources/read",
        }
    }

    /// The `Mcp-Name` header value (2026-07-28), if the method has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Call { tool, .. } => Some(tool),
            Self::List => None,
            Self::Read { uri } => Some(uri),
        }
    }

    /// A short label for reports.
    pub fn label(&self) -> String {
        match self.name() {
            Some(name) => format!("{} {name}", self.method()),
            None => self.method().to_owned(),
        }
    }

    /// The request body, prepared once; only the id changes per request.
    pub fn template(&self, era: Era) -> BodyTemplate {
        let mut params = match self {
            Self::Call { tool, args } => serde_json::json!({"name": tool, "arguments": args}),
            Self::List => serde_json::json!({}),
            Self::Read { uri } => serde_json::json!({"uri": uri}),
        };
        if era == Era::Modern {
            params["_meta"] = serde_json::json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        let rest = serde_json::json!({"jsonrpc": "2.0", "method": self.method(), "params": params});
        let rest = rest.to_string();
        BodyTemplate {
            tail: format!(",{}", &rest[1..]),
        }
    }
}

/// A request body with its id left open.
#[derive(Debug, Clone)]
pub struct BodyTemplate {
    /// Everything after the id: `,"jsonrpc":...}`.
    tail: String,
}

impl BodyTemplate {
    /// The body with JSON-RPC id `id`.
    pub fn body(&self, id: u64) -> Bytes {
        let mut text = String::with_capacity(self.tail.len() + 28);
        text.push_str("{\"id\":");
        text.push_str(&id.to_string());
        text.push_str(&self.tail);
        Bytes::from(text)
    }
}

/// Operations with integer weights; picks one per request.
#[derive(Debug, Clone)]
pub struct Mix {
    entries: Vec<(u32, Operation)>,
    total: u32,
}

impl Mix {
    /// One operation, always.
    pub fn single(operation: Operation) -> Self {
        Self {
            entries: vec![(1, operation)],
            total: 1,
        }
    }

    /// Parses `WEIGHT*OPERATION,...` (weight defaults to 1).
    pub fn parse(text: &str, default_tool: &str, args: &Value) -> Result<Self, String> {
        let mut entries = Vec::new();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (weight, operation) = match part.split_once('*') {
                Some((weight, operation)) => (
                    weight
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| format!("bad weight in {part:?}"))?,
                    operation.trim(),
                ),
                None => (1, part),
            };
            if weight == 0 {
                return Err(format!("weight 0 in {part:?}"));
            }
            entries.push((weight, Operation::parse(operation, default_tool, args)?));
        }
        if entries.is_empty() {
            return Err("--mix names no operation".into());
        }
        let total = entries.iter().map(|(weight, _)| weight).sum();
        Ok(Self { entries, total })
    }

    /// The operations, in order.
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.entries.iter().map(|(_, operation)| operation)
    }

    /// The operation for a uniformly random `draw`, by weight; returns its index.
    pub fn pick(&self, draw: u64) -> usize {
        let mut ticket = (draw % u64::from(self.total)) as u32;
        for (index, (weight, _)) in self.entries.iter().enumerate() {
            if ticket < *weight {
                return index;
            }
            ticket -= weight;
        }
        self.entries.len() - 1
    }

    /// The operation at `index`.
    pub fn get(&self, index: usize) -> &Operation {
        &self.entries[index].1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_with_weights_and_defaults() {
        let args = serde_json::json!({"text": "hi"});
        let mix = Mix::parse(
            "8*tools/call:echo, tools/list ,2*resources/read:file:///a:b",
            "x",
            &args,
        )
        .expect("mix");
        let operations: Vec<_> = mix.operations().cloned().collect();
        assert_eq!(
            operations,
            vec![
                Operation::Call {
                    tool: "echo".into(),
                    args: args.clone()
                },
                Operation::List,
                Operation::Read {
                    uri: "file:///a:b".into()
                },
            ]
        );
        let picks: Vec<usize> = (0..11).map(|draw| mix.pick(draw)).collect();
        assert_eq!(picks, vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2]);
    }

    #[test]
    fn bad_mixes_are_refused_with_the_reason() {
        let args = Value::Null;
        for (text, reason) in [
            ("0*tools/list", "weight 0"),
            ("x*tools/list", "bad weight"),
            ("resources/read", "needs a URI"),
            ("prompts/get", "unknown operation"),
            (" , ", "names no operation"),
        ] {
            let error = Mix::parse(text, "echo", &args).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn modern_bodies_carry_the_protocol_meta() {
        let body = Operation::List.template(Era::Modern).body(7);
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["id"], 7);
        assert_eq!(
            value["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        let legacy: Value =
            serde_json::from_slice(&Operation::List.template(Era::Legacy).body(1)).expect("json");
        assert!(legacy["params"].get("_meta").is_none());
    }
}
