//! `collisions`: how a merge decides what two services both offer — the
//! service known first keeps the item (and the URIs under its templates),
//! the other's is left out — and records each conflict with both sides.

use std::collections::HashMap;

use super::ListedItem;

/// Where a merge records its conflicts: the text, who keeps, who loses.
pub(super) struct Collisions<'merge> {
    pub(super) texts: &'merge mut Vec<String>,
    pub(super) winners: &'merge mut Vec<String>,
    pub(super) losers: &'merge mut Vec<String>,
}

impl Collisions<'_> {
    pub(super) fn push(&mut self, text: String, winner: &str, loser: &str) {
        self.texts.push(text);
        self.winners.push(winner.to_owned());
        self.losers.push(loser.to_owned());
    }
}

/// The template prefix, of a service other than `service`, that `uri` (a
/// URI or another template's literal prefix) falls inside: the URIs under a
/// template belong to the service known first that offers it.
pub(super) fn inside_template<'prefix>(
    prefixes: &'prefix [(String, usize)],
    uri: &str,
    service: usize,
) -> Option<&'prefix (String, usize)> {
    prefixes.iter().find(|(prefix, owner)| {
        *owner != service && !prefix.is_empty() && uri.starts_with(prefix.as_str())
    })
}

/// Adds `item` unless its key is taken; records the conflict otherwise.
pub(super) fn insert_unique(
    items: &mut Vec<ListedItem>,
    index: &mut HashMap<String, usize>,
    item: ListedItem,
    what: &str,
    service_names: &[&str],
    sides: &mut Collisions<'_>,
) {
    if let Some(existing) = index.get(&item.key) {
        let first = items[*existing].service;
        sides.push(
            format!(
                "{what} {:?} is offered by both service {:?} and service {:?}",
                item.key, service_names[first], service_names[item.service]
            ),
            service_names[first],
            service_names[item.service],
        );
        return;
    }
    index.insert(item.key.clone(), items.len());
    items.push(item);
}
