//! A registry package as the command line that runs it. The command is the
//! runner of the package's registry type and nothing else (npm → `npx`,
//! PyPI → `uvx`, OCI → `docker run`, NuGet → `dnx`); an entry's
//! `runtimeHint` naming anything else is refused. The entry may add only
//! the runner's own flags of a fixed list ([`Runner::flags`]) — never one
//! that makes the runner run other code (`npx -c`, `uvx --from`,
//! `docker --privileged -v /:/host`) — and its identifier and version must
//! be plain names (no `-flag`, URL, path or git spec). Package arguments go
//! after the package, where the runner hands them to the server.

use serde_json::Value;

use super::checks::{MAX_ITEMS, checked_word, list, text};

/// Whether a runner flag takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
}

/// The runner of one registry type.
struct Runner {
    registry_type: &'static str,
    command: &'static str,
    /// The flags an entry's `runtimeArguments` may give it: none of them
    /// runs other code, mounts the host or widens a container's rights.
    flags: &'static [(&'static str, Takes)],
}

const RUNNERS: [Runner; 4] = [
    Runner {
        registry_type: "npm",
        command: "npx",
        flags: &[
            ("-y", Takes::Nothing),
            ("--yes", Takes::Nothing),
            ("-q", Takes::Nothing),
            ("--quiet", Takes::Nothing),
            ("--prefer-offline", Takes::Nothing),
            ("--prefer-online", Takes::Nothing),
        ],
    },
    Runner {
        registry_type: "pypi",
        command: "uvx",
        flags: &[
            ("-q", Takes::Nothing),
            ("--quiet", Takes::Nothing),
            ("--isolated", Takes::Nothing),
            ("--offline", Takes::Nothing),
            ("--no-cache", Takes::Nothing),
            ("--refresh", Takes::Nothing),
            ("--no-progress", Takes::Nothing),
        ],
    },
    Runner {
        registry_type: "oci",
        command: "docker",
        flags: &[
            ("--init", Takes::Nothing),
            ("--read-only", Takes::Nothing),
            ("-e", Takes::Value),
            ("--env", Takes::Value),
            ("--memory", Takes::Value),
            ("--cpus", Takes::Value),
            ("--pids-limit", Takes::Value),
            ("--pull", Takes::Value),
            ("--platform", Takes::Value),
        ],
    },
    Runner {
        registry_type: "nuget",
        command: "dnx",
        flags: &[("--yes", Takes::Nothing), ("--prerelease", Takes::Nothing)],
    },
];

/// The command and arguments that run `package` (the entry's
/// `packages[index]`), before its environment is added; the error names
/// the field and the value refused.
pub(super) fn command_line(
    package: &Value,
    index: usize,
    env_names: &[&str],
) -> Result<(String, Vec<String>), String> {
    let field = |key: &str| format!("packages[{index}].{key}");
    let registry_type = text(package, "registryType").unwrap_or("?");
    let identifier = text(package, "identifier")
        .ok_or_else(|| format!("{registry_type} package without an identifier"))?;
    let Some(runner) = RUNNERS
        .iter()
        .find(|runner| runner.registry_type == registry_type)
    else {
        return Err(format!(
            "{registry_type} package {identifier}: this package type cannot be run by a bridge"
        ));
    };
    if let Some(hint) = text(package, "runtimeHint")
        && hint != runner.command
    {
        return Err(format!(
            "{}: {hint:?} — a {registry_type} package runs only with {}",
            field("runtimeHint"),
            runner.command
        ));
    }
    if !plain_identifier(registry_type, identifier) {
        return Err(format!(
            "{}: {identifier:?} is not a {registry_type} package name",
            field("identifier")
        ));
    }
    if registry_type == "npm" && super::versions::tarball_name(identifier) {
        return Err(format!(
            "{}: {identifier:?} reads as a local tarball to npm",
            field("identifier")
        ));
    }
    let version_opt =
        super::versions::pinned_version(registry_type, identifier, text(package, "version"))
            .map_err(|why| format!("{}: {why}", field("version")))?;
    let runtime = runner_flags(runner, list(package, "runtimeArguments"), &field)?;
    let package_arguments = super::entry::arguments(list(package, "packageArguments"))
        .map_err(|error| format!("{}: {error}", field("packageArguments")))?;
    for (position, word) in package_arguments.iter().enumerate() {
        checked_word(word)
            .map_err(|error| format!("{}[{position}]: {error}", field("packageArguments")))?;
    }
    if package_arguments.len() > MAX_ITEMS {
        return Err(format!(
            "{}: more than {MAX_ITEMS}",
            field("packageArguments")
        ));
    }
    let mut args: Vec<String> = Vec::new();
    match registry_type {
        "npm" => {
            if !runtime.iter().any(|arg| arg == "-y" || arg == "--yes") {
                args.push("-y".into());
            }
            args.extend(runtime);
            args.push(spec(identifier, version_opt, "@"));
            args.extend(package_arguments);
        }
        "pypi" => {
            args.extend(runtime);
            args.push(spec(identifier, version_opt, "=="));
            args.extend(package_arguments);
        }
        "oci" => {
            let tagged = identifier
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':') || last.contains('@'));
            let image = match version_opt {
                Some(version) if !tagged => format!("{identifier}:{version}"),
                _ => identifier.to_owned(),
            };
            args.extend(["run", "-i", "--rm"].map(str::to_owned));
            for name in env_names {
                args.push("-e".into());
                args.push((*name).to_owned());
            }
            args.extend(runtime);
            args.push(image);
            args.extend(package_arguments);
        }
        _ => {
            args.extend(runtime);
            args.push(spec(identifier, version_opt, "@"));
            if !args.iter().any(|arg| arg == "--yes") {
                args.push("--yes".into());
            }
            if !package_arguments.is_empty() {
                // dnx reads options after the package too: these are the server's.
                args.push("--".into());
                args.extend(package_arguments);
            }
        }
    }
    Ok((runner.command.to_owned(), args))
}

fn spec(identifier: &str, version_opt: Option<&str>, separator: &str) -> String {
    version_opt.map_or_else(
        || identifier.to_owned(),
        |version| format!("{identifier}{separator}{version}"),
    )
}

/// The entry's `runtimeArguments` as runner flags: each a named argument
/// of the runner's list, with a value exactly when the flag takes one.
fn runner_flags(
    runner: &Runner,
    declared: &[Value],
    field: &dyn Fn(&str) -> String,
) -> Result<Vec<String>, String> {
    if declared.len() > MAX_ITEMS {
        return Err(format!(
            "{}: more than {MAX_ITEMS}",
            field("runtimeArguments")
        ));
    }
    let allowed = || {
        runner
            .flags
            .iter()
            .map(|(flag, _)| *flag)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut words = Vec::new();
    for (position, argument) in declared.iter().enumerate() {
        let at = format!("{}[{position}]", field("runtimeArguments"));
        let value_opt = text(argument, "value").or_else(|| text(argument, "default"));
        let (name, value_opt) = match text(argument, "type") {
            Some("named") => (text(argument, "name").unwrap_or_default(), value_opt),
            // A positional word before the package would be what runs.
            _ => (value_opt.unwrap_or_default(), None),
        };
        let Some((_, takes)) = runner.flags.iter().find(|(flag, _)| *flag == name) else {
            return Err(format!(
                "{at}: {name:?} is not a flag {} takes from a registry entry (only: {})",
                runner.command,
                allowed()
            ));
        };
        match (takes, value_opt) {
            (Takes::Nothing, None) => words.push(name.to_owned()),
            (Takes::Nothing, Some(value)) => {
                return Err(format!("{at}: {name} takes no value ({value:?} given)"));
            }
            (Takes::Value, None) => return Err(format!("{at}: {name} needs a value")),
            (Takes::Value, Some(value)) => {
                checked_word(value).map_err(|error| format!("{at}: {error}"))?;
                if value.starts_with('-') {
                    return Err(format!("{at}: {name} {value:?}: a value, not a flag"));
                }
                if matches!(name, "-e" | "--env") && !container_variable(value) {
                    return Err(format!(
                        "{at}: {name} {value:?}: give NAME=VALUE (NAME in A-Za-z0-9_)"
                    ));
                }
                words.push(name.to_owned());
                words.push(value.to_owned());
            }
        }
    }
    Ok(words)
}

/// `NAME=VALUE` for a container's environment (set inside the container,
/// not on the host's `docker`).
fn container_variable(value: &str) -> bool {
    value.split_once('=').is_some_and(|(name, _)| {
        name.chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_')
    })
}

/// A package name of the registry type: letters, digits and the type's
/// few punctuation marks, starting with a letter or digit (npm: an
/// optional `@scope/`; PyPI: optional `[extras]`; OCI: a reference).
fn plain_identifier(registry_type: &str, identifier: &str) -> bool {
    let simple = |name: &str, extra: &str| {
        name.chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || extra.contains(character))
    };
    if identifier.len() > 256 {
        return false;
    }
    match registry_type {
        "npm" => match identifier.strip_prefix('@') {
            Some(scoped) => scoped
                .split_once('/')
                .is_some_and(|(scope, name)| simple(scope, "-._~") && simple(name, "-._~")),
            None => simple(identifier, "-._~"),
        },
        "pypi" => {
            let (name, extras_opt) = match identifier.split_once('[') {
                Some((name, rest)) => (name, rest.strip_suffix(']').map(Some).unwrap_or(Some(""))),
                None => (identifier, None),
            };
            simple(name, "-._")
                && extras_opt
                    .is_none_or(|extras| extras.split(',').all(|extra| simple(extra, "-._")))
        }
        "oci" => simple(identifier, "-._/:@"),
        _ => simple(identifier, "-._"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_runners_own_flags_are_kept_in_place() {
        let oci = json!({"registryType": "oci", "identifier": "ghcr.io/acme/mcp", "version": "2.1",
            "runtimeHint": "docker",
            "runtimeArguments": [{"type": "named", "name": "--init"},
                                 {"type": "named", "name": "-e", "value": "MODE=ro"},
                                 {"type": "named", "name": "--memory", "value": "512m"}],
            "packageArguments": [{"type": "named", "name": "--port", "value": "0"}]});
        let (command, args) = command_line(&oci, 0, &["TOKEN"]).expect("oci");
        assert_eq!(command, "docker");
        assert_eq!(
            args,
            [
                "run",
                "-i",
                "--rm",
                "-e",
                "TOKEN",
                "--init",
                "-e",
                "MODE=ro",
                "--memory",
                "512m",
                "ghcr.io/acme/mcp:2.1",
                "--port",
                "0"
            ]
        );
        let nuget = json!({"registryType": "nuget", "identifier": "Acme.Mcp", "version": "1.0.0",
            "packageArguments": [{"type": "positional", "value": "--add-source"}]});
        let (command, args) = command_line(&nuget, 0, &[]).expect("nuget");
        assert_eq!(command, "dnx");
        assert_eq!(args, ["Acme.Mcp@1.0.0", "--yes", "--", "--add-source"]);
        let pypi = json!({"registryType": "pypi", "identifier": "mcp-time[cli]", "version": "1!2.0",
            "runtimeArguments": [{"type": "named", "name": "--offline"}]});
        let (_, args) = command_line(&pypi, 0, &[]).expect("pypi");
        assert_eq!(args, ["--offline", "mcp-time[cli]==1!2.0"]);
    }

    #[test]
    fn a_flag_given_a_value_or_a_value_without_one_is_refused() {
        for arguments in [
            json!([{"type": "named", "name": "--init", "value": "evil/image"}]),
            json!([{"type": "named", "name": "--memory"}]),
            json!([{"type": "named", "name": "-e", "value": "LD_PRELOAD"}]),
            json!([{"type": "named", "name": "--privileged=true"}]),
        ] {
            let oci = json!({"registryType": "oci", "identifier": "acme/mcp", "version": "1", "runtimeArguments": arguments});
            let refused = command_line(&oci, 3, &[]).expect_err("refused");
            assert!(
                refused.starts_with("packages[3].runtimeArguments[0]"),
                "{refused}"
            );
        }
        for identifier in [
            "-c",
            "x@git+https://e/x",
            "@scope",
            "a b",
            "pkg @ https://e/x",
        ] {
            let npm = json!({"registryType": "npm", "identifier": identifier});
            assert!(command_line(&npm, 0, &[]).is_err(), "{identifier}");
        }
    }
}
