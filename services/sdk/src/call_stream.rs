//! `CallStream`: the gRPC response stream of one `CallTool`, which drives
//! the call's work itself as the transport polls it — no task spawned per
//! call and no hop between tasks: the events and the outcome the work sends
//! are read from its channel in the same poll. Dropping the stream (the
//! gateway cancelled, or the connection went) drops the work with it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

/// A call's messages, with the work that sends them.
pub(crate) struct CallStream<T> {
    /// The call's work, until it ends.
    work_opt: Option<BoxFuture<'static, ()>>,
    messages: mpsc::Receiver<T>,
}

// === impl CallStream ===

impl<T> CallStream<T> {
    pub(crate) fn new(work: BoxFuture<'static, ()>, messages: mpsc::Receiver<T>) -> Self {
        Self {
            work_opt: Some(work),
            messages,
        }
    }
}

impl<T> Stream for CallStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(work) = self.work_opt.as_mut()
            && work.as_mut().poll(context).is_ready()
        {
            self.work_opt = None;
        }
        // Ends once the work and every copy of its sender are gone.
        self.messages.poll_recv(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn the_work_runs_as_the_stream_is_read_and_the_stream_ends_with_it() {
        let (sender, receiver) = mpsc::channel(4);
        let work = Box::pin(async move {
            for message in 1..=3 {
                let _ = sender.send(message).await;
                tokio::task::yield_now().await;
            }
        });
        let read: Vec<u32> = CallStream::new(work, receiver).collect().await;
        assert_eq!(read, [1, 2, 3]);
    }

    #[tokio::test]
    async fn dropping_the_stream_drops_the_work() {
        let (sender, receiver) = mpsc::channel::<u32>(4);
        let (dropped_sender, dropped) = tokio::sync::oneshot::channel::<()>();
        let work = Box::pin(async move {
            let _guard = dropped_sender;
            let _keep = sender;
            std::future::pending::<()>().await;
        });
        let mut stream = CallStream::new(work, receiver);
        assert!(futures::poll!(stream.next()).is_pending());
        drop(stream);
        assert!(
            dropped.await.is_err(),
            "the work's guard went with the stream"
        );
    }
}
