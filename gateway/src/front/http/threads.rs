//! The HTTP front's threads: one single-threaded runtime per core, each
//! accepting on its own `SO_REUSEPORT` listener of the same address (the
//! kernel spreads new connections over them) and sending to services on
//! its own backend connections. A request is handled start to finish on
//! the thread that accepted it: no work stealing, no cross-thread wake-ups,
//! no contention for a shared connection.
//!
//! `SO_REUSEPORT` lets only sockets of the same user share the port, so
//! another user cannot take a share of the gateway's connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use crate::front::limits::{ConnectionLimits, connection_limits};
use crate::gateway::Gateway;

/// Pending connections each listener queues.
const BACKLOG: u32 = 1024;

/// The running front: its address and its threads.
pub struct Front {
    /// The bound address (the real port when `:0` was asked for).
    pub address: SocketAddr,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

/// Binds `listen` on `threads` threads and serves until `shutdown`; each
/// thread drains its own connections gracefully. Fails when the address
/// cannot be bound.
pub fn start(
    gateway: &Arc<Gateway>,
    listen: SocketAddr,
    threads: usize,
    shutdown: &CancellationToken,
) -> std::io::Result<Front> {
    refuse_if_taken(listen)?;
    let limits = connection_limits(&gateway.config.limits);
    let mut address = listen;
    let mut handles = Vec::with_capacity(threads);
    for index in 0..threads.max(1) {
        let (bound_sender, bound) = std::sync::mpsc::channel();
        let gateway = gateway.clone();
        let stop = shutdown.clone();
        let limits = limits.clone();
        let handle = std::thread::Builder::new()
            .name(format!("micromcp-http-{index}"))
            .spawn(move || serve_thread(index, gateway, address, limits, stop, &bound_sender))?;
        // The first thread binds what was asked (perhaps port 0); the
        // others join the port it got.
        let started = bound.recv().unwrap_or_else(|_| {
            Err(std::io::Error::other(format!(
                "HTTP thread {index} ended before binding"
            )))
        });
        match started {
            Ok(local) => address = local,
            Err(error) => {
                shutdown.cancel();
                return Err(error);
            }
        }
        handles.push(handle);
    }
    Ok(Front {
        address,
        threads: handles,
    })
}

// === impl Front ===

impl Front {
    /// Waits until every thread has drained and stopped; the first error
    /// any of them met.
    pub async fn wait(self) -> std::io::Result<()> {
        let threads = self.threads;
        tokio::task::spawn_blocking(move || {
            let mut outcome = Ok(());
            for thread in threads {
                let ended = thread
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("HTTP thread panicked")));
                if outcome.is_ok() {
                    outcome = ended;
                }
            }
            outcome
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// One front thread: its runtime, its listener, its backend lane. How
/// starting went (the bound address or the error) goes to `bound`.
fn serve_thread(
    index: usize,
    gateway: Arc<Gateway>,
    address: SocketAddr,
    limits: Arc<ConnectionLimits>,
    shutdown: CancellationToken,
    bound: &std::sync::mpsc::Sender<std::io::Result<SocketAddr>>,
) -> std::io::Result<()> {
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            let listener = {
                let _context = runtime.enter();
                listen(address)?
            };
            Ok((runtime, listener))
        });
    let (runtime, listener) = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = bound.send(Err(error));
            return Ok(());
        }
    };
    let _ = bound.send(listener.local_addr());
    runtime.block_on(async move {
        crate::backends::channel::pin_thread_to_lane(index);
        super::serve_within(gateway, listener, limits, shutdown.cancelled_owned()).await
    })
}

/// Fails when another socket already listens on `address`. The front's own
/// listeners share their port (`SO_REUSEPORT`), and so would a second
/// gateway's, which would then silently take half the connections; a plain
/// bind first (it conflicts with any listener, shared or not) refuses that.
fn refuse_if_taken(address: SocketAddr) -> std::io::Result<()> {
    if address.port() == 0 {
        return Ok(());
    }
    let probe = std::net::TcpListener::bind(address).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(
                error.kind(),
                format!("address in use: another process listens on {address}"),
            )
        } else {
            error
        }
    })?;
    drop(probe);
    Ok(())
}

/// A listener on `address` that shares the port with the other threads'.
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}
