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

/// Variables that make a runner, an interpreter, a compiler a package
/// install may start, or the C library run other code, or look for
/// programs, settings, certificates, names or temporary files elsewhere.
/// `docs/security.md` lists the same names: keep them together.
pub const DENIED_ENV: [&str; 44] = [
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
    // npm reads `$PREFIX/etc/npmrc` (registry=, node-options=).
    "PREFIX",
    "VIRTUAL_ENV",
    "TMPDIR",
    "TMP",
    "TEMP",
    "TZDIR",
    "TERMINFO",
    "TERMINFO_DIRS",
    // The resolver: other names for hosts, search domains.
    "HOSTALIASES",
    "LOCALDOMAIN",
    "SSLKEYLOGFILE",
    "KUBECONFIG",
    "ELECTRON_RUN_AS_NODE",
    "PHPRC",
    // What node-gyp and make run while a package installs.
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "MAKE",
    "MAKEFLAGS",
];

/// Prefixes of such variables (the loader's and the C library's,
/// interpreters', the runners' own configuration, git's and ssh's, TLS
/// libraries', XDG directories, the gateway's own).
pub const DENIED_ENV_PREFIXES: [&str; 45] = [
    "LD_",
    "DYLD_",
    "BASH_",
    "NODE_",
    "NPM_",
    "YARN_",
    "COREPACK_",
    "PNPM_",
    "DENO_",
    "BUN_",
    "PYTHON",
    "PIP_",
    "PIPX_",
    "UV_",
    "CONDA_",
    "PERL",
    "RUBY",
    "GEM_",
    "BUNDLE_",
    "JAVA_",
    "_JAVA_",
    "JDK_",
    "DOTNET_",
    "CORECLR_",
    "COREHOST_",
    "NUGET_",
    "MSBUILD",
    "DOCKER_",
    "BUILDKIT_",
    "GIT_",
    "SSH_",
    "SSL_",
    "OPENSSL_",
    "GNUTLS_",
    "XDG_",
    "GCONV",
    "GLIBC_",
    "MALLOC_",
    "RES_",
    "NIX_",
    "TCL",
    "TK_",
    "LUA_",
    "PKG_CONFIG",
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

pub use crate::wire::names::reorders_text;

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
    if value.chars().any(reorders_text) {
        return Err(format!(
            "header {name}: the value has a character that reorders or hides text ({:?})",
            value.escape_unicode().to_string()
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
    if url.contains(['{', '}']) {
        return Err(format!(
            "url {url:?}: an unfilled template ({{…}}); the registry entry must name the URL"
        ));
    }
    if let Some(why) = parsed.host().and_then(|host| unreachable_address(&host)) {
        return Err(format!("url {url:?}: {why}"));
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

/// Why a literal address is never a remote's: link-local (cloud metadata
/// at 169.254.169.254), unspecified, multicast or broadcast.
fn unreachable_address(host: &url::Host<&str>) -> Option<&'static str> {
    match host {
        url::Host::Ipv4(address) if address.is_link_local() => {
            Some("a link-local address (cloud metadata) is not a remote")
        }
        url::Host::Ipv4(address) if address.is_unspecified() || address.is_broadcast() => {
            Some("an unspecified or broadcast address is not a remote")
        }
        url::Host::Ipv4(address) if address.is_multicast() => {
            Some("a multicast address is not a remote")
        }
        url::Host::Ipv6(address) if address.is_unicast_link_local() => {
            Some("a link-local address is not a remote")
        }
        url::Host::Ipv6(address) if address.is_unspecified() || address.is_multicast() => {
            Some("an unspecified or multicast address is not a remote")
        }
        url::Host::Ipv6(address) => address
            .to_ipv4_mapped()
            .and_then(|mapped| unreachable_address(&url::Host::Ipv4(mapped))),
        _ => None,
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
            "PREFIX",
            "OPENSSL_CONF",
            "OPENSSL_MODULES",
            "OPENSSL_ENGINES",
            "GCONV_PATH",
            "GLIBC_TUNABLES",
            "CONDA_PREFIX",
            "VIRTUAL_ENV",
            "XDG_CONFIG_HOME",
            "XDG_CONFIG_DIRS",
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
            "HOSTALIASES",
            "LOCALDOMAIN",
            "RES_OPTIONS",
            "SSLKEYLOGFILE",
            "TMPDIR",
            "KUBECONFIG",
            "A=B",
            "lower",
            "1ABC",
            "",
            "X Y",
        ] {
            assert!(env_name(bad).is_err(), "{bad}");
        }
        for name in DENIED_ENV {
            assert!(env_name(name).is_err(), "{name}");
        }
        for prefix in DENIED_ENV_PREFIXES {
            assert!(env_name(&format!("{prefix}X")).is_err(), "{prefix}");
        }
    }

    #[test]
    fn the_documented_deny_list_is_the_code_s() {
        let doc = include_str!("../../../docs/security.md");
        for name in DENIED_ENV {
            assert!(
                doc.contains(&format!(" {name} "))
                    || doc.contains(&format!("`{name} "))
                    || doc.contains(&format!(" {name}`")),
                "{name} is not in docs/security.md"
            );
        }
        for prefix in DENIED_ENV_PREFIXES {
            assert!(
                doc.contains(&format!(" {prefix} "))
                    || doc.contains(&format!("`{prefix} "))
                    || doc.contains(&format!(" {prefix}`")),
                "{prefix} is not in docs/security.md"
            );
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
        for bad in [
            "a\r\nX-Evil: 1",
            "a\nb",
            "a\0b",
            "safe\u{202E}\u{2066} ;gnol-os\u{2069}",
            "a\u{200B}b",
        ] {
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
            "https://{tenant}.example.com/mcp",
            "https://mcp.example.com/{path}",
            "https://169.254.169.254/",
            "https://[fe80::1]/mcp",
            "https://0.0.0.0/mcp",
            "https://[::]/mcp",
            "https://224.0.0.1/mcp",
            "https://[ff02::1]/mcp",
            "https://[::ffff:169.254.169.254]/",
        ] {
            assert!(remote_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_have_no_control_characters() {
        assert!(checked_word("--local-timezone=UTC").is_ok());
        assert!(checked_word("a\0b").is_err());
        assert!(checked_word("safe\u{202E}gnp.exe").is_err());
        for hidden in [
            '\u{061C}',
            '\u{2060}',
            '\u{E0041}',
            '\u{00AD}',
            '\u{FE0F}',
            '\u{3164}',
        ] {
            assert!(
                checked_word(&format!("--safe{hidden}")).is_err(),
                "{hidden:?}"
            );
        }
        assert!(checked_word(&"x".repeat(MAX_WORD + 1)).is_err());
    }
}
