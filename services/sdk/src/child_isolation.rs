//! Isolation of a child process at exec, shared by everything that starts
//! one (the bridge's stdio servers, the services `up` supervises): a
//! session of its own, no descriptor above 2 of the parent's, and a signal
//! when the parent dies.

/// Makes `command`'s child start in a session of its own (no controlling
/// terminal of the operator's: no TIOCSTI, no reading what is typed; out of
/// the operator's process group), with every descriptor above 2 marked
/// close-on-exec (marked, not closed, so std's exec-error pipe still
/// reports a failed exec), and sent `death_signal` when its parent dies,
/// even by SIGKILL.
#[allow(unsafe_code)]
pub fn isolate_child(command: &mut tokio::process::Command, death_signal: libc::c_int) {
    // SAFETY: setsid, close_range and prctl are async-signal-safe system
    // calls on the child's own state; the closure touches no memory of the
    // parent's but the copied signal number.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, death_signal);
            Ok(())
        });
    }
}
