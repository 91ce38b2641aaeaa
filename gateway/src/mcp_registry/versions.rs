//! Which versions of a registry package may run: exactly one release, for
//! good, so the digest an operator approved covers code that cannot change
//! (npm: a semver version, never a range, tag or tarball; PyPI: a PEP 440
//! version; NuGet: a NuGet version; OCI: a tag other than `latest`, or a
//! digest). Used by the package's command line (`package.rs`).

/// Whether npm reads `name` as a tarball on disk (npm-package-arg: a
/// spec ending `.tgz`, `.tar` or `.tar.gz`, in any case, is a file).
pub(super) fn tarball_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".tgz", ".tar", ".tar.gz"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// The package's version, which must name one release for good (so the
/// approved digest covers fixed code): npm a semver version (no range or
/// tag), PyPI a PEP 440 version, NuGet a NuGet version, OCI a tag other
/// than `latest` (or none when the identifier carries a tag or digest).
pub(super) fn pinned_version<'a>(
    registry_type: &str,
    identifier: &str,
    version_opt: Option<&'a str>,
) -> Result<Option<&'a str>, String> {
    let version_opt = version_opt.filter(|version| !version.is_empty());
    if registry_type == "oci" {
        let last = identifier.rsplit('/').next().unwrap_or_default();
        let tag_opt = last.split_once(':').map(|(_, tag)| tag);
        if last.contains('@') || tag_opt.is_some() {
            if tag_opt.is_some_and(|tag| tag.eq_ignore_ascii_case("latest")) {
                return Err(format!(
                    "{identifier:?}: the tag latest can change; name a version or a digest"
                ));
            }
            return Ok(None);
        }
    }
    let Some(version) = version_opt else {
        return Err("required: a concrete version (what is approved must not change)".into());
    };
    let fits = version.len() <= 128
        && match registry_type {
            "npm" => semver(version),
            "pypi" => pep440(version),
            "nuget" => nuget_version(version),
            _ => oci_tag(version) && !version.eq_ignore_ascii_case("latest"),
        };
    if !fits {
        return Err(format!(
            "{version:?} is not one {registry_type} release (a version, no range, tag or file)"
        ));
    }
    Ok(Some(version))
}

/// Dot-separated parts, each non-empty and all of `allowed`.
fn dotted(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    text.split('.')
        .all(|part| !part.is_empty() && part.chars().all(&allowed))
}

/// A number without leading zeros.
fn number(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|character| character.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
}

/// `MAJOR.MINOR.PATCH`, an optional `-prerelease` and `+build` (semver 2).
fn semver(version: &str) -> bool {
    let identifier = |character: char| character.is_ascii_alphanumeric() || character == '-';
    let (rest, build_opt) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre_opt) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| number(part))
        && pre_opt.is_none_or(|pre| dotted(pre, identifier))
        && build_opt.is_none_or(|build| dotted(build, identifier))
        && !tarball_name(version)
}

/// `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]` (PEP 440, normalised).
fn pep440(version: &str) -> bool {
    let (public, local_opt) = match version.split_once('+') {
        Some((public, local)) => (public, Some(local)),
        None => (version, None),
    };
    let release = match public.split_once('!') {
        Some((epoch, release))
            if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() =>
        {
            release
        }
        Some(_) => return false,
        None => public,
    };
    let mut rest = release;
    let mut parts = Vec::new();
    while let Some(end) = rest
        .find(|c: char| !c.is_ascii_digit())
        .or(Some(rest.len()))
    {
        parts.push(&rest[..end]);
        rest = &rest[end..];
        match rest.strip_prefix('.') {
            Some(next) if next.starts_with(|c: char| c.is_ascii_digit()) => rest = next,
            _ => break,
        }
    }
    if parts.iter().any(|part| part.is_empty()) {
        return false;
    }
    let mut suffix = |prefix: &str| {
        if let Some(after) = rest.strip_prefix(prefix) {
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                rest = &after[digits..];
                return true;
            }
        }
        false
    };
    let _ = suffix("a") || suffix("b") || suffix("rc");
    let _ = suffix(".post");
    let _ = suffix(".dev");
    rest.is_empty() && local_opt.is_none_or(|local| dotted(local, |c| c.is_ascii_alphanumeric()))
}

/// `N.N[.N[.N]]`, an optional `-prerelease` and `+metadata` (NuGet).
fn nuget_version(version: &str) -> bool {
    let label = |character: char| character.is_ascii_alphanumeric() || character == '-';
    let (rest, metadata_opt) = match version.split_once('+') {
        Some((rest, metadata)) => (rest, Some(metadata)),
        None => (version, None),
    };
    let (core, pre_opt) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        && pre_opt.is_none_or(|pre| dotted(pre, label))
        && metadata_opt.is_none_or(|metadata| dotted(metadata, label))
}

/// A container image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn oci_tag(tag: &str) -> bool {
    tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_release_is_a_version() {
        for (kind, good) in [
            ("npm", "1.4.0"),
            ("npm", "2.0.0-rc.1+b7"),
            ("pypi", "1!2.0"),
            ("pypi", "2.1rc1.post2.dev3+local.7"),
            ("nuget", "1.0.0.4-beta"),
            ("oci", "2.1"),
        ] {
            assert_eq!(
                pinned_version(kind, "x", Some(good)),
                Ok(Some(good)),
                "{kind} {good}"
            );
        }
        for (kind, bad) in [
            ("npm", "1.4.0.tgz"),
            ("npm", "evil.tgz"),
            ("npm", "1.4.0.tar"),
            ("npm", "a.tar.gz"),
            ("npm", "latest"),
            ("npm", "^1.4.0"),
            ("npm", "1.4"),
            ("npm", ""),
            ("pypi", ">=1.0"),
            ("pypi", "latest"),
            ("nuget", "1"),
            ("nuget", "[1.0,)"),
            ("oci", "latest"),
            ("oci", "LATEST"),
        ] {
            assert!(
                pinned_version(kind, "x", Some(bad)).is_err(),
                "{kind} {bad:?}"
            );
        }
        assert!(pinned_version("npm", "x", None).is_err());
        assert_eq!(
            pinned_version("oci", "ghcr.io/a/b@sha256:00", None),
            Ok(None)
        );
        assert_eq!(pinned_version("oci", "ghcr.io/a/b:1.2", None), Ok(None));
        assert!(pinned_version("oci", "ghcr.io/a/b:latest", None).is_err());
        assert!(pinned_version("oci", "ghcr.io/a/b", None).is_err());
        for name in ["@acme/weather.tgz", "x.TAR", "x.tar.GZ"] {
            assert!(tarball_name(name), "{name}");
        }
    }
}
