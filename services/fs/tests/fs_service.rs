//! The fs service against real files in a temporary directory: every refusal
//! class (traversal, outside roots, symlink escape, not found, wrong kind,
//! binary, too large) and the happy paths, through the `McpService` trait.

use std::collections::HashMap;
use std::path::Path;

use futures::StreamExt;
use micromcp_fs::{FsConfig, FsError, FsService, RootSet};
use micromcp_sdk::McpService;

struct Fixture {
    _outside: tempfile::TempDir,
    root: tempfile::TempDir,
    service: FsService,
}

fn fixture(configure: impl FnOnce(&mut FsConfig)) -> Fixture {
    let root = tempfile::tempdir().expect("root");
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(root.path().join("hello.txt"), "hello world\n").expect("write");
    std::fs::create_dir(root.path().join("sub")).expect("mkdir");
    std::fs::write(root.path().join("sub/a.rs"), "fn main() {}\n").expect("write");
    std::fs::write(root.path().join("sub/b.md"), "# b\n").expect("write");
    std::fs::write(root.path().join("bin.dat"), [0u8, 159, 146, 150]).expect("write");
    std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        root.path().join("escape"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(
        root.path().join("hello.txt"),
        root.path().join("inside-link"),
    )
    .expect("symlink");
    let mut config = FsConfig::with_roots(vec![root.path().to_path_buf()]);
    configure(&mut config);
    let service = FsService::new(config).expect("service");
    Fixture {
        _outside: outside,
        root,
        service,
    }
}

fn roots(path: &Path) -> RootSet {
    RootSet::new(&[path.to_path_buf()], &[]).expect("roots")
}

#[test]
fn traversal_outside_and_symlink_escapes_are_refused_distinctly() {
    let fixture = fixture(|_| {});
    let roots = roots(fixture.root.path());
    assert!(matches!(roots.resolve("../x"), Err(FsError::Traversal(_))));
    assert!(matches!(
        roots.resolve("sub/../../x"),
        Err(FsError::Traversal(_))
    ));
    assert!(matches!(
        roots.resolve("/etc/passwd"),
        Err(FsError::OutsideRoots(_))
    ));
    assert!(matches!(
        roots.resolve("escape"),
        Err(FsError::SymlinkEscape(_))
    ));
    assert!(matches!(
        roots.resolve("missing.txt"),
        Err(FsError::NotFound(_))
    ));
    assert!(matches!(
        roots.resolve("a\0b"),
        Err(FsError::InvalidArgument(_))
    ));
    let inside = roots
        .resolve("inside-link")
        .expect("symlink inside the root is fine");
    assert_eq!(inside.display, "hello.txt");
    assert_eq!(roots.resolve("sub/./a.rs").expect("ok").display, "sub/a.rs");
}

#[test]
fn error_messages_never_name_the_resolved_target() {
    let fixture = fixture(|_| {});
    let error = roots(fixture.root.path())
        .resolve("escape")
        .expect_err("refused");
    assert!(!error.to_string().contains("secret"));
}

async fn call(service: &FsService, name: &str, arguments: serde_json::Value) -> serde_json::Value {
    micromcp_sdk::call_tool_json(service, name, &arguments)
        .await
        .map_err(|error| error.to_string())
        .expect("call")
}

fn test_events() -> (micromcp_sdk::ToolEvents, ()) {
    (micromcp_sdk::ToolEvents::detached(), ())
}

#[tokio::test]
async fn tools_work_and_refusals_are_tool_errors() {
    let fixture = fixture(|config| config.max_read_bytes = 5);
    let service = &fixture.service;
    let listing = call(service, "list_dir", serde_json::json!({})).await;
    let names: Vec<_> = listing["structuredContent"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(names.contains(&"hello.txt".to_owned()) && names.contains(&"sub".to_owned()));

    let read = call(
        service,
        "read_file",
        serde_json::json!({"path": "hello.txt", "offset": 6}),
    )
    .await;
    assert_eq!(read["content"][0]["text"], "world");
    assert!(
        read["content"][1]["text"]
            .as_str()
            .expect("note")
            .contains("truncated")
    );

    let binary = call(service, "read_file", serde_json::json!({"path": "bin.dat"})).await;
    assert_eq!(binary["isError"], true);

    let escape = call(service, "read_file", serde_json::json!({"path": "escape"})).await;
    assert_eq!(escape["isError"], true);
    assert!(
        escape["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("symlink")
    );

    let directory = call(service, "read_file", serde_json::json!({"path": "sub"})).await;
    assert_eq!(directory["isError"], true);

    let found = call(
        service,
        "search_files",
        serde_json::json!({"pattern": "**/*.rs"}),
    )
    .await;
    assert_eq!(
        found["structuredContent"]["matches"],
        serde_json::json!(["sub/a.rs"])
    );

    let bad_glob = call(
        service,
        "search_files",
        serde_json::json!({"pattern": "a[" }),
    )
    .await;
    assert_eq!(bad_glob["isError"], true);

    let stat = call(service, "stat", serde_json::json!({"path": "sub/b.md"})).await;
    assert_eq!(stat["structuredContent"]["size"], 4);
}

#[tokio::test]
async fn unknown_arguments_are_invalid() {
    let fixture = fixture(|_| {});
    let (events, _) = test_events();
    let outcome = fixture
        .service
        .call_tool(
            micromcp_sdk::ToolCall {
                name: "stat".into(),
                arguments_json: "{\"paht\": \"x\"}".into(),
                request_id: "t".into(),
                principal: "test".into(),
                readable_sources_opt: None,
                upstream_token_opt: None,
            },
            events,
        )
        .await;
    assert!(matches!(
        outcome,
        Err(micromcp_sdk::ServiceError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn resources_stream_in_chunks_and_respect_caps() {
    let fixture = fixture(|config| config.max_resource_bytes = 200_000);
    let big = vec![b'x'; 150_000];
    std::fs::write(fixture.root.path().join("big.txt"), &big).expect("write");
    let root = fixture.service.roots().primary().to_path_buf();
    let uri = format!("file://{}/big.txt", root.display());
    let content = fixture
        .service
        .read_resource(uri)
        .await
        .map_err(|e| e.to_string())
        .expect("open");
    assert!(content.header.is_text);
    assert_eq!(content.header.size, Some(150_000));
    let chunks: Vec<_> = content.chunks.collect().await;
    assert_eq!(chunks.len(), 3);
    let total: usize = chunks
        .iter()
        .map(|chunk| chunk.as_ref().expect("chunk").len())
        .sum();
    assert_eq!(total, 150_000);

    std::fs::write(fixture.root.path().join("huge.txt"), vec![b'y'; 300_000]).expect("write");
    let huge = format!("file://{}/huge.txt", root.display());
    let refused = fixture
        .service
        .read_resource(huge)
        .await
        .err()
        .expect("too large");
    assert!(refused.to_string().contains("too large"));

    let escape = format!("file://{}/escape", root.display());
    let refused = fixture
        .service
        .read_resource(escape)
        .await
        .err()
        .expect("escape");
    assert!(matches!(
        refused,
        micromcp_sdk::ServiceError::PermissionDenied(_)
    ));
}

#[tokio::test]
async fn prompt_and_completion() {
    let fixture = fixture(|_| {});
    let prompt = fixture
        .service
        .get_prompt(
            "summarize_file".into(),
            HashMap::from([("path".into(), "hello.txt".into())]),
        )
        .await
        .map_err(|e| e.to_string())
        .expect("prompt");
    let prompt: serde_json::Value = serde_json::from_slice(&prompt).expect("json");
    assert_eq!(
        prompt["messages"][1]["content"]["resource"]["text"],
        "hello world\n"
    );
    let completion = fixture
        .service
        .complete(micromcp_proto::CompleteRequest {
            reference: Some(micromcp_proto::complete_request::Reference::PromptName(
                "summarize_file".into(),
            )),
            argument_name: "path".into(),
            argument_value: "su".into(),
            context_arguments: HashMap::new(),
        })
        .await
        .map_err(|e| e.to_string())
        .expect("complete");
    assert_eq!(completion.values, vec!["sub/".to_owned()]);
}
