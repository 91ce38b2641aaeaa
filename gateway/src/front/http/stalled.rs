//! A client connection's socket as hyper sees it, watched on the write
//! side: every byte the client's socket takes is reported to the
//! connection's [`ConnectionLedger`] (the answers it still holds), and a
//! write that makes no progress for `limits.stalled_reader_timeout_secs`
//! fails, which makes hyper drop the connection and everything it held — a
//! client that stops reading its answers (plain or streamed) costs a
//! bounded time as well as bounded bytes. Reads pass through untouched.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::unwritten::ConnectionLedger;

/// `inner` with its writes counted and timed.
pub struct StalledWriter<S> {
    inner: S,
    ledger: Arc<ConnectionLedger>,
    stall_after: Duration,
    /// Running while a write waits on the client.
    stalled_opt: Option<Pin<Box<Sleep>>>,
}

// === impl StalledWriter ===

impl<S> StalledWriter<S> {
    pub fn new(inner: S, ledger: Arc<ConnectionLedger>, stall_after: Duration) -> Self {
        Self {
            inner,
            ledger,
            stall_after,
            stalled_opt: None,
        }
    }

    /// The write is waiting on the client: an error once it has waited
    /// `stall_after` with no progress.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let stall_after = self.stall_after;
        let stalled = self
            .stalled_opt
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall_after)));
        ready!(stalled.as_mut().poll(cx));
        tracing::debug!(
            stalled_secs = stall_after.as_secs(),
            "client stopped reading its answers; connection closed"
        );
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client took no bytes within limits.stalled_reader_timeout_secs",
        )))
    }

    fn progressed(&mut self, written: usize) {
        self.stalled_opt = None;
        self.ledger.written(written);
    }
}

impl<S> Drop for StalledWriter<S> {
    fn drop(&mut self) {
        self.ledger.close();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StalledWriter<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StalledWriter<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                self.progressed(written);
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(written)) => {
                self.progressed(written);
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.stalled_opt = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => self.waiting(cx),
        }
    }
}
