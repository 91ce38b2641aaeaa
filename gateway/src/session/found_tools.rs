//! The tools a handshake-era session found with `find_tools`, kept (under
//! `[catalog] add_found_tools`) so its `tools/list` can show them beside
//! `find_tools` and `call_tool`: names only, at most [`MAX_FOUND_TOOLS`],
//! the least recently found dropped first. Names, not positions: a catalog
//! change keeps what is still offered, and the list is filtered again by
//! the caller's view each time it is asked for, so a tool that left the
//! catalog or the caller's view is never listed.

use std::collections::VecDeque;

/// Most tool names one session keeps (one search's largest answer).
pub const MAX_FOUND_TOOLS: usize = 50;

/// The names a session found, most recently found last.
#[derive(Debug, Default)]
pub struct FoundTools {
    names: VecDeque<String>,
}

// === impl FoundTools ===

impl FoundTools {
    /// Notes `found` (best first) as found now; true when the set of names
    /// changed (a name new to it, or one dropped to make room).
    pub fn remember<'a>(&mut self, found: impl IntoIterator<Item = &'a str>) -> bool {
        let mut changed = false;
        let found: Vec<&str> = found.into_iter().take(MAX_FOUND_TOOLS).collect();
        // The best hit ends most recent: walk them worst first.
        for name in found.iter().rev() {
            match self.names.iter().position(|kept| kept == name) {
                Some(index) => {
                    if let Some(kept) = self.names.remove(index) {
                        self.names.push_back(kept);
                    }
                }
                None => {
                    self.names.push_back((*name).to_owned());
                    changed = true;
                }
            }
        }
        while self.names.len() > MAX_FOUND_TOOLS {
            self.names.pop_front();
            changed = true;
        }
        changed
    }

    /// The names kept, least recently found first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Number of names kept.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing was found yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_again_changes_nothing_and_the_oldest_make_room() {
        let mut found = FoundTools::default();
        assert!(found.remember(["fs.read_file", "fs.stat"]));
        assert!(!found.remember(["fs.stat", "fs.read_file"]));
        assert_eq!(found.len(), 2);
        let many: Vec<String> = (0..MAX_FOUND_TOOLS)
            .map(|n| format!("many.tool_{n}"))
            .collect();
        assert!(found.remember(many.iter().map(String::as_str)));
        assert_eq!(found.len(), MAX_FOUND_TOOLS);
        assert!(!found.names().any(|name| name.starts_with("fs.")));
        // one answer's worst hit is its least recent; found again, a kept
        // name becomes the most recent and stays
        assert!(!found.remember(["many.tool_49"]));
        assert!(found.remember(["fs.stat"]));
        assert!(found.names().any(|name| name == "many.tool_49"));
        assert!(!found.names().any(|name| name == "many.tool_48"));
    }

    #[test]
    fn one_answer_larger_than_the_bound_keeps_its_best() {
        let mut found = FoundTools::default();
        let many: Vec<String> = (0..MAX_FOUND_TOOLS * 40).map(|n| format!("t{n}")).collect();
        assert!(found.remember(many.iter().map(String::as_str)));
        assert_eq!(found.len(), MAX_FOUND_TOOLS);
        assert!(found.names().any(|name| name == "t0"));
        assert!(!found.names().any(|name| name == "t50"));
    }
}
