//! The part of a list one principal may see: the positions of its items in
//! the merged list and their JSON re-joined, so its pages are zero-copy
//! slices like the full list's. Cursors are the same as the full list's.

use super::{
    ListKind, ListedItem, MergedCatalog, Page, RenderedList, decode_cursor, encode_cursor,
};
use crate::error::GatewayError;

/// The visible items of one list.
#[derive(Debug, Default)]
pub struct VisibleList {
    /// Positions in the merged list, ascending.
    positions: Vec<u32>,
    rendered: RenderedList,
}

// === impl VisibleList ===

impl VisibleList {
    /// An estimate of the memory it holds, in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.positions.len() * 4 + self.rendered.joined.len() + self.rendered.starts.len() * 8
    }

    /// True when the item at `position` of the merged list is visible.
    pub fn contains(&self, position: usize) -> bool {
        u32::try_from(position)
            .is_ok_and(|position| self.positions.binary_search(&position).is_ok())
    }

    /// Number of visible items.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when nothing is visible.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

// === impl MergedCatalog ===

impl MergedCatalog {
    /// The items of `kind` that `keep` lets through, rendered.
    pub fn visible(
        &self,
        kind: ListKind,
        mut keep: impl FnMut(&ListedItem) -> bool,
    ) -> VisibleList {
        let items = self.items(kind);
        let all = &self.rendered[kind as usize];
        let mut positions = Vec::new();
        let mut joined = Vec::new();
        let mut starts = Vec::new();
        for (position, item) in items.iter().enumerate() {
            if !keep(item) {
                continue;
            }
            let Ok(position_u32) = u32::try_from(position) else {
                break;
            };
            if !joined.is_empty() {
                joined.push(b',');
            }
            starts.push(joined.len());
            joined.extend_from_slice(&all.slice(position, position + 1));
            positions.push(position_u32);
        }
        VisibleList {
            positions,
            rendered: RenderedList {
                joined: joined.into(),
                starts,
            },
        }
    }

    /// One page of a visible list, like [`MergedCatalog::page`].
    pub fn page_visible(
        &self,
        kind: ListKind,
        visible: &VisibleList,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<Page, GatewayError> {
        let items = self.items(kind);
        let key = |index: usize| items[visible.positions[index] as usize].key.as_str();
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor)?;
                visible.positions.partition_point(|position| {
                    items[*position as usize].key.as_str() <= after.as_str()
                })
            }
        };
        let end = start.saturating_add(page_size).min(visible.len());
        Ok(Page {
            items: visible.rendered.slice(start, end),
            next_cursor: (end < visible.len()).then(|| encode_cursor(key(end - 1))),
        })
    }
}
