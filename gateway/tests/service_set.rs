//! The set of services changing at run time (`Backends::apply`), against
//! two real fs services on loopback: an unchanged service keeps its backend
//! (connections, stack, catalog), a changed one is replaced under the same
//! name index, a removed one leaves the merged catalog (and its index means
//! no service, never another one), and a service added back gets its old
//! index again.

use std::sync::Arc;
use std::time::Duration;

use micromcp_gateway::backends::pins::ToolPins;
use micromcp_gateway::backends::{Backends, SetChanges};
use micromcp_gateway::config::{RawConfig, ServiceConfig, parse_toml};
use tokio::net::TcpListener;

/// An fs service serving a directory with one file named `file`; its port.
async fn fs_service(file: &str) -> (u16, tempfile::TempDir) {
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join(file), "x").expect("file");
    let service = micromcp_fs::FsService::new(micromcp_fs::FsConfig::with_roots(vec![
        root.path().to_path_buf(),
    ]))
    .expect("fs service");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(micromcp_sdk::serve(
        Arc::new(service),
        micromcp_sdk::Listener::Tcp(listener),
        micromcp_sdk::ServeOptions::default(),
        std::future::pending(),
    ));
    (port, root)
}

fn services(entries: &[(&str, &str, u16)]) -> Vec<ServiceConfig> {
    let mut text = String::from("version = 1\n");
    for (name, namespace, port) in entries {
        text.push_str(&format!(
            "[[services]]\nname = \"{name}\"\nnamespace = \"{namespace}\"\nendpoint = \"http://127.0.0.1:{port}\"\n"
        ));
    }
    let raw: RawConfig = parse_toml(&text).expect("toml");
    raw.validate(Some("a-token-long-enough-0123456789"))
        .expect("valid")
        .services
}

fn has_tool(backends: &Backends, name: &str) -> bool {
    backends.catalog().tool_at(name).is_some()
}

#[tokio::test]
async fn services_are_kept_replaced_removed_and_added_back() {
    let (one, _one_root) = fs_service("one.txt").await;
    let (two, _two_root) = fs_service("two.txt").await;
    let backends = Backends::new(
        &services(&[("a", "a", one), ("b", "b", two)]),
        ".",
        &[],
        ToolPins::open(None).expect("pins"),
    )
    .expect("backends");
    let shutdown = tokio_util::sync::CancellationToken::new();
    backends.spawn_watchers(&shutdown);
    assert!(
        backends
            .wait_for_catalogs(Duration::from_secs(10))
            .await
            .is_empty()
    );
    assert!(has_tool(&backends, "a.read_file") && has_tool(&backends, "b.read_file"));
    let kept_before = backends.named("a").expect("a");
    let b_index = backends.named("b").expect("b").index;

    // b moves to another namespace; a is untouched.
    let changes = backends
        .apply(&services(&[("a", "a", one), ("b", "bee", two)]))
        .expect("apply");
    assert_eq!(
        changes,
        SetChanges {
            replaced: vec!["b".into()],
            ..SetChanges::default()
        }
    );
    assert!(Arc::ptr_eq(&kept_before, &backends.named("a").expect("a")));
    assert_eq!(backends.named("b").expect("b").index, b_index);
    assert!(
        backends
            .wait_for_catalog_of("b", Duration::from_secs(10))
            .await
    );
    assert!(has_tool(&backends, "bee.read_file") && !has_tool(&backends, "b.read_file"));

    // b goes: its tools leave the catalog, its index holds no service.
    let changes = backends
        .apply(&services(&[("a", "a", one)]))
        .expect("apply");
    assert_eq!(changes.removed, vec!["b".to_owned()]);
    assert!(!has_tool(&backends, "bee.read_file") && has_tool(&backends, "a.read_file"));
    assert!(backends.service(b_index).is_none());
    assert_eq!(backends.services().len(), 1);

    // c is new (a fresh index); b comes back to its own.
    let changes = backends
        .apply(&services(&[
            ("a", "a", one),
            ("c", "c", two),
            ("b", "b", two),
        ]))
        .expect("apply");
    assert_eq!(changes.added, vec!["c".to_owned(), "b".to_owned()]);
    assert_eq!(backends.named("b").expect("b").index, b_index);
    assert!(backends.named("c").expect("c").index > b_index);
    assert!(
        backends
            .wait_for_catalogs(Duration::from_secs(10))
            .await
            .is_empty()
    );
    assert!(has_tool(&backends, "c.read_file") && has_tool(&backends, "b.read_file"));
    shutdown.cancel();
}
