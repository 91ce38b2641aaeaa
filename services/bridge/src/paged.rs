//! `paged`: an upstream's paginated lists (tools, prompts, resources,
//! templates) read with bounds. A server may answer every page with a
//! `nextCursor` — the same one again, or a new one forever — and thousands
//! of items each: the bridge stops at [`MAX_ITEMS`] items of a kind or
//! [`MAX_PAGES`] pages or a cursor seen before, keeps what it read, and
//! says so in a warning naming the server (rmcp's `list_all_*` follow
//! cursors without end). An item named again (a page served twice, a
//! server listing one name twice) is kept once, the first: a duplicate
//! would read as a catalog collision of the server with itself.

use std::collections::HashSet;
use std::future::Future;

use rmcp::service::ServiceError;

/// Most items of one kind taken from an upstream (a catalog of tens of
/// thousands of tools is served; past this the rest is left out).
pub const MAX_ITEMS: usize = 20_000;
/// Most pages read for one kind.
pub const MAX_PAGES: usize = 1_000;

/// Reads every page `page` gives for `kind`, from the first (no cursor),
/// within the bounds, each item once by `name_of`; `server` names the
/// upstream in the warnings.
pub async fn read_all<T, Page, Answer>(
    server: &str,
    kind: &str,
    name_of: fn(&T) -> &str,
    mut page: Page,
) -> Result<Vec<T>, ServiceError>
where
    Page: FnMut(Option<String>) -> Answer,
    Answer: Future<Output = Result<(Vec<T>, Option<String>), ServiceError>>,
{
    let mut items = Vec::new();
    let mut names_seen: HashSet<String> = HashSet::new();
    let mut duplicates = 0usize;
    let mut cursors_seen = HashSet::new();
    let mut cursor_opt = None;
    for pages_read in 1..=MAX_PAGES {
        let (batch, next_opt) = page(cursor_opt.take()).await?;
        for item in batch {
            if names_seen.insert(name_of(&item).to_owned()) {
                items.push(item);
            } else {
                duplicates += 1;
            }
        }
        if duplicates > 0 && next_opt.is_none() {
            tracing::warn!(%server, kind, duplicates, "the server listed names more than once: the first of each kept");
        }
        if items.len() > MAX_ITEMS {
            items.truncate(MAX_ITEMS);
            tracing::warn!(%server, kind, "the server lists more than {MAX_ITEMS} {kind}: the rest are left out");
            return Ok(items);
        }
        let Some(next) = next_opt else {
            return Ok(items);
        };
        if !cursors_seen.insert(next.clone()) {
            tracing::warn!(%server, kind, pages_read, "the server gave a cursor again: its {kind} list stops there");
            return Ok(items);
        }
        cursor_opt = Some(next);
    }
    tracing::warn!(%server, kind, "the server's {kind} list runs past {MAX_PAGES} pages: the rest are left out");
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn an_endless_list_stops_at_the_bounds() {
        // A new cursor and 2000 items on every page, forever.
        let mut asked = 0usize;
        let items = run(read_all("endless", "tools", String::as_str, |_| {
            asked += 1;
            let page = asked;
            let names = (0..2000).map(|index| format!("t{page}_{index}")).collect();
            async move { Ok((names, Some(format!("c{page}")))) }
        }))
        .expect("read");
        assert_eq!(items.len(), MAX_ITEMS);
        assert_eq!(asked, MAX_ITEMS / 2000 + 1);
    }

    #[test]
    fn a_repeated_cursor_stops_the_list() {
        let mut asked = 0usize;
        let items = run(read_all("loop", "prompts", String::as_str, |_| {
            asked += 1;
            async move { Ok((vec!["p".to_owned()], Some("again".to_owned()))) }
        }))
        .expect("read");
        // The page served twice: its prompt kept once.
        assert_eq!((items, asked), (vec!["p".to_owned()], 2));
    }

    #[test]
    fn pages_are_followed_to_the_end() {
        let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        let items = run(read_all(
            "fine",
            "tools",
            String::as_str,
            |cursor_opt: Option<String>| {
                let page: (Vec<String>, Option<String>) = match cursor_opt.as_deref() {
                    None => (owned(&["a", "b"]), Some("b".to_owned())),
                    _ => (owned(&["c", "a"]), None),
                };
                async move { Ok(page) }
            },
        ))
        .expect("read");
        assert_eq!(items, owned(&["a", "b", "c"]));
    }
}
