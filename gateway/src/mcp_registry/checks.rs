//! What a registry entry (or the operator's inputs for it) may put into a
//! bridge: environment variable names that change no program's loading or
//! lookup (`[A-Z_][A-Z0-9_]*` minus [`DENIED_ENV`] and
//! [`DENIED_ENV_PREFIXES`]), header names that are HTTP tokens the bridge
//! does not set itself and values without control characters, remote URLs
//! over `https` (`http` to loopback only), and bounded words without NUL or
//! control characters. Each refusal names the value refused.

use serde_json::Value;

/// Most items of one list (arguments, variables, headers) an entry may have.
pub(super) const MAX_ITEMS: usize = 64;

/// Longest word (argument, value) taken from an entry.
const MAX_WORD: usize = 4096;

/// Variables that make a runner, an interpreter or the dynamic loader run
/// other code, or look for programs and settings elsewhere.
pub const DENIED_ENV: [&str; 19] = [
    "PATH",
    "HOME",
    "ENV",
    "SHELL",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "PS4",
    "PROMPT_COMMAND",
    "CDPATH",
    "CLASSPATH",
    "NLSPATH",
    "LOCPATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
];

/// Prefixes of such variables (the loader's, interpreters', the runners'
/// own configuration, git's, TLS trust, the gateway's own).
pub const DENIED_ENV_PREFIXES: [&str; 24] = [
    "LD_",
    "DYLD_",
    "BASH_",
    "NODE_",
    "NPM_",
    "YARN_",
    "COREPACK_",
    "PYTHON",
    "PIP_",
    "UV_",
    "PERL",
    "RUBY",
    "GEM_",
    "JAVA_",
    "_JAVA_",
    "JDK_",
    "DOTNET_",
    "CORECLR_",
    "COREHOST_",
    "NUGET_",
    "DOCKER_",
    "GIT_",
    "SSL_",
    "MICROMCP_",
];

/// Headers the bridge sets itself, or that change how a request is framed
/// or routed.
const DENIED_HEADERS: [&str; 13] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// `value[key]` as a list (empty when absent or not a list).
pub(super) fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `value[key]` as a non-empty string.
pub(super) fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// A word for a command line or a variable: bounded, without NUL or other
/// control characters.
pub(super) fn checked_word(word: &str) -> Result<(), String> {
    if word.len() > MAX_WORD {
        return Err(format!("a word over {MAX_WORD} bytes"));
    }
    if word.chars().any(char::is_control) {
        return Err(format!("{word:?} has a control character"));
    }
    if word.chars().any(reorders_text) {
        return Err(format!(
            "{:?} has a character that reorders or hides text",
            word.escape_unicode().to_string()
        ));
    }
    Ok(())
}

/// Bidirectional overrides and isolates, zero-width characters: what makes
/// a shown command line read otherwise than it runs.
pub fn reorders_text(character: char) -> bool {
    matches!(
        character,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// Refuses an environment variable name (declared by the entry or given
/// by the operator) that is not `[A-Z_][A-Z0-9_]*` or is denied.
pub fn env_name(name: &str) -> Result<(), String> {
    let well_formed = name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
        && name.chars().all(|character| {
            character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_'
        });
    if !well_formed {
        return Err(format!(
            "environment variable {name:?}: names are [A-Z_][A-Z0-9_]*"
        ));
    }
    if DENIED_ENV.contains(&name)
        || DENIED_ENV_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
    {
        return Err(format!(
            "environment variable {name:?} changes how programs are found or loaded; a registry import never sets it"
        ));
    }
    Ok(())
}

/// Refuses a header name that is not an HTTP token or that the bridge
/// sets itself.
pub fn header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(character)
        });
    if !token {
        return Err(format!("header {name:?}: a name is an HTTP token"));
    }
    let lower = name.to_ascii_lowercase();
    if DENIED_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
        return Err(format!("header {name:?} is set by the bridge itself"));
    }
    Ok(())
}

/// Refuses a header value with CR, LF, NUL or another control character
/// (a tab is allowed).
pub fn header_value(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_WORD {
        return Err(format!("header {name}: a value over {MAX_WORD} bytes"));
    }
    if value
        .chars()
        .any(|character| character.is_control() && character != '\t')
    {
        return Err(format!(
            "header {name}: the value has a control character (CR, LF, NUL…)"
        ));
    }
    Ok(())
}

/// Refuses a remote's URL unless it is `https` (or `http` to a loopback
/// host), without credentials in it.
pub(super) fn remote_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("url {url:?}: {error}"))?;
    if url.len() > 2048 {
        return Err("url: over 2048 bytes".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("url {url:?}: credentials in a URL are not taken"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "url {url:?}: a remote is reached over https (http only on loopback)"
        )),
        other => Err(format!("url {url:?}: scheme {other:?} is not https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_plain_and_not_denied() {
        for good in ["WEATHER_KEY", "_X", "API_TOKEN_2", "NODE"] {
            assert!(env_name(good).is_ok(), "{good}");
        }
        for bad in [
            "LD_PRELOAD",
            "DYLD_INSERT_LIBRARIES",
            "NODE_OPTIONS",
            "BASH_ENV",
            "ENV",
            "PATH",
            "HOME",
            "PYTHONPATH",
            "PERL5OPT",
            "RUBYOPT",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "GIT_SSH_COMMAND",
            "NPM_CONFIG_REGISTRY",
            "UV_PYTHON",
            "DOTNET_STARTUP_HOOKS",
            "DOCKER_HOST",
            "MICROMCP_ADMIN_TOKEN",
            "A=B",
            "lower",
            "1ABC",
            "",
            "X Y",
        ] {
            assert!(env_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_tokens_with_clean_values() {
        assert!(header_name("Authorization").is_ok());
        assert!(header_name("X-Api-Key").is_ok());
        for bad in [
            "X\r\nEvil",
            "X:Y",
            "",
            "Host",
            "content-length",
            "Proxy-Authorization",
        ] {
            assert!(header_name(bad).is_err(), "{bad}");
        }
        assert!(header_value("X", "Bearer a\tb").is_ok());
        for bad in ["a\r\nX-Evil: 1", "a\nb", "a\0b"] {
            assert!(header_value("X", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn remotes_are_https_or_loopback_http() {
        assert!(remote_url("https://mcp.example.com/mcp").is_ok());
        assert!(remote_url("http://127.0.0.1:8080/mcp").is_ok());
        assert!(remote_url("http://localhost/mcp").is_ok());
        for bad in [
            "http://mcp.example.com/mcp",
            "file:///etc/passwd",
            "unix:/run/docker.sock",
            "https://user:pw@mcp.example.com/",
            "not a url",
        ] {
            assert!(remote_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_have_no_control_characters() {
        assert!(checked_word("--local-timezone=UTC").is_ok());
        assert!(checked_word("a\0b").is_err());
        assert!(checked_word("safe\u{202E}gnp.exe").is_err());
        assert!(checked_word(&"x".repeat(MAX_WORD + 1)).is_err());
    }
}
