//! Which names are well formed: tool names as MCP defines them, the
//! character check shared by namespaces, principal names and roles, and
//! the characters that make a shown name read otherwise than it is.

/// True when `text` is only ASCII letters, digits and the bytes in `extra`.
pub fn made_of(text: &str, extra: &[u8]) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || extra.contains(&byte))
}

/// True for a valid MCP tool name: 1-128 of `A-Za-z0-9_.-`.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && made_of(name, b"_.-")
}

/// Bidirectional marks, overrides and isolates, zero-width and other
/// invisible characters (joiners, invisible operators, fillers, tags,
/// variation selectors): what makes a shown command line or name read
/// otherwise than it runs.
pub fn reorders_text(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_mcp() {
        assert!(valid_tool_name("fs.read_file"));
        assert!(valid_tool_name("a-b_c.d9"));
        assert!(!valid_tool_name(""));
        assert!(!valid_tool_name("has space"));
        assert!(!valid_tool_name(&"x".repeat(129)));
        assert!(made_of("alice@example", b"@"));
        assert!(!made_of("alice/bob", b"@"));
    }
}
