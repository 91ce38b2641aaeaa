//! `private_home`: the home of a stdio server run as a user that has none
//! (`nobody`'s is `/nonexistent`). Runners such as npx and uvx keep their
//! caches under `$HOME` and fail without one, so such a server gets a
//! directory of its own: made with a random name under the system's
//! temporary directory (mode 0700, a name no one made first), handed to the user, kept for
//! every restart of the server (its caches stay warm) and removed when the
//! bridge ends ([`remove`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::RunAs;

/// The directories this process made, with the uid each belongs to.
static MADE: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());

/// The home `run_as` runs with: its own when that is a directory, else
/// the private one this process made for that uid (made on first use).
pub fn home_of(run_as: &RunAs) -> std::io::Result<PathBuf> {
    if std::fs::metadata(&run_as.home).is_ok_and(|metadata| metadata.is_dir()) {
        return Ok(run_as.home.clone());
    }
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = made
        .iter()
        .find(|(uid, path)| *uid == run_as.uid && path.is_dir())
    {
        return Ok(path.clone());
    }
    let path = make_private_directory(&std::env::temp_dir(), &run_as.name)?;
    if let Err(error) = std::os::unix::fs::chown(&path, Some(run_as.uid), Some(run_as.gid)) {
        let _ = std::fs::remove_dir(&path);
        return Err(error);
    }
    made.push((run_as.uid, path.clone()));
    Ok(path)
}

/// Removes the private homes this process made (when its bridge ends).
pub fn remove() {
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (_, path) in made.drain(..) {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// A new directory (0700) in `parent` under a random name: `mkdir` makes
/// it or fails, so a name someone made first (a directory, a symlink) is
/// never used — another name is tried.
fn make_private_directory(parent: &Path, user: &str) -> std::io::Result<PathBuf> {
    use std::hash::{BuildHasher, Hasher};
    use std::os::unix::fs::DirBuilderExt;
    let safe_user: String = user
        .chars()
        .filter(|character| character.is_ascii_alphanumeric() || *character == '-')
        .take(32)
        .collect();
    let mut last_error = None;
    for attempt in 0..16u32 {
        // RandomState is seeded from the system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        hasher.write_u32(std::process::id());
        let path = parent.join(format!(
            "micromcp-home-{safe_user}-{:016x}",
            hasher.finish()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                last_error = Some(error)
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_directory_is_new_and_only_its_owners() {
        use std::os::unix::fs::PermissionsExt;
        let parent = std::env::temp_dir();
        let first = make_private_directory(&parent, "no/body").expect("made");
        let second = make_private_directory(&parent, "no/body").expect("made");
        assert_ne!(first, second);
        let name = first
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("micromcp-home-nobody-"), "{name}");
        let mode = std::fs::metadata(&first)
            .expect("made")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::remove_dir(first).expect("removed");
        std::fs::remove_dir(second).expect("removed");
    }

    #[test]
    fn a_user_with_a_home_keeps_it() {
        let run_as = RunAs {
            uid: 65534,
            gid: 65534,
            name: "x".into(),
            home: std::env::temp_dir(),
        };
        assert_eq!(home_of(&run_as).expect("its home"), std::env::temp_dir());
    }
}
