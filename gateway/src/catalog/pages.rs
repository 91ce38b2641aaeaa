//! `pages`: a kind's items rendered once and joined in list order, so a
//! page is a zero-copy slice of one shared buffer, and the opaque cursors
//! naming the last item of the previous page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;

use super::ListedItem;
use crate::error::GatewayError;

/// Every item of one kind rendered and joined with commas in list order,
/// so that any page is a zero-copy slice of one shared buffer.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RenderedList {
    pub(super) joined: Bytes,
    /// Offset of each item's JSON in `joined`.
    pub(super) starts: Vec<usize>,
}

// === impl RenderedList ===

impl RenderedList {
    /// Joins the items' JSON (moving it out of them).
    pub(super) fn take_from(items: &mut [ListedItem]) -> Self {
        let mut joined = Vec::with_capacity(items.iter().map(|item| item.json.len() + 1).sum());
        let mut starts = Vec::with_capacity(items.len());
        for item in items {
            if !joined.is_empty() {
                joined.push(b',');
            }
            starts.push(joined.len());
            joined.extend_from_slice(std::mem::take(&mut item.json).as_bytes());
        }
        Self {
            joined: Bytes::from(joined),
            starts,
        }
    }

    /// Items `start..end`, comma-separated, sharing the joined buffer.
    pub(super) fn slice(&self, start: usize, end: usize) -> Bytes {
        if start >= end {
            return Bytes::new();
        }
        let to = match self.starts.get(end) {
            Some(next_start) => next_start - 1,
            None => self.joined.len(),
        };
        self.joined.slice(self.starts[start]..to)
    }
}

const CURSOR_PREFIX: &str = "mm1:";

pub(super) fn encode_cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{after}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Result<String, GatewayError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX).map(str::to_owned))
        .ok_or_else(|| GatewayError::InvalidParams("invalid cursor".into()))
}
