//! Secrets kept on disk: created with mode 0600 in a 0700 directory if
//! missing, read back on later starts so sessions survive restarts (only
//! when the file is this uid's own, never through a link: `owned_file`).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::owned_file;

/// Reads a hex key of `N` bytes from `path`, creating a random one if absent.
pub fn load_or_create_key<const N: usize>(path: &Path) -> Result<[u8; N], String> {
    if let Some(text) = owned_file::read_to_string(path).map_err(|error| error.to_string())? {
        let bytes =
            hex::decode(text.trim()).map_err(|_| format!("{}: not a hex key", path.display()))?;
        return bytes
            .try_into()
            .map_err(|_| format!("{}: expected a {N}-byte key", path.display()));
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("{}: {error}", parent.display()))?;
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
    }
    let key: [u8; N] = std::array::from_fn(|_| rand::random());
    let mut file = owned_file::create_new(path).map_err(|error| error.to_string())?;
    file.write_all(hex::encode(key).as_bytes())
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_with_private_permissions() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("sub/key");
        let first: [u8; 32] = load_or_create_key(&path).expect("create");
        let second: [u8; 32] = load_or_create_key(&path).expect("read");
        assert_eq!(first, second);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
