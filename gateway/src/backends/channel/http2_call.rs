//! One gRPC call's streams on an HTTP/2 connection: writing the request
//! body, reading the answer's body and trailers, the call's deadline from
//! its `grpc-timeout` header, and h2 failures as gRPC statuses.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::{Code, Status};

/// Writes the request body. Frames the body already holds (for the
/// gateway's calls: the whole request) are written at once on the calling
/// task; if the body is still open after that (a call that relays the
/// client's answers to input requests), a task writes the rest as it comes
/// and stops when the service resets the stream.
///
/// The data is written without waiting for send capacity: the gateway's
/// request bodies are already in memory (tool arguments under the body cap,
/// relayed answers one at a time), so waiting would only delay them; h2
/// holds what the stream's window does not yet allow.
pub async fn send_body(mut body: Body, mut stream: SendStream<Bytes>) {
    let open =
        std::future::poll_fn(|cx| Poll::Ready(write_ready_frames(&mut body, &mut stream, cx)))
            .await;
    if open {
        tokio::spawn(async move {
            loop {
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return,
                };
                if !write_frame(&mut stream, frame) {
                    return;
                }
            }
        });
    }
}

/// Writes every frame the body has ready; true while the body is still
/// open (it has no more frames yet).
fn write_ready_frames(
    body: &mut Body,
    stream: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
) -> bool {
    loop {
        match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Pending => return true,
            Poll::Ready(frame) => {
                if !write_frame(stream, frame) {
                    return false;
                }
            }
        }
    }
}

/// Writes one body frame (or the end of the body); false once the stream
/// is finished, reset or failed.
fn write_frame(
    stream: &mut SendStream<Bytes>,
    frame: Option<Result<Frame<Bytes>, Status>>,
) -> bool {
    match frame {
        None => {
            let _ = stream.send_data(Bytes::new(), true);
            false
        }
        Some(Err(status)) => {
            tracing::debug!(%status, "request body failed; cancelling the call");
            stream.send_reset(Reason::CANCEL);
            false
        }
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => stream.send_data(data, false).is_ok(),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => {
                    let _ = stream.send_trailers(trailers);
                    false
                }
                Err(_) => true,
            },
        },
    }
}

/// The answer's body for tonic's decoder.
pub fn answer_body(recv: RecvStream) -> Body {
    Body::new(AnswerBody {
        recv,
        data_done: false,
    })
}

/// An answer's DATA frames, then its trailers (where gRPC puts the status).
struct AnswerBody {
    recv: RecvStream,
    data_done: bool,
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Handing the bytes on frees their window: the service
                    // may send more. Backpressure comes from not polling.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(status_from_h2(&error)))),
                None => self.data_done = true,
            }
        }
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(status_from_h2(&error)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// An h2 failure as the gRPC status a client should see: a lost or closing
/// connection is `UNAVAILABLE` (retry elsewhere or later); a stream reset
/// maps as gRPC's HTTP/2 mapping says.
pub fn status_from_h2(error: &h2::Error) -> Status {
    let code = if error.is_io() || error.is_go_away() {
        Code::Unavailable
    } else {
        match error.reason() {
            Some(Reason::REFUSED_STREAM) => Code::Unavailable,
            Some(Reason::CANCEL) => Code::Cancelled,
            Some(Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
            Some(Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
            Some(_) => Code::Internal,
            None => Code::Unknown,
        }
    };
    Status::new(code, format!("HTTP/2: {error}"))
}

/// The call's deadline from its `grpc-timeout` header (up to eight digits
/// and a unit: `H`, `M`, `S`, `m`, `u`, `n`), if it has a valid one.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("header value"));
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        assert_eq!(timeout_of("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout_of("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout_of("300S"), Some(Duration::from_secs(300)));
        assert_eq!(timeout_of("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(timeout_of("300000000u"), None, "nine digits are refused");
        assert_eq!(timeout_of("30000000u"), Some(Duration::from_secs(30)));
        assert_eq!(timeout_of("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for value in ["", "S", "10", "10s", "1.5S", "-1S", "10 S"] {
            assert_eq!(timeout_of(value), None, "{value:?}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn h2_failures_map_to_grpc_codes() {
        let code = |reason| status_from_h2(&h2::Error::from(reason)).code();
        assert_eq!(code(Reason::REFUSED_STREAM), Code::Unavailable);
        assert_eq!(code(Reason::CANCEL), Code::Cancelled);
        assert_eq!(code(Reason::ENHANCE_YOUR_CALM), Code::ResourceExhausted);
        assert_eq!(code(Reason::PROTOCOL_ERROR), Code::Internal);
    }
}
