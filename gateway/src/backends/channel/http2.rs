//! gRPC over HTTP/2 to a TCP or Unix-socket service, driven straight
//! through `h2`. Each HTTP front thread (see `http::threads`) has its own
//! connection to each service, dialled from that thread so the connection's
//! I/O runs there too; every other thread (start-up, catalog watchers)
//! shares one more. Connections are dialled on first use, redialled after
//! they fail, and kept alive with pings.
//!
//! A call runs on the task that makes it: it takes a ready handle to the
//! connection, writes the request headers and (usually all of) the body,
//! and waits for the answer. Only the connection's own I/O runs on another
//! task. A general-purpose client (tonic's channel over hyper) passes each
//! call through a buffer task and a dispatch task and spawns one more per
//! call; those hand-offs were a tenth of the gateway's CPU per call.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use h2::client::{Connection, SendRequest};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::Status;
use tonic::body::Body;

use super::ChannelError;
pub use super::http2_call::grpc_timeout;
use super::http2_call::{send_body, status_from_h2};
use super::lanes::{LANES, current_lane};

/// Time allowed to open the socket and finish the HTTP/2 handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a failed dial's reason answers the calls that queued behind it
/// before the next call dials again.
const REDIAL_AFTER: Duration = Duration::from_millis(250);
/// Idle time after which the connection is probed with a PING.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Time a PING may go unanswered before the connection is dropped.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Flow-control windows. A stream may have 512 KiB in flight; the
/// connection 1 GiB, so streams whose client stopped reading (each holding
/// its whole window until it is cut) cannot use up the connection's window
/// and stall every other call on it — 2 048 of them would be needed, far
/// past `limits.max_streamed_reads`. (hyper's client defaults, 2 MiB and
/// 5 MiB, let three stalled resource reads stop a service for everyone.)
const STREAM_WINDOW: u32 = 512 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024 * 1024;
/// Largest header block accepted from a service.
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// Where a service listens.
#[derive(Debug, Clone)]
pub enum Target {
    /// `host:port`, resolved at each dial.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
    /// `host:port` behind TLS 1.3 (ALPN `h2`): the service's certificate
    /// checked against the configured CA for `server_name`, the gateway's
    /// own presented when configured (mTLS).
    Tls {
        address: String,
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    },
}

/// A clonable gRPC channel to one service over HTTP/2.
#[derive(Clone)]
pub struct Http2Channel {
    shared: Arc<Shared>,
}

/// What every clone of one channel shares.
struct Shared {
    target: Target,
    /// Authority written into every request's URI (scheme: `http`).
    authority: Authority,
    /// A connection slot per front thread, then the shared one.
    lanes: Box<[Lane]>,
}

/// One connection slot.
struct Lane {
    /// The live connection, if any, with the generation that dialled it.
    live: Mutex<Option<Live>>,
    /// Held while dialling so concurrent calls share one new connection.
    dialling: tokio::sync::Mutex<DialState>,
}

/// What the last dial of a lane left behind.
#[derive(Default)]
struct DialState {
    /// The last generation handed out.
    generation: u64,
    /// When and why the last dial failed, if it did.
    last_failure: Option<(Instant, String)>,
}

/// A connection's request handle and the generation that identifies it.
#[derive(Clone)]
struct Live {
    generation: u64,
    sender: SendRequest<Bytes>,
}

/// A connection handle ready to open one stream (see
/// [`Http2Channel::ready`]); nothing has been sent on it yet.
pub struct Ready(SendRequest<Bytes>);

// === impl Http2Channel ===

impl Http2Channel {
    /// A channel to `target`; nothing is dialled yet. `authority` is the
    /// `:authority` sent with each request.
    pub fn new(target: Target, authority: Authority) -> Self {
        Self {
            shared: Arc::new(Shared {
                target,
                authority,
                lanes: (0..LANES)
                    .map(|_| Lane {
                        live: Mutex::new(None),
                        dialling: tokio::sync::Mutex::new(DialState::default()),
                    })
                    .collect(),
            }),
        }
    }

    /// A handle ready to open a stream on the calling thread's connection,
    /// dialling one if there is none. It fails only before anything of a
    /// request is sent, so a caller with other endpoints may try another.
    pub async fn ready(&self) -> Result<Ready, Status> {
        self.shared.ready_sender(current_lane()).await.map(Ready)
    }

    /// Sends `request` on a ready handle and waits for the answer's
    /// headers (no deadline of its own: see [`within_deadline`]).
    pub async fn send(
        &self,
        ready: Ready,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Status> {
        self.shared.send(ready.0, request).await
    }
}

impl tower::Service<http::Request<Body>> for Http2Channel {
    type Response = http::Response<Body>;
    type Error = ChannelError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    /// Always ready: a call waits for the connection (and for the
    /// service's stream limit) inside its own future.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            within_deadline(grpc_timeout(request.headers()), async move {
                let sender = shared.ready_sender(current_lane()).await?;
                shared.send(sender, request).await
            })
            .await
            .map_err(|status| ChannelError(status.into()))
        })
    }
}

/// Runs `call` within `limit` (its `grpc-timeout` header's), if any.
pub async fn within_deadline<T>(
    limit: Option<Duration>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "no answer within the call's deadline ({limit:?})"
            )))
        }),
        None => call.await,
    }
}

// === impl Shared ===

impl Shared {
    /// Sends one request on a ready connection handle and waits for the
    /// answer's headers; the answer's body streams as the service writes it.
    async fn send(
        &self,
        mut sender: SendRequest<Bytes>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Status> {
        let (mut head, body) = request.into_parts();
        head.uri = self.absolute(&head.uri)?;
        let end_of_stream = http_body::Body::is_end_stream(&body);
        let (answer, stream) = sender
            .send_request(http::Request::from_parts(head, ()), end_of_stream)
            .map_err(|error| status_from_h2(&error))?;
        if !end_of_stream {
            send_body(body, stream).await;
        }
        let answer = answer.await.map_err(|error| status_from_h2(&error))?;
        Ok(answer.map(super::http2_call::answer_body))
    }

    /// The request's path under this channel's scheme and authority.
    fn absolute(&self, uri: &Uri) -> Result<Uri, Status> {
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|error| Status::internal(format!("request URI: {error}")))
    }

    /// A handle ready to open a stream: the live connection's, or a new
    /// connection's when there is none or the live one has gone (a service
    /// that restarted or said GOAWAY is redialled once, transparently).
    async fn ready_sender(self: &Arc<Self>, lane: usize) -> Result<SendRequest<Bytes>, Status> {
        let mut last_error = None;
        for _ in 0..2 {
            let live = match self.live_connection(lane) {
                Some(live) => live,
                // Boxed: dialling (connect, TLS and h2 handshakes) held
                // inline would size every call's future, and each call's
                // future is moved into a box on the way (a copy per call).
                None => Box::pin(self.dial(lane)).await?,
            };
            match live.sender.ready().await {
                Ok(sender) => return Ok(sender),
                Err(error) => {
                    self.forget(lane, live.generation);
                    last_error = Some(status_from_h2(&error));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Status::unavailable("connection lost")))
    }

    fn live_connection(&self, lane: usize) -> Option<Live> {
        self.lanes[lane]
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops the lane's connection of `generation` if it is still live.
    fn forget(&self, lane: usize, generation: u64) {
        let mut live = self.lanes[lane]
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if live
            .as_ref()
            .is_some_and(|live| live.generation == generation)
        {
            *live = None;
        }
    }

    /// Opens a connection (unless another call just did) and makes it live.
    ///
    /// Calls that queued behind a dial that just failed fail at once with
    /// its reason rather than each waiting out a dial of its own (a
    /// black-holed address would otherwise cost every queued call the
    /// connect timeout in turn).
    async fn dial(self: &Arc<Self>, lane: usize) -> Result<Live, Status> {
        let mut state = self.lanes[lane].dialling.lock().await;
        if let Some(live) = self.live_connection(lane) {
            return Ok(live);
        }
        if let Some((failed_at, reason)) = &state.last_failure
            && failed_at.elapsed() < REDIAL_AFTER
        {
            return Err(Status::unavailable(reason.clone()));
        }
        state.generation += 1;
        let generation = state.generation;
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(lane, generation)).await;
        let failure = match opened {
            Ok(Ok(sender)) => {
                state.last_failure = None;
                let live = Live { generation, sender };
                *self.lanes[lane]
                    .live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(live.clone());
                return Ok(live);
            }
            Ok(Err(error)) => format!("cannot connect to {}: {error}", self.target),
            Err(_) => format!(
                "cannot connect to {}: no answer within {CONNECT_TIMEOUT:?}",
                self.target
            ),
        };
        state.last_failure = Some((Instant::now(), failure.clone()));
        Err(Status::unavailable(failure))
    }

    /// Socket, HTTP/2 handshake, and the task that drives the connection.
    async fn connect(
        self: &Arc<Self>,
        lane: usize,
        generation: u64,
    ) -> Result<SendRequest<Bytes>, DialError> {
        match &self.target {
            Target::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address.as_str()).await?;
                stream.set_nodelay(true)?;
                self.handshake(stream, lane, generation).await
            }
            Target::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await?;
                self.handshake(stream, lane, generation).await
            }
            Target::Tls {
                address,
                config,
                server_name,
            } => {
                let stream = tokio::net::TcpStream::connect(address.as_str()).await?;
                stream.set_nodelay(true)?;
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(server_name.clone(), stream)
                    .await?;
                self.handshake(stream, lane, generation).await
            }
        }
    }

    async fn handshake<T>(
        self: &Arc<Self>,
        io: T,
        lane: usize,
        generation: u64,
    ) -> Result<SendRequest<Bytes>, DialError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake::<T, Bytes>(io)
            .await?;
        tokio::spawn(drive(connection, Arc::downgrade(self), lane, generation));
        Ok(sender)
    }
}

/// Runs one connection until it fails, the service closes it, a keep-alive
/// PING goes unanswered, or every handle to it is gone; then forgets it so
/// the next call dials afresh.
async fn drive<T>(
    mut connection: Connection<T, Bytes>,
    shared: Weak<Shared>,
    lane: usize,
    generation: u64,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let ping_pong = connection.ping_pong();
    let outcome = tokio::select! {
        outcome = &mut connection => outcome.err().map(|error| error.to_string()),
        silent = keep_alive(ping_pong) => Some(silent),
    };
    if let Some(shared) = shared.upgrade() {
        shared.forget(lane, generation);
        if let Some(reason) = outcome {
            tracing::debug!(target = %shared.target, %reason, "backend connection closed");
        }
    }
}

/// Resolves (with the reason) once a keep-alive PING fails or goes
/// unanswered; pending forever when the connection has no ping handle.
async fn keep_alive(ping_pong: Option<h2::PingPong>) -> String {
    let Some(mut ping_pong) = ping_pong else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(KEEP_ALIVE_INTERVAL).await;
        match tokio::time::timeout(KEEP_ALIVE_TIMEOUT, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return format!("keep-alive ping failed: {error}"),
            Err(_) => return format!("keep-alive ping unanswered for {KEEP_ALIVE_TIMEOUT:?}"),
        }
    }
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP/2 handshake: {0}")]
    Handshake(#[from] h2::Error),
}

// === impl Target ===

impl std::fmt::Display for Target {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(address) => write!(formatter, "{address}"),
            Self::Unix(path) => write!(formatter, "unix:{}", path.display()),
            Self::Tls { address, .. } => write!(formatter, "https://{address}"),
        }
    }
}
