//! Reads Rust sources just enough to find the modules they name: blanks
//! comments and literals out, then collects every `crate::…` and
//! `super::…` path (use groups included), as absolute module paths.

/// `text` with comments, string and char literals blanked out.
pub fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let here = chars[index];
        let next = chars.get(index + 1).copied();
        if here == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
            }
        } else if here == '/' && next == Some('*') {
            index += 2;
            while index + 1 < chars.len() && !(chars[index] == '*' && chars[index + 1] == '/') {
                index += 1;
            }
            index += 2;
            out.push(' ');
        } else if here == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_before(&chars, index)
        {
            let mut hashes = 0;
            let mut cursor = index + 1;
            while chars.get(cursor) == Some(&'#') {
                hashes += 1;
                cursor += 1;
            }
            if chars.get(cursor) != Some(&'"') {
                out.push(here);
                index += 1;
                continue;
            }
            cursor += 1;
            loop {
                if cursor >= chars.len() {
                    break;
                }
                if chars[cursor] == '"'
                    && (0..hashes).all(|offset| chars.get(cursor + 1 + offset) == Some(&'#'))
                {
                    cursor += 1 + hashes;
                    break;
                }
                cursor += 1;
            }
            index = cursor;
            out.push_str("\"\"");
        } else if here == '"' {
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\\' {
                    index += 1;
                }
                index += 1;
            }
            index += 1;
            out.push_str("\"\"");
        } else if here == '\'' && next == Some('\\') {
            // Skip the escaped character too: `'\''` holds a quote.
            index += 3;
            while index < chars.len() && chars[index] != '\'' {
                index += 1;
            }
            index += 1;
            out.push_str("' '");
        } else if here == '\'' && chars.get(index + 2) == Some(&'\'') {
            index += 3;
            out.push_str("' '");
        } else {
            out.push(here);
            index += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], index: usize) -> bool {
    index > 0 && (chars[index - 1].is_alphanumeric() || chars[index - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `ident(::ident)*` at `start`, stopping before `{` or `*`.
fn read_path(code: &[char], start: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut index = start;
    loop {
        let begin = index;
        while index < code.len() && is_ident(code[index]) {
            index += 1;
        }
        if begin == index {
            break;
        }
        segments.push(code[begin..index].iter().collect());
        if code.get(index) == Some(&':') && code.get(index + 1) == Some(&':') {
            index += 2;
        } else {
            break;
        }
    }
    (segments, index)
}

/// The first paths inside a `{ … }` use group starting at `open`.
fn group_paths(code: &[char], open: usize) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut depth = 0;
    let mut index = open;
    let mut item_start = true;
    while index < code.len() {
        let c = code[index];
        if c == '{' {
            depth += 1;
            item_start = depth == 1;
        } else if c == '}' {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if c == ',' && depth == 1 {
            item_start = true;
        } else if depth == 1 && item_start && is_ident(c) {
            let (path, end) = read_path(code, index);
            paths.push(path);
            index = end;
            item_start = false;
            continue;
        }
        index += 1;
    }
    paths
}

/// Every module path named from `file` (its module path is `own`), as
/// absolute paths from the crate root; `from_super` marks paths reached
/// through `super::` (which may name items of an inline test module).
pub fn referenced_paths(code: &str, own: &[String]) -> Vec<(Vec<String>, bool)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let rest_starts = |word: &str| {
            word.chars()
                .enumerate()
                .all(|(offset, c)| chars.get(index + offset) == Some(&c))
        };
        let at_word = !ident_before(&chars, index);
        if at_word && rest_starts("crate::") {
            let start = index + "crate::".len();
            if chars.get(start) == Some(&'{') {
                for path in group_paths(&chars, start) {
                    found.push((path, false));
                }
            } else {
                let (path, _) = read_path(&chars, start);
                found.push((path, false));
            }
            index = start;
        } else if at_word && rest_starts("super::") {
            let mut base: Vec<String> = own.to_vec();
            let mut cursor = index;
            while chars[cursor..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                base.pop();
                cursor += "super::".len();
            }
            let tails = if chars.get(cursor) == Some(&'{') {
                group_paths(&chars, cursor)
            } else {
                vec![read_path(&chars, cursor).0]
            };
            for tail in tails {
                if tail.first().is_some_and(|segment| segment != "self") {
                    let mut path = base.clone();
                    path.extend(tail);
                    found.push((path, true));
                }
            }
            index = cursor;
        } else {
            index += 1;
        }
    }
    found
}
