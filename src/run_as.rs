//! The user an `mcpServers` entry's `"user"` names (or `bridge --user`):
//! looked up in the system's user database (a name, or a numeric uid) into
//! the ids, name and home its stdio server runs with. Running a server as
//! another user needs this process to be root; naming our own user is a
//! no-op that is allowed, except root: uid 0 is refused however spelt.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use micromcp_bridge::RunAs;

/// Why a `user` cannot be run as.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunAsError {
    #[error("user {0:?}: no such user")]
    Unknown(String),
    #[error("user {0:?}: running a server as another user needs micromcp started as root")]
    NotRoot(String),
    #[error(
        "user {0:?}: is root (uid 0); a server never runs as root this way, name an unprivileged user (e.g. \"nobody\")"
    )]
    Root(String),
    #[error("user {0:?}: cannot read the user database: {1}")]
    Lookup(String, String),
}

/// `user`'s ids, name and home; refused when this process may not switch to it.
pub fn resolve(user: &str) -> Result<RunAs, RunAsError> {
    let run_as = lookup(user)?.ok_or_else(|| RunAsError::Unknown(user.to_owned()))?;
    let euid = effective_uid();
    if euid != 0 && euid != run_as.uid {
        return Err(RunAsError::NotRoot(user.to_owned()));
    }
    // `root`, `0`, `+0`, `00`: every spelling of uid 0.
    if run_as.uid == 0 {
        return Err(RunAsError::Root(user.to_owned()));
    }
    Ok(run_as)
}

/// True when this process runs as root.
pub fn is_root() -> bool {
    effective_uid() == 0
}

#[allow(unsafe_code)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments and always succeeds.
    unsafe { libc::geteuid() }
}

/// The passwd entry of a name or numeric uid (`None`: no such user).
#[allow(unsafe_code)]
fn lookup(user: &str) -> Result<Option<RunAs>, RunAsError> {
    let failed = |error: String| RunAsError::Lookup(user.to_owned(), error);
    let name = CString::new(user).map_err(|_| failed("a NUL in the name".into()))?;
    let mut buffer = vec![0_u8; 16 * 1024];
    // SAFETY: an all-zero passwd is valid (null pointers, zero ids); it is
    // only read after getpw*_r filled it.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the right type and the
    // buffer's length is passed with it; the results point into `buffer`.
    let code = unsafe {
        match user.parse::<u32>() {
            Ok(uid) => libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            ),
            Err(_) => libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            ),
        }
    };
    if code != 0 {
        return Err(failed(std::io::Error::from_raw_os_error(code).to_string()));
    }
    if found.is_null() {
        return Ok(None);
    }
    // SAFETY: getpw*_r succeeded: pw_name and pw_dir are NUL-terminated
    // strings inside `buffer`, alive here.
    let (name, home) = unsafe {
        (
            CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned(),
            CStr::from_ptr(entry.pw_dir).to_string_lossy().into_owned(),
        )
    };
    Ok(Some(RunAs {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
        name,
        home: PathBuf::from(home),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_by_name_and_by_uid() {
        let by_name = lookup("root").expect("lookup").expect("root exists");
        assert_eq!(
            (by_name.uid, by_name.gid, by_name.name.as_str()),
            (0, 0, "root")
        );
        assert_eq!(lookup("0").expect("lookup"), Some(by_name));
    }

    #[test]
    fn uid_zero_is_refused_however_spelt() {
        for user in ["root", "0", "+0", "00"] {
            let error = resolve(user).expect_err("uid 0");
            let expected = match is_root() {
                true => RunAsError::Root(user.into()),
                false => RunAsError::NotRoot(user.into()),
            };
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn an_unknown_user_is_named() {
        let error = resolve("no-such-user-micromcp").expect_err("unknown");
        assert_eq!(error, RunAsError::Unknown("no-such-user-micromcp".into()));
        assert!(matches!(lookup("a\0b"), Err(RunAsError::Lookup(..))));
    }
}
