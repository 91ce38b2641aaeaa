//! A response body made of a few ready pieces, sent in order with an exact
//! `Content-Length`: list pages go out as envelope head, a shared slice of
//! the pre-rendered catalog and tail, without being copied into one buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The pieces still to send.
#[derive(Debug)]
pub struct PiecesBody {
    pieces: VecDeque<Bytes>,
    remaining: u64,
}

// === impl PiecesBody ===

impl PiecesBody {
    /// A body sending `pieces` one after another (empty ones are skipped).
    pub fn new(pieces: Vec<Bytes>) -> Self {
        let pieces: VecDeque<Bytes> = pieces
            .into_iter()
            .filter(|piece| !piece.is_empty())
            .collect();
        let remaining = pieces.iter().map(|piece| piece.len() as u64).sum();
        Self { pieces, remaining }
    }
}

impl Body for PiecesBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.pieces.pop_front();
        if let Some(piece) = &next {
            self.remaining -= piece.len() as u64;
        }
        Poll::Ready(next.map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn sends_the_pieces_in_order_with_their_exact_length() {
        let body = PiecesBody::new(vec![
            Bytes::from_static(b"{\"a\":["),
            Bytes::new(),
            Bytes::from_static(b"1,2"),
            Bytes::from_static(b"]}"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(11));
        let collected = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(&collected[..], b"{\"a\":[1,2]}");
    }
}
