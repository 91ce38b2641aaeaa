//! HTML → Markdown with the depth the converter sees bounded. The
//! converter walks the document tree recursively, so a page of 10 000
//! nested `<div>`s (100 KiB) overflowed the stack and aborted the whole
//! service. The parsed tree is first walked iteratively, and every subtree
//! below [`MAX_HTML_DEPTH`] is flattened into its leaves (text, empty
//! elements) in document order: nothing of the text is lost, only the
//! structure past that depth.

use std::rc::Rc;

use htmd::{HtmlToMarkdown, Node};

/// Deepest element nesting the converter walks (1 000 converted fine on a
/// 2 MiB thread stack before this bound existed).
pub const MAX_HTML_DEPTH: usize = 256;

/// Converts an HTML document to Markdown.
pub fn html_to_markdown(html: &str) -> std::io::Result<String> {
    let converter = HtmlToMarkdown::new();
    let tree = converter.html_to_tree(html)?;
    flatten_below(&tree, MAX_HTML_DEPTH);
    Ok(converter.tree_to_markdown(&tree))
}

/// Replaces the children of every node at `max_depth` by the leaves below
/// it, without recursion.
fn flatten_below(root: &Rc<Node>, max_depth: usize) {
    let mut pending = vec![(root.clone(), 0usize)];
    while let Some((node, depth)) = pending.pop() {
        if depth >= max_depth {
            let leaves = leaves_of(&node);
            for leaf in &leaves {
                leaf.parent.set(Some(Rc::downgrade(&node)));
            }
            *node.children.borrow_mut() = leaves;
            continue;
        }
        for child in node.children.borrow().iter() {
            pending.push((child.clone(), depth + 1));
        }
    }
}

/// The childless descendants of `node`, in document order.
fn leaves_of(node: &Rc<Node>) -> Vec<Rc<Node>> {
    let mut leaves = Vec::new();
    let mut pending: Vec<Rc<Node>> = node.children.borrow().iter().rev().cloned().collect();
    while let Some(next) = pending.pop() {
        let children = next.children.borrow();
        if children.is_empty() {
            leaves.push(next.clone());
        } else {
            pending.extend(children.iter().rev().cloned());
        }
    }
    leaves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize, inner: &str) -> String {
        format!("{}{inner}{}", "<div>".repeat(depth), "</div>".repeat(depth))
    }

    #[test]
    fn ordinary_pages_convert_as_before() {
        let html = "<h1>Title</h1><p>Some <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(
            html_to_markdown(html).expect("convert"),
            htmd::convert(html).expect("convert")
        );
        let deep_but_fine = nested(200, "<p>deep</p>");
        assert_eq!(
            html_to_markdown(&deep_but_fine).expect("convert"),
            htmd::convert(&deep_but_fine).expect("convert")
        );
    }

    #[test]
    fn hostile_nesting_keeps_its_text_and_the_stack() {
        // 10 000 levels overflowed the stack before the bound (on this
        // thread's stack too).
        let html = nested(10_000, "x<b>bold</b> <i>end</i>");
        let markdown = html_to_markdown(&html).expect("convert");
        assert!(
            markdown.contains('x') && markdown.contains("bold") && markdown.contains("end"),
            "{markdown}"
        );
    }

    #[test]
    fn the_corpus_converts() {
        for (name, html) in micromcp_sdk::fuzz_corpus("html") {
            let html = String::from_utf8_lossy(&html).into_owned();
            let converted = std::thread::Builder::new()
                .stack_size(2 * 1024 * 1024)
                .spawn(move || html_to_markdown(&html).map(|markdown| markdown.len()))
                .expect("thread")
                .join();
            assert!(matches!(converted, Ok(Ok(_))), "html/{name}: {converted:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Tag soup — unbalanced, nested, comments, scripts, tables — of any
        /// depth converts without panicking or overflowing the stack, and
        /// keeps every text piece.
        #[test]
        fn any_tag_soup_converts(pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "<div>", "</div>", "<b>", "</b>", "<p>", "<ul><li>", "</li></ul>", "<table><tr><td>",
                "</td></tr></table>", "<br>", "<!--", "-->", "<script>", "</script>", "&amp;",
                "<a href='x'>", "</a>", "<pre><code>", "</code></pre>", "<h1>", "</h1>", "word",
            ]),
            0..6000,
        )) {
            let html = pieces.concat();
            let markdown = html_to_markdown(&html);
            proptest::prop_assert!(markdown.is_ok());
        }
    }
}
