//! Supervises service child processes: each is this same binary with a
//! service subcommand, restarted with exponential backoff when it exits,
//! killed by the kernel if we die (PR_SET_PDEATHSIG), and stopped with
//! SIGTERM (then SIGKILL after a grace period) on shutdown. A child starts
//! from a cleared environment: the machine's basics (the bridge's
//! [`micromcp_bridge::INHERITED_ENV`]), how to log and trace, and what its
//! spec adds — never the gateway's token or admin token.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A child to keep running.
pub struct ChildSpec {
    pub name: String,
    pub args: Vec<OsString>,
    /// Values the child reads as its environment, given on its stdin (a
    /// bridge's server spec with its credentials, a key): `child_env`.
    pub env: Vec<(String, String)>,
}

/// Variables of this process's environment every child gets besides the
/// machine's basics: how to log, and (every `OTEL_*`) where traces go.
const SERVICE_ENV: [&str; 3] = ["MICROMCP_LOG", "MICROMCP_LOG_FORMAT", "NO_COLOR"];
const SERVICE_ENV_PREFIX: &str = "OTEL_";

/// The variables `names` of this process's environment that are set (what
/// a child needs from it: a key, a credential its spec names).
pub fn from_parent<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    names
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), std::env::var(name).ok()?)))
        .collect()
}

const GRACE: Duration = Duration::from_secs(5);
/// The OpenTelemetry variable naming a process in its traces.
const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const STABLE_AFTER: Duration = Duration::from_secs(10);

fn command(spec: &ChildSpec) -> anyhow::Result<tokio::process::Command> {
    let program = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(program);
    let service_env = std::env::vars_os().filter(|(key, _)| {
        key.to_str()
            .is_some_and(|key| SERVICE_ENV.contains(&key) || key.starts_with(SERVICE_ENV_PREFIX))
    });
    command
        .args(&spec.args)
        .env_clear()
        .envs(micromcp_bridge::inherited_env())
        .envs(service_env);
    // Its secrets (a spec with credentials, a key) on stdin, never in its
    // environment (`child_env`).
    if !spec.env.is_empty() {
        command.env(crate::child_env::FROM_STDIN_ENV, "1");
    }
    // A trace service name given to `up` names its children after it
    // (`acme-fs`), not as the gateway.
    if let Ok(parent) = std::env::var(SERVICE_NAME_ENV)
        && !parent.trim().is_empty()
    {
        command.env(SERVICE_NAME_ENV, format!("{}-{}", parent.trim(), spec.name));
    }
    command
        .stdin(match spec.env.is_empty() {
            true => Stdio::null(),
            false => Stdio::piped(),
        })
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // A session of its own (stderr stays the operator's, for the log), no
    // descriptor above 2 of ours, SIGTERM when `up` dies.
    micromcp_sdk::isolate_child(&mut command, libc::SIGTERM);
    Ok(command)
}

#[allow(unsafe_code)]
fn terminate(child: &tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Makes this process adopt what its children leave behind (a bridged
/// server's grandchild in a session of its own, when its bridge was
/// killed) and kills it: the children it supervises are kept.
pub fn end_orphans_of_children() {
    micromcp_bridge::process_tree::become_subreaper();
    tokio::spawn(async {
        let mut suspects = std::collections::HashSet::new();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            suspects = tokio::task::spawn_blocking(move || {
                micromcp_bridge::process_tree::end_adopted(&suspects)
            })
            .await
            .unwrap_or_default();
        }
    });
}

/// Keeps `spec` running until `shutdown` fires.
pub fn supervise(spec: ChildSpec, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let spawned = command(&spec).and_then(|mut command| Ok(command.spawn()?));
            match spawned {
                Ok(mut child) => {
                    micromcp_bridge::process_tree::started_server(child.id());
                    tracing::info!(service = %spec.name, pid = child.id(), "service started");
                    if let Some(mut stdin) = child.stdin.take() {
                        let values = crate::child_env::encode(&spec.env);
                        tokio::spawn(async move {
                            use tokio::io::AsyncWriteExt;
                            // Dropped after: the child reads to the end.
                            let _ = stdin.write_all(&values).await;
                        });
                    }
                    tokio::select! {
                        status = child.wait() => {
                            tracing::warn!(service = %spec.name, status = ?status.ok(), "service exited; restarting");
                        }
                        () = shutdown.cancelled() => {
                            terminate(&child);
                            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                                let _ = child.kill().await;
                            }
                            return;
                        }
                    }
                }
                Err(error) => tracing::error!(service = %spec.name, %error, "cannot start service"),
            }
            if started.elapsed() > STABLE_AFTER {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}
