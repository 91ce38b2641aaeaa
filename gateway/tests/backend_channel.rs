//! The HTTP/2 backend channel against real HTTP/2 servers on loopback
//! sockets: an answer's data and trailers arrive whole, a service that says
//! GOAWAY after each call is redialled transparently, a service that never
//! answers is cut at the call's `grpc-timeout`, and a refused dial is
//! `UNAVAILABLE`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use micromcp_gateway::backends::channel::channel_for;
use micromcp_gateway::config::Endpoint;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::body::Body;
use tower::ServiceExt;

/// What the test server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers `hello` plus a `grpc-status: 0` trailer, then closes the
    /// connection gracefully (GOAWAY) so the next call needs a new one.
    AnswerThenGoAway,
    /// Reads the request and never answers.
    Silent,
}

/// An HTTP/2 server on a loopback port; returns the port.
async fn serve(behaviour: Behaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    match behaviour {
                        Behaviour::AnswerThenGoAway => {
                            let _ = request.into_body().collect_all().await;
                            let answer = http::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(())
                                .expect("response");
                            let mut stream = respond.send_response(answer, false).expect("headers");
                            stream
                                .send_data(Bytes::from_static(b"hello"), false)
                                .expect("data");
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().expect("value"));
                            stream.send_trailers(trailers).expect("trailers");
                            connection.graceful_shutdown();
                        }
                        Behaviour::Silent => {
                            tokio::spawn(async move {
                                let _keep = (request, respond);
                                tokio::time::sleep(Duration::from_secs(30)).await;
                            });
                        }
                    }
                }
            });
        }
    });
    port
}

/// Reads a whole h2 request body.
trait CollectAll {
    async fn collect_all(self) -> Vec<u8>;
}

impl CollectAll for h2::RecvStream {
    async fn collect_all(mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(Ok(data)) = self.data().await {
            let _ = self.flow_control().release_capacity(data.len());
            all.extend_from_slice(&data);
        }
        all
    }
}

fn request(timeout_opt: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("/micromcp.v1.McpService/Probe")
        .header("content-type", "application/grpc");
    if let Some(timeout) = timeout_opt {
        builder = builder.header("grpc-timeout", timeout);
    }
    builder
        .body(Body::new(http_body_util::Full::new(Bytes::from_static(
            b"ping",
        ))))
        .expect("request")
}

/// The gRPC status a channel error carries.
fn code_of(error: &micromcp_gateway::backends::channel::ChannelError) -> Code {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(status) = cause.downcast_ref::<tonic::Status>() {
            return status.code();
        }
        source = cause.source();
    }
    panic!("no gRPC status in {error}");
}

#[tokio::test]
async fn answers_arrive_whole_and_goaway_is_redialled() {
    let port = serve(Behaviour::AnswerThenGoAway).await;
    let channel = channel_for(&Endpoint::Tcp(format!("http://127.0.0.1:{port}"))).expect("channel");
    // Every call after the first finds its connection closing (GOAWAY)
    // and must be sent on a fresh one without failing.
    for call in 0..5 {
        let answer = channel
            .clone()
            .oneshot(request(None))
            .await
            .expect("answer");
        assert_eq!(answer.status(), http::StatusCode::OK, "call {call}");
        let collected = answer.into_body().collect().await.expect("body");
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(
            trailers.get("grpc-status").map(|value| value.as_bytes()),
            Some(&b"0"[..])
        );
        assert_eq!(
            collected.to_bytes(),
            Bytes::from_static(b"hello"),
            "call {call}"
        );
    }
}

#[tokio::test]
async fn a_silent_service_is_cut_at_the_calls_deadline() {
    let port = serve(Behaviour::Silent).await;
    let channel = channel_for(&Endpoint::Tcp(format!("http://127.0.0.1:{port}"))).expect("channel");
    let started = Instant::now();
    let error = channel
        .oneshot(request(Some("300m")))
        .await
        .expect_err("deadline");
    let waited = started.elapsed();
    assert_eq!(code_of(&error), Code::DeadlineExceeded, "{error}");
    assert!(
        waited >= Duration::from_millis(300),
        "cut too early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "cut too late: {waited:?}");
}

#[tokio::test]
async fn a_refused_dial_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let channel = channel_for(&Endpoint::Tcp(format!("http://127.0.0.1:{port}"))).expect("channel");
    let error = channel.oneshot(request(None)).await.expect_err("refused");
    assert_eq!(code_of(&error), Code::Unavailable, "{error}");
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test]
async fn a_missing_socket_is_unavailable() {
    let directory = tempfile::tempdir().expect("temp dir");
    let channel =
        channel_for(&Endpoint::Unix(directory.path().join("absent.sock"))).expect("channel");
    let error = channel.oneshot(request(None)).await.expect_err("no socket");
    assert_eq!(code_of(&error), Code::Unavailable, "{error}");
}

#[tokio::test]
async fn calls_queued_behind_a_dial_that_timed_out_fail_together() {
    // A listener whose accept queue is full and never drained: the kernel
    // drops further SYNs, so a dial waits out the connect timeout (2 s)
    // like one to a black-holed address.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let full = socket.listen(1).expect("listen");
    let address = full.local_addr().expect("address");
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)).ok()
        })
        .collect();
    let channel = channel_for(&Endpoint::Tcp(format!("http://{address}"))).expect("channel");
    let started = Instant::now();
    let calls = (0..8).map(|_| channel.clone().oneshot(request(None)));
    let outcomes = futures::future::join_all(calls).await;
    let waited = started.elapsed();
    for outcome in outcomes {
        let error = outcome.expect_err("the dial cannot complete");
        assert_eq!(code_of(&error), Code::Unavailable, "{error}");
        assert!(error.to_string().contains("no answer within"), "{error}");
    }
    assert!(
        waited < Duration::from_secs(5),
        "queued calls each waited for a dial: {waited:?}"
    );
    drop((fillers, full));
}
