//! An answer's body on an HTTP/2 connection, handed to hyper in pieces of
//! at most [`HTTP2_PIECE`] bytes: hyper takes the next piece only once the
//! stream has flow-control credit for it, so each piece taken pays its
//! bytes to the connection's ledger ([`ConnectionLedger::taken_from_body`]),
//! and a client that grants no credit leaves its answers charged — held
//! against the bounds and timed by [`ConnectionLedger::stalled`] — instead
//! of paid while they sit in hyper's send buffer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::unwritten::{ConnectionLedger, HTTP2_PIECE};

/// `inner`, handed out in pieces that pay as they are taken.
pub struct PaidBody {
    inner: Body,
    /// The rest of the last data frame, not yet handed out.
    rest: Bytes,
    ledger: Arc<ConnectionLedger>,
}

// === impl PaidBody ===

impl PaidBody {
    pub fn new(inner: Body, ledger: Arc<ConnectionLedger>) -> Self {
        Self {
            inner,
            rest: Bytes::new(),
            ledger,
        }
    }

    fn piece(&mut self) -> Frame<Bytes> {
        let piece = self.rest.split_to(self.rest.len().min(HTTP2_PIECE));
        self.ledger.taken_from_body(piece.len());
        Frame::data(piece)
    }
}

impl http_body::Body for PaidBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.rest.is_empty() {
            return Poll::Ready(Some(Ok(self.piece())));
        }
        match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    self.rest = data;
                    Poll::Ready(Some(Ok(self.piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => Poll::Ready(other),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}
