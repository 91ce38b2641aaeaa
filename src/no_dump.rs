//! Makes this process non-dumpable (`PR_SET_DUMPABLE` 0) before it reads
//! any secret: another process of the same user (a bridged stdio server, a
//! tool it started) can then no longer read its environment
//! (`/proc/<pid>/environ`: the token, the admin token, a bridge's entry),
//! its memory, its open files or follow its working directory
//! (`/proc/<pid>/cwd`) — the kernel owns those entries to root and checks
//! them as it checks ptrace. No core dump is written either. A program a
//! child execs becomes dumpable again: that is the child's, not ours.

/// Marks the process non-dumpable; false when the kernel refused.
#[allow(unsafe_code)]
pub fn forbid() -> bool {
    // SAFETY: prctl with integer arguments only; touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 }
}
