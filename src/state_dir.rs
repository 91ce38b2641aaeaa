//! The gateway's own secrets stay out of what it serves. `micromcp up`
//! keeps its token, session key, audit log and search index in a state
//! directory that it locks for its lifetime (a second `up` there would
//! share them and fight over the index; copies staged by a save that was
//! interrupted are removed when it is claimed) and that the fs service and the
//! search crawl are told to exclude; any secret configured elsewhere inside
//! a served root stops the start, naming its key.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Component, Path, PathBuf};

use micromcp_gateway::config::{DEFAULT_SESSION_KEY_FILE, RawConfig, owned_file};

/// A state directory held by this process.
#[derive(Debug)]
pub struct StateDir {
    /// Canonical path.
    pub path: PathBuf,
    /// Held (locked) until dropped.
    _lock: File,
}

/// Creates (0700) and locks `path`; fails when another process holds it,
/// when the directory is open to group or others at all (micromcp made
/// none such: it came with a project), and when anything in it is not this
/// uid's own, is writable by group or others, or is a symbolic link (another local user
/// could have planted a token, a session key, a registration that runs a
/// command, or an audit log linked to a file elsewhere).
pub fn claim(path: &Path) -> anyhow::Result<StateDir> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|error| anyhow::anyhow!("state directory {}: {error}", path.display()))?;
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    owned_file::check_tree(&shown)
        .map_err(|error| anyhow::anyhow!("state directory not trusted: {error}"))?;
    refuse_not_made_here(&shown)?;
    let lock_path = path.join("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|error| anyhow::anyhow!("{}: {error}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "state directory in use: another micromcp process holds {}",
            lock_path.display()
        ),
        Err(TryLockError::Error(error)) => {
            anyhow::bail!("{}: {error}", lock_path.display())
        }
    }
    let removed = remove_staged(path);
    if removed > 0 {
        tracing::info!(
            removed,
            directory = %path.display(),
            "removed files staged by a save that was interrupted (kill -9, power loss)"
        );
    }
    Ok(StateDir {
        path: path.canonicalize()?,
        _lock: lock,
    })
}

/// The files of the state directory the gateway saves through a staged
/// copy (`.NAME.XXXXXX.tmp`, six random letters or digits).
const STAGED_FILES: [&str; 2] = ["registrations.json", "tool-pins.json"];

/// Removes the staged copies that the gateway's own files are written
/// through before they are renamed over the real ones
/// (`.registrations.json.XXXXXX.tmp`, `.tool-pins.json.XXXXXX.tmp`): left
/// only by a process killed mid-save, they are never read again. No other
/// name is touched (a shared directory keeps `.viminfo.tmp`, `.tmpXXXXXX`).
/// Called with the directory's lock held, before anything saves.
/// A state directory open to group or others was not made by micromcp
/// (it makes them 0700): most likely it came with a project — a clone or
/// an archive leaves 0755 — and its registrations would run commands, its
/// token and session key would be someone else's choice.
fn refuse_not_made_here(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::symlink_metadata(path)
        .map_err(|error| anyhow::anyhow!("state directory {}: {error}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "state directory not trusted: {} is mode {mode:o}, and micromcp makes its state directories 0700 — \
             one open to others did not come from micromcp (a project's clone or archive?) and could hold \
             registrations that run commands, a token or a session key of someone else's choosing; \
             if it is yours, `chmod 700 {}`, else remove it or name another with --state-dir",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn remove_staged(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let staged = |name: &str| {
        STAGED_FILES.iter().any(|file| {
            name.strip_prefix(&format!(".{file}."))
                .and_then(|rest| rest.strip_suffix(".tmp"))
                .is_some_and(|random| {
                    random.len() == 6
                        && random
                            .chars()
                            .all(|character| character.is_ascii_alphanumeric())
                })
        })
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            staged(&entry.file_name().to_string_lossy())
                && entry.file_type().is_ok_and(|kind| kind.is_file())
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// Where `path` is or would be once created: its longest existing
/// ancestor canonicalised (symlinks resolved, as fs resolves them), then
/// the missing rest (`..` taken lexically: what is created there is a
/// directory, not a symlink).
fn resolved(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let components: Vec<Component> = absolute.components().collect();
    let (mut resolved, existing) = (0..=components.len()).rev().find_map(|count| {
        let prefix: PathBuf = components[..count].iter().collect();
        prefix
            .canonicalize()
            .ok()
            .map(|canonical| (canonical, count))
    })?;
    for component in &components[existing..] {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(resolved)
}

/// Fails when a secret (`key`, `path`) lies inside a served root without
/// lying inside an excluded path.
pub fn refuse_exposed(
    roots: &[PathBuf],
    excluded: &[PathBuf],
    secrets: &[(&str, &Path)],
) -> anyhow::Result<()> {
    let roots: Vec<PathBuf> = roots.iter().filter_map(|root| resolved(root)).collect();
    let excluded: Vec<PathBuf> = excluded.iter().filter_map(|path| resolved(path)).collect();
    let mut problems = Vec::new();
    for (key, path) in secrets {
        let Some(secret) = resolved(path) else {
            continue;
        };
        let served = roots.iter().find(|root| secret.starts_with(root));
        let shielded = excluded.iter().any(|path| secret.starts_with(path));
        if let Some(root) = served
            && !shielded
        {
            problems.push(format!(
                "  - {key}: {} is inside the served root {}; keep it outside what is served (or in the state directory)",
                path.display(),
                root.display()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("invalid configuration:\n{}", problems.join("\n"))
    }
}

/// Refuses a config that puts one of the gateway's secrets or state files
/// inside a served root, outside `excluded`: its token files, session key
/// (and the journal of used approvals beside it), TLS key, token-exchange
/// client secrets, audit log, run-time registrations (a registration names
/// a command the gateway runs), approved tool definitions, and the search
/// index. Each is named by its key.
pub fn refuse_exposed_secrets(
    raw: &RawConfig,
    roots: &[PathBuf],
    excluded: &[PathBuf],
) -> anyhow::Result<()> {
    let named: [(&str, Option<&Path>); 8] = [
        ("auth.token_file", raw.auth.token_file.as_deref()),
        ("admin.token_file", raw.admin.token_file.as_deref()),
        (
            "admin.registrations_file",
            raw.admin.registrations_file.as_deref(),
        ),
        ("admin.tool_pins_file", raw.admin.tool_pins_file.as_deref()),
        (
            "gateway.session_key_file",
            raw.gateway.session_key_file.as_deref(),
        ),
        (
            "gateway.tls.key_file",
            raw.gateway
                .tls
                .as_ref()
                .and_then(|tls| tls.key_file.as_deref()),
        ),
        (
            "audit.path",
            raw.audit
                .path
                .as_deref()
                .filter(|path| path.as_os_str() != "-"),
        ),
        // Its store files hold every body.
        ("search.index_dir", raw.search.index_dir.as_deref()),
    ];
    let mut secrets: Vec<(String, &Path)> = named
        .into_iter()
        .filter_map(|(key, path_opt)| path_opt.map(|path| (key.to_owned(), path)))
        .collect();
    let journal_opt = raw
        .gateway
        .session_key_file
        .as_deref()
        .map(micromcp_gateway::journal_path);
    if let Some(journal) = &journal_opt {
        secrets.push((
            "gateway.session_key_file (its journal of used approvals)".into(),
            journal,
        ));
    }
    for (index, service) in raw.services.iter().enumerate() {
        if let Some(exchange) = &service.token_exchange {
            secrets.push((
                format!("services[{index}].token_exchange.client_secret_file"),
                &exchange.client_secret_file,
            ));
        }
    }
    let secrets: Vec<(&str, &Path)> = secrets
        .iter()
        .map(|(key, path)| (key.as_str(), *path))
        .collect();
    refuse_exposed(roots, excluded, &secrets)
}

/// Refuses a directory holding one of the gateway's state files (named by
/// the config) that another local user could change: as `up` refuses its
/// state directory, the directory (links resolved) must be this uid's own
/// (or root's) and writable by neither group nor others —
/// else another user could replace a checked file, or plant one the
/// gateway has yet to create. The error names the key and the directory.
pub fn refuse_untrusted_dirs(raw: &RawConfig) -> anyhow::Result<()> {
    let session_key_file = raw
        .gateway
        .session_key_file
        .as_deref()
        .unwrap_or(Path::new(DEFAULT_SESSION_KEY_FILE));
    refuse_untrusted(raw, Some(session_key_file), &[])
}

/// [`refuse_untrusted_dirs`] for `micromcp stdio`, which keeps state only
/// where its config names it: the session key file when one is named, the
/// token, registration, pin and audit files, and the search index
/// directory (`search.index_dir`, checked itself: the index is its
/// content).
pub fn refuse_untrusted_stdio_dirs(raw: &RawConfig) -> anyhow::Result<()> {
    let index_dirs: Vec<_> = raw.search.index_dir.iter().cloned().collect();
    refuse_untrusted(raw, raw.gateway.session_key_file.as_deref(), &index_dirs)
}

fn refuse_untrusted(
    raw: &RawConfig,
    session_key_file_opt: Option<&Path>,
    index_dirs: &[PathBuf],
) -> anyhow::Result<()> {
    let mut files: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(session_key_file) = session_key_file_opt {
        files.push(("gateway.session_key_file", session_key_file.to_path_buf()));
        files.push((
            "gateway.session_key_file (its journal of used approvals)",
            micromcp_gateway::journal_path(session_key_file),
        ));
    }
    let mut named = |key: &'static str, path_opt: Option<&Path>| {
        if let Some(path) = path_opt {
            files.push((key, path.to_path_buf()));
        }
    };
    named("auth.token_file", raw.auth.token_file.as_deref());
    named("admin.token_file", raw.admin.token_file.as_deref());
    named(
        "admin.registrations_file",
        raw.admin.registrations_file.as_deref(),
    );
    named("admin.tool_pins_file", raw.admin.tool_pins_file.as_deref());
    named(
        "audit.path",
        raw.audit
            .path
            .as_deref()
            .filter(|path| path.as_os_str() != "-"),
    );
    let mut problems = Vec::new();
    for (key, file) in files {
        let Some(directory) = std::path::absolute(&file)
            .ok()
            .and_then(|file| file.parent().map(Path::to_path_buf))
        else {
            continue;
        };
        // A directory still missing is created by the gateway (0700).
        if !directory.exists() {
            continue;
        }
        if let Err(error) = owned_file::check_directory(&directory) {
            problems.push(format!(
                "  - {key}: {} is in a directory not trusted: {error}",
                file.display()
            ));
        }
    }
    for index_dir in index_dirs {
        let Ok(directory) = std::path::absolute(index_dir) else {
            continue;
        };
        if !directory.exists() {
            continue;
        }
        if let Err(error) = owned_file::check_directory(&directory) {
            problems.push(format!(
                "  - search.index_dir: {} is not trusted: {error}",
                directory.display()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("invalid configuration:\n{}", problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_and_secrets_in_roots_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let state = dir.path().join(".micromcp");
        let held = claim(&state).expect("first claim");
        let refused = claim(&state).expect_err("second claim").to_string();
        assert!(refused.contains("state directory in use"), "{refused}");
        drop(held);
        for left in [
            ".tmpAb12Cd",
            ".registrations.json.x1Y2z3.tmp",
            ".tool-pins.json.Ab12Cd.tmp",
            ".viminfo.tmp",
            ".my.important.tmp",
            ".registrations.json.mine.tmp",
            "keep.tmp",
            ".tmpdir",
        ] {
            std::fs::write(state.join(left), "x").expect("write");
        }
        let claimed = claim(&state).expect("free again once dropped");
        let mut names: Vec<String> = std::fs::read_dir(&claimed.path)
            .expect("dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".my.important.tmp",
                ".registrations.json.mine.tmp",
                ".tmpAb12Cd",
                ".tmpdir",
                ".viminfo.tmp",
                "keep.tmp",
                "lock"
            ],
            "only the gateway's own staged copies removed"
        );
        drop(claimed);
        let root = dir.path().to_path_buf();
        let roots = [root.clone()];
        let excluded = [state.clone()];
        let inside_state = state.join("audit.jsonl");
        let inside_root = root.join("audit.jsonl");
        assert!(refuse_exposed(&roots, &excluded, &[("audit.path", &inside_state)]).is_ok());
        let exposed = refuse_exposed(&roots, &excluded, &[("audit.path", &inside_root)])
            .expect_err("exposed")
            .to_string();
        assert!(
            exposed.contains("audit.path") && exposed.contains("inside the served root"),
            "{exposed}"
        );
        let not_yet = root.join("a/b/index");
        let refused = refuse_exposed(&roots, &excluded, &[("search.index_dir", &not_yet)])
            .expect_err("missing parents are still inside");
        assert!(
            refused.to_string().contains("search.index_dir"),
            "{refused}"
        );
        let linked = dir.path().join("link");
        std::os::unix::fs::symlink(&root, &linked).expect("symlink");
        let through_link = [linked];
        assert!(
            refuse_exposed(&through_link, &[], &[("search.index_dir", &inside_root)]).is_err(),
            "a root reaching the secret through a symlink"
        );
    }
}
