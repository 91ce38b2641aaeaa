//! The fetch service against real HTTP servers on loopback that the test
//! starts: allowed fetches, redirects in and out of the allowlist, SSRF
//! address refusals (names resolving to loopback, tricky IP literals), size
//! and time caps, header allowlist, HTML to Markdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use micromcp_fetch::{FetchConfig, FetchService};
use micromcp_sdk::{McpService, ToolCall, ToolEvents};
use serde_json::{Value, json};

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/text", get(|| async { "plain text body" }))
        .route(
            "/page",
            get(|| async {
                Html("<html><body><h1>Title</h1><p>Some <b>bold</b> text.</p></body></html>")
            }),
        )
        .route("/hop", get(|| async { Redirect::temporary("/text") }))
        .route(
            "/away",
            get(|| async { Redirect::temporary("http://evil.invalid/steal") }),
        )
        .route(
            "/metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data") }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/huge",
            get(|| async {
                let chunks =
                    futures::stream::iter((0..64).map(|_| {
                        Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024]))
                    }));
                Response::new(Body::from_stream(chunks))
            }),
        )
        .route(
            "/huge-declared",
            get(|| async { vec![b'y'; 2 * 1024 * 1024].into_response() }),
        )
        .route(
            "/slow",
            get(|| async {
                let chunks = futures::stream::unfold(0, |step| async move {
                    if step == 3 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"tick ")),
                        step + 1,
                    ))
                });
                Response::new(Body::from_stream(chunks))
            }),
        )
        .route(
            "/binary",
            get(|| async { ([("content-type", "image/png")], vec![0u8, 1, 2]) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    address
}

fn service(configure: impl FnOnce(&mut FetchConfig)) -> FetchService {
    let mut config = FetchConfig::with_domains(vec![
        "127.0.0.1".into(),
        "localhost".into(),
        "169.254.169.254".into(),
    ]);
    config.allow_private_addresses = true;
    config.max_bytes = 1024 * 1024;
    config.timeout = Duration::from_secs(2);
    configure(&mut config);
    FetchService::new(&config).expect("service")
}

async fn call(
    service: &FetchService,
    name: &str,
    arguments: serde_json::Value,
) -> serde_json::Value {
    micromcp_sdk::call_tool_json(service, name, &arguments)
        .await
        .map_err(|error| error.to_string())
        .expect("call")
}

fn error_text(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "expected an error: {result}");
    result["content"][0]["text"].as_str().expect("text")
}

#[tokio::test]
async fn allowed_fetches_and_redirects_within_the_allowlist() {
    let address = serve().await;
    let service = service(|_| {});
    let text = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/text")}),
    )
    .await;
    assert_eq!(text["content"][0]["text"], "plain text body");
    assert_eq!(text["structuredContent"]["status"], 200);
    let hopped = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/hop")}),
    )
    .await;
    assert_eq!(
        hopped["structuredContent"]["url"],
        format!("http://{address}/text")
    );
    let markdown = call(
        &service,
        "get_markdown",
        json!({"url": format!("http://{address}/page")}),
    )
    .await;
    let markdown = markdown["content"][0]["text"].as_str().expect("markdown");
    assert!(
        markdown.contains("# Title") && markdown.contains("**bold**"),
        "{markdown}"
    );
}

#[tokio::test]
async fn redirects_out_of_the_allowlist_are_refused() {
    let address = serve().await;
    let service = service(|config| config.allow_private_addresses = false);
    let strict_local = service;
    // Even the first hop to loopback is refused without allow_private_addresses.
    let refused = call(
        &strict_local,
        "get",
        json!({"url": format!("http://{address}/text")}),
    )
    .await;
    assert!(error_text(&refused).contains("loopback"), "{refused}");

    let permissive = self::service(|_| {});
    let away = call(
        &permissive,
        "get",
        json!({"url": format!("http://{address}/away")}),
    )
    .await;
    let message = error_text(&away);
    assert!(
        message.contains("redirect to") && message.contains("not on the fetch allowlist"),
        "{message}"
    );
    let looping = call(
        &permissive,
        "get",
        json!({"url": format!("http://{address}/loop")}),
    )
    .await;
    assert!(error_text(&looping).contains("too many redirects"));
}

#[tokio::test]
async fn redirect_to_cloud_metadata_is_refused_by_address() {
    let address = serve().await;
    // Loopback is allowed for the test server, but 169.254.x is link-local.
    let mut config = FetchConfig::with_domains(vec!["127.0.0.1".into(), "169.254.169.254".into()]);
    config.allow_private_addresses = false;
    let strict = FetchService::new(&config).expect("service");
    let refused = call(
        &strict,
        "get",
        json!({"url": "http://169.254.169.254/latest/meta-data"}),
    )
    .await;
    assert!(error_text(&refused).contains("link-local"));
    let _ = address;
}

#[tokio::test]
async fn hostile_urls_are_refused() {
    let everything = service(|config| {
        config.allow_private_addresses = false;
        config.allow_domains = vec![
            "127.0.0.1".into(),
            "0.0.0.0".into(),
            "[::ffff:7f00:1]".into(),
            "localhost".into(),
            "[::1]".into(),
        ];
    });
    for (url, expected) in [
        ("http://2130706433/", "loopback"),
        ("http://0/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::1]:1/", "loopback"),
        ("http://localhost:1/", "loopback"),
        ("ftp://127.0.0.1/", "scheme"),
        ("http://user:pass@127.0.0.1/", "credentials"),
        ("http://not-listed.example/", "not on the fetch allowlist"),
        ("not a url", "invalid URL"),
    ] {
        let result = call(&everything, "get", json!({"url": url})).await;
        assert!(error_text(&result).contains(expected), "{url}: {result}");
    }
    let empty = FetchService::new(&FetchConfig::with_domains(Vec::new())).expect("service");
    let result = call(&empty, "get", json!({"url": "https://docs.rs/"})).await;
    assert!(error_text(&result).contains("not on the fetch allowlist"));
}

#[tokio::test]
async fn size_and_time_caps() {
    let address = serve().await;
    let service = service(|_| {});
    let huge = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/huge")}),
    )
    .await;
    assert!(error_text(&huge).contains("larger than the 1048576-byte limit"));
    let declared = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/huge-declared")}),
    )
    .await;
    assert!(error_text(&declared).contains("larger than"));
    let slow = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/slow")}),
    )
    .await;
    assert!(error_text(&slow).contains("timed out after 2 s"));
    let binary = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/binary")}),
    )
    .await;
    assert!(error_text(&binary).contains("not text"));
}

#[tokio::test]
async fn only_allowed_headers_and_arguments() {
    let address = serve().await;
    let service = service(|_| {});
    let refused = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/text"), "headers": {"Cookie": "a=b"}}),
    )
    .await;
    assert!(error_text(&refused).contains("may not be set"));
    let accepted = call(
        &service,
        "get",
        json!({"url": format!("http://{address}/text"), "headers": {"Accept": "text/plain"}}),
    )
    .await;
    assert_eq!(accepted["content"][0]["text"], "plain text body");
    let unknown = service
        .call_tool(
            ToolCall {
                name: "get".into(),
                arguments_json: r#"{"uri":"x"}"#.into(),
                request_id: "t".into(),
                principal: "p".into(),
                readable_sources_opt: None,
                upstream_token_opt: None,
            },
            ToolEvents::detached(),
        )
        .await;
    assert!(unknown.is_err());
}
