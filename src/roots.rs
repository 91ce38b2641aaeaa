//! The directories fs serves and search crawls, from `--root`: checked at
//! start (one clear error, not a service that restarts in a loop); `up`
//! defaults to its working directory, `stdio` has no default.

use std::path::PathBuf;

/// The directories fs serves and search crawls: those given, or the
/// current directory; each must be a directory (one clear error at start,
/// not a service that restarts in a loop).
pub fn served_roots(roots: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if roots.is_empty() {
        return Ok(vec![PathBuf::from(".")]);
    }
    for root in roots {
        match std::fs::metadata(root) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => anyhow::bail!("--root {}: not a directory", root.display()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("--root {}: no such directory", root.display())
            }
            Err(error) => anyhow::bail!("--root {}: {error}", root.display()),
        }
    }
    Ok(roots.to_vec())
}

/// The directories `stdio` serves: only those named with `--root`, each an
/// absolute path. Its working directory is the desktop client's choice
/// (often `/` or the home directory), never a default to serve, nor what a
/// relative root (`.`) or `/proc/self/cwd` would resolve against.
pub fn stdio_roots(roots: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if roots.is_empty() {
        anyhow::bail!(
            "micromcp stdio needs --root DIR (the directory to serve read-only; repeatable): it does not serve its working directory, which desktop clients often set to / or your home directory"
        );
    }
    for root in roots {
        let through_proc = root.starts_with("/proc") || root.starts_with("/dev/fd");
        if !root.is_absolute() || through_proc {
            anyhow::bail!(
                "--root {}: micromcp stdio needs an absolute path (e.g. /home/you/project): a relative root, or one under /proc or /dev/fd, resolves against its working directory, which desktop clients often set to / or your home directory",
                root.display()
            );
        }
    }
    served_roots(roots)
}
