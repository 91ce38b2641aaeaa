//! Which names are well formed: tool names as MCP defines them, and the
//! character check shared by namespaces, principal names and roles.

/// True when `text` is only ASCII letters, digits and the bytes in `extra`.
pub fn made_of(text: &str, extra: &[u8]) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || extra.contains(&byte))
}

/// True for a valid MCP tool name: 1-128 of `A-Za-z0-9_.-`.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && made_of(name, b"_.-")
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
