//! Crawled documents are shown only while their files are as indexed: a
//! file edited during a run (its mtime put back, its size kept) or deleted
//! is left out of queries, hybrid hits and resources at once, and the
//! edited one is indexed again in the background.

use std::time::Duration;

use micromcp_sdk::McpService;
use micromcp_search::{SearchConfig, SearchService};
use serde_json::{Value, json};

async fn call(service: &SearchService, name: &str, arguments: Value) -> Value {
    micromcp_sdk::call_tool_json(service, name, &arguments)
        .await
        .map_err(|error| error.to_string())
        .expect("call")
}

async fn titles(service: &SearchService, tool: &str, word: &str) -> Vec<Value> {
    let found = call(service, tool, json!({"query": word})).await;
    found["structuredContent"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["title"].clone())
        .collect()
}

#[tokio::test]
async fn edited_and_deleted_files_are_not_shown_from_the_index() {
    let directory = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(directory.path().join("files")).expect("mkdir");
    let files = directory
        .path()
        .join("files")
        .canonicalize()
        .expect("canonical");
    let (edited, deleted) = (files.join("edited.txt"), files.join("deleted.txt"));
    std::fs::write(&edited, "token wombat1111 here").expect("write");
    std::fs::write(&deleted, "token quagga2222 here").expect("write");
    let mut config = SearchConfig::new(directory.path().join("index"));
    config.crawl_roots = vec![files.clone()];
    let service = SearchService::open(config).expect("open");
    service.start_crawl();
    for _ in 0..200 {
        let stats = call(&service, "stats", json!({})).await;
        if stats["structuredContent"]["crawl"]["finished"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        titles(&service, "query", "wombat1111").await,
        ["edited.txt"]
    );
    assert_eq!(
        titles(&service, "query", "quagga2222").await,
        ["deleted.txt"]
    );

    let modified = std::fs::metadata(&edited)
        .expect("stat")
        .modified()
        .expect("mtime");
    std::fs::write(&edited, "token dingo33333 here").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&edited)
        .and_then(|file| file.set_modified(modified))
        .expect("mtime put back");
    std::fs::remove_file(&deleted).expect("remove");

    for tool in ["query", "hybrid"] {
        assert!(
            titles(&service, tool, "wombat1111").await.is_empty(),
            "{tool}"
        );
        assert!(
            titles(&service, tool, "quagga2222").await.is_empty(),
            "{tool}"
        );
    }
    for path in [&edited, &deleted] {
        let uri = format!("search://doc/{}", micromcp_sdk::file_uri(path));
        assert!(
            service.read_resource(uri).await.is_err(),
            "{}",
            path.display()
        );
    }
    let mut found = Vec::new();
    for _ in 0..200 {
        found = titles(&service, "query", "dingo33333").await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found, ["edited.txt"], "indexed again");
    assert!(titles(&service, "query", "quagga2222").await.is_empty());
}
