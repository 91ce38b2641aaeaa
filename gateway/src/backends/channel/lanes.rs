//! Which backend connection a thread sends on. Each HTTP front thread (see
//! `http::threads`) pins itself to a lane of its own, so its calls go out on
//! connections dialled from that thread, whose I/O then runs there too;
//! every other thread (start-up, catalog watchers) shares the last lane.
//! [`PerLane`] gives any channel this shape by building one per lane on
//! first use, from the thread that will use it.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tower::{Service, ServiceExt};

use super::{BackendChannel, ChannelError};
use crate::error::GatewayError;

/// Front threads with lanes of their own (more share them in turn).
const PINNED_LANES: usize = 64;
/// Lanes per channel: the pinned ones, then the shared one.
pub const LANES: usize = PINNED_LANES + 1;

thread_local! {
    /// The lane of a front thread; `None` on every other thread.
    static PINNED_LANE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Makes the calling thread (front thread `index`) send on lanes of its own.
pub fn pin_thread_to_lane(index: usize) {
    PINNED_LANE.with(|lane| lane.set(Some(index % PINNED_LANES)));
}

/// The lane the calling thread sends on: its own, or the shared last one.
pub fn current_lane() -> usize {
    PINNED_LANE.with(Cell::get).unwrap_or(PINNED_LANES)
}

/// Builds a channel for a lane; called on the thread that will use it.
type MakeChannel = dyn Fn() -> Result<BackendChannel, GatewayError> + Send + Sync;

/// A channel per lane, each built on first use by the thread of that lane
/// (for QUIC: its own UDP endpoint and connection, driven on that thread).
#[derive(Clone)]
pub struct PerLane {
    make: Arc<MakeChannel>,
    lanes: Arc<[Mutex<Option<BackendChannel>>]>,
}

// === impl PerLane ===

impl PerLane {
    /// `shared` serves the shared lane; `make` builds the others.
    pub fn new(shared: BackendChannel, make: Arc<MakeChannel>) -> Self {
        let lanes: Arc<[Mutex<Option<BackendChannel>>]> = (0..LANES)
            .map(|lane| Mutex::new((lane == PINNED_LANES).then(|| shared.clone())))
            .collect();
        Self { make, lanes }
    }

    /// The calling thread's channel, built now if this is its first call.
    fn channel(&self) -> Result<BackendChannel, GatewayError> {
        let mut slot = self.lanes[current_lane()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = slot.as_ref() {
            return Ok(channel.clone());
        }
        let channel = (self.make)()?;
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

impl Service<http::Request<Body>> for PerLane {
    type Response = http::Response<Body>;
    type Error = ChannelError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    /// Always ready: the lane's channel is chosen (and waited on) per call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.channel() {
            Ok(channel) => Box::pin(channel.oneshot(request)),
            Err(error) => {
                let status = Status::unavailable(error.to_string());
                Box::pin(async move { Err(ChannelError(status.into())) })
            }
        }
    }
}
