//! The process tree of the stdio servers a bridge runs ends with the bridge.
//! Each server starts in a session of its own (no controlling terminal, out
//! of the operator's process group), so a server that forks and calls
//! `setsid` would otherwise escape every signal sent to it: the bridge is
//! made a child subreaper, so such orphans become its children, and
//! [`end_descendants`] kills every process below the bridge when it shuts
//! down and before a server is started again (a bridge runs one stdio
//! server at a time: what is left below it is the previous one's tree). Orphans that exit on their own are reaped ([`reap_orphans`]); the
//! servers themselves (direct children) stay tokio's to wait for.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Pids of the servers the bridge started (tokio waits for those).
static SERVERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`).
#[allow(unsafe_code)]
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments; touches no memory of ours.
    let failed = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0;
    if failed {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot become a child subreaper: a server's orphans may outlive the bridge"
        );
    }
}

/// Records a server's pid (not reaped by [`reap_orphans`]).
pub fn started_server(pid_opt: Option<u32>) {
    if let (Some(pid), Ok(mut servers)) = (pid_opt, SERVERS.lock()) {
        servers.retain(|known| std::path::Path::new(&format!("/proc/{known}")).exists());
        servers.push(pid);
    }
}

/// (pid, parent pid, state) of every process in `/proc`.
fn processes() -> Vec<(u32, u32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let parent = fields.next()?.parse().ok()?;
            Some((pid, parent, state))
        })
        .collect()
}

/// Every process below `root` (children first found, then theirs).
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, parent, _) in processes() {
        children.entry(parent).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            if seen.insert(*child) {
                found.push(*child);
                next.push(*child);
            }
        }
    }
    found
}

/// Kills every process below the bridge (the servers, what they forked,
/// and orphans it adopted), a few rounds for processes forked meanwhile.
#[allow(unsafe_code)]
pub fn end_descendants() {
    let own = std::process::id();
    for _ in 0..5 {
        let below = descendants(own);
        if below.is_empty() {
            return;
        }
        for pid in below {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) of a process below this one.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        reap_orphans();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for adopted orphans that exited (zombies whose parent is the
/// bridge and that are not a server).
#[allow(unsafe_code)]
pub fn reap_orphans() {
    let own = std::process::id();
    let servers = SERVERS
        .lock()
        .map(|servers| servers.clone())
        .unwrap_or_default();
    for (pid, parent, state) in processes() {
        if parent == own
            && state == 'Z'
            && !servers.contains(&pid)
            && let Ok(pid) = i32::try_from(pid)
        {
            // SAFETY: waitpid(2) of one exited child, status not kept.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// Kills what was adopted: processes whose parent is this one, that are no
/// server it started, and were already seen so on the `suspects` scan
/// before (a process just started is recorded microseconds later); with
/// everything below them. Returns this scan's suspects for the next.
#[allow(unsafe_code)]
pub fn end_adopted(suspects: &HashSet<u32>) -> HashSet<u32> {
    let own = std::process::id();
    let servers = SERVERS
        .lock()
        .map(|servers| servers.clone())
        .unwrap_or_default();
    let adopted: HashSet<u32> = processes()
        .into_iter()
        .filter(|(pid, parent, state)| *parent == own && *state != 'Z' && !servers.contains(pid))
        .map(|(pid, _, _)| pid)
        .collect();
    for pid in adopted.intersection(suspects) {
        for below in std::iter::once(*pid).chain(descendants(*pid)) {
            if let Ok(below) = i32::try_from(below) {
                // SAFETY: kill(2) of a process below this one.
                unsafe {
                    libc::kill(below, libc::SIGKILL);
                }
            }
        }
    }
    reap_orphans();
    adopted
}

/// Asks the process `pid` — a child not yet reaped, so the id names no
/// other process — to end (`SIGTERM`).
#[allow(unsafe_code)]
pub fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}
