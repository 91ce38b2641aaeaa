//! The search service on a real on-disk index in a temporary directory:
//! BM25 with snippets, tags and pagination; vectors; hybrid fusion; deletes;
//! resources; errors; reopening after a restart; an embeddings endpoint
//! stand-in on loopback; the start-up crawl.

use axum::Json;
use axum::routing::post;
use micromcp_sdk::McpService;
use micromcp_search::{SearchConfig, SearchService};
use serde_json::{Value, json};

async fn call(
    service: &SearchService,
    name: &str,
    arguments: serde_json::Value,
) -> serde_json::Value {
    micromcp_sdk::call_tool_json(service, name, &arguments)
        .await
        .map_err(|error| error.to_string())
        .expect("call")
}

fn documents() -> Value {
    json!({"documents": [
        {"id": "rust", "title": "Rust", "body": "Rust is a systems programming language focused on safety and speed.", "tags": ["lang", "systems"], "vector": [1.0, 0.0, 0.0]},
        {"id": "python", "title": "Python", "body": "Python is a programming language that is easy to read.", "tags": ["lang"], "vector": [0.0, 1.0, 0.0]},
        {"id": "tantivy", "title": "Tantivy", "body": "Tantivy is a full-text search engine library written in Rust.", "tags": ["search"], "vector": [0.9, 0.0, 0.1]},
        {"id": "cooking", "title": "Pasta", "body": "Boil water, add salt and pasta.", "url": "https://example.org/pasta"}
    ]})
}

#[tokio::test]
async fn bm25_vectors_hybrid_and_deletes() {
    let directory = tempfile::tempdir().expect("tempdir");
    let service =
        SearchService::open(SearchConfig::new(directory.path().join("index"))).expect("open");
    let indexed = call(&service, "index", documents()).await;
    assert_eq!(indexed["structuredContent"]["indexed"], 4);

    let found = call(&service, "query", json!({"query": "programming language"})).await;
    let hits = &found["structuredContent"]["hits"];
    assert_eq!(found["structuredContent"]["total"], 2);
    assert!(
        hits[0]["snippet"]
            .as_str()
            .expect("snippet")
            .contains("<b>programming</b>")
    );

    let filtered = call(
        &service,
        "query",
        json!({"query": "language", "tags": ["systems"]}),
    )
    .await;
    assert_eq!(
        filtered["structuredContent"]["hits"]
            .as_array()
            .expect("hits")
            .len(),
        1
    );
    assert_eq!(filtered["structuredContent"]["hits"][0]["id"], "rust");

    let second_page = call(
        &service,
        "query",
        json!({"query": "language", "offset": 1, "limit": 1}),
    )
    .await;
    assert_eq!(
        second_page["structuredContent"]["hits"]
            .as_array()
            .expect("hits")
            .len(),
        1
    );
    assert_eq!(second_page["structuredContent"]["total"], 2);

    let phrase = call(&service, "query", json!({"query": "title:tantivy"})).await;
    assert_eq!(phrase["structuredContent"]["hits"][0]["id"], "tantivy");

    let similar = call(
        &service,
        "similar",
        json!({"vector": [1.0, 0.0, 0.05], "k": 2}),
    )
    .await;
    let ids: Vec<&str> = similar["structuredContent"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["rust", "tantivy"]);
    let by_id = call(&service, "similar", json!({"id": "python", "k": 1})).await;
    assert_eq!(by_id["structuredContent"]["hits"][0]["id"], "python");

    let hybrid = call(&service, "hybrid", json!({"query": "rust", "vector": [0.0, 1.0, 0.0], "k": 3, "bm25_weight": 1.0, "vector_weight": 0.2})).await;
    assert_eq!(hybrid["structuredContent"]["hits"][0]["id"], "rust");
    assert_eq!(hybrid["structuredContent"]["vector_used"], true);
    let semantic = call(&service, "hybrid", json!({"query": "rust", "vector": [0.0, 1.0, 0.0], "bm25_weight": 0.0, "vector_weight": 1.0})).await;
    assert_eq!(semantic["structuredContent"]["hits"][0]["id"], "python");

    call(&service, "delete", json!({"ids": ["rust"]})).await;
    let after = call(&service, "query", json!({"query": "rust"})).await;
    let remaining: Vec<&str> = after["structuredContent"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["id"].as_str().expect("id"))
        .collect();
    assert_eq!(remaining, ["tantivy"]);
    let stats = call(&service, "stats", json!({})).await;
    assert_eq!(stats["structuredContent"]["documents"], 3);
    assert_eq!(stats["structuredContent"]["vectors"], 2);
    assert_eq!(stats["structuredContent"]["dimensions"], 3);
}

#[tokio::test]
async fn errors_are_specific() {
    let directory = tempfile::tempdir().expect("tempdir");
    let service =
        SearchService::open(SearchConfig::new(directory.path().to_path_buf())).expect("open");
    call(&service, "index", documents()).await;
    let syntax = call(&service, "query", json!({"query": "title:"})).await;
    assert_eq!(syntax["isError"], true);
    let dimensions = call(&service, "similar", json!({"vector": [1.0, 0.0]})).await;
    assert!(
        dimensions["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("3")
    );
    let mismatch = call(
        &service,
        "index",
        json!({"documents": [{"id": "x", "vector": [1.0]}]}),
    )
    .await;
    assert_eq!(mismatch["isError"], true);
    let no_id = call(&service, "index", json!({"documents": [{"id": ""}]})).await;
    assert_eq!(no_id["isError"], true);
    let ambiguous = call(
        &service,
        "similar",
        json!({"vector": [1.0, 0.0, 0.0], "id": "rust"}),
    )
    .await;
    assert_eq!(ambiguous["isError"], true);
    let no_embedder = call(&service, "similar", json!({"text": "hello"})).await;
    assert!(
        no_embedder["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("embeddings")
    );
}

#[tokio::test]
async fn documents_survive_reopening_and_are_resources() {
    let directory = tempfile::tempdir().expect("tempdir");
    {
        let service =
            SearchService::open(SearchConfig::new(directory.path().to_path_buf())).expect("open");
        call(&service, "index", documents()).await;
    }
    let reopened =
        SearchService::open(SearchConfig::new(directory.path().to_path_buf())).expect("reopen");
    let found = call(
        &reopened,
        "similar",
        json!({"vector": [0.0, 1.0, 0.0], "k": 1}),
    )
    .await;
    assert_eq!(
        found["structuredContent"]["hits"][0]["id"], "python",
        "vectors reload from the index"
    );
    let resource = reopened
        .read_resource("search://doc/cooking".into())
        .await
        .map_err(|e| e.to_string())
        .expect("read");
    assert!(resource.header.is_text);
    assert!(
        reopened
            .read_resource("search://doc/missing".into())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn embeddings_endpoint_and_crawl() {
    // A deterministic stand-in: the vector counts vowels, consonants and spaces.
    let app = axum::Router::new().route(
        "/v1/embeddings",
        post(|Json(request): Json<Value>| async move {
            let data: Vec<Value> = request["input"]
                .as_array()
                .expect("input")
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    let text = text.as_str().expect("text").to_lowercase();
                    let vowels = text.chars().filter(|c| "aeiou".contains(*c)).count() as f32;
                    let spaces = text.chars().filter(|c| *c == ' ').count() as f32;
                    let others = text.len() as f32 - vowels - spaces;
                    json!({"index": index, "embedding": [vowels, others, spaces + 1.0]})
                })
                .collect();
            Json(json!({"data": data}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let directory = tempfile::tempdir().expect("tempdir");
    let files = directory.path().join("files");
    std::fs::create_dir_all(files.join(".git")).expect("mkdir");
    std::fs::write(files.join("notes.md"), "the quick brown fox").expect("write");
    std::fs::write(files.join(".git/HEAD"), "ignored").expect("write");
    std::fs::write(files.join("blob.bin"), [0u8, 1, 2]).expect("write");
    let mut config = SearchConfig::new(directory.path().join("index"));
    config.embeddings_url = Some(format!("http://{address}/v1/embeddings"));
    config.crawl_roots = vec![files.clone()];
    let service = SearchService::open(config).expect("open");
    call(&service, "index", json!({"documents": [{"id": "a", "title": "aaa", "body": "aeiou"}, {"id": "b", "title": "bbb", "body": "xyz"}]})).await;
    let similar = call(&service, "similar", json!({"text": "aaaa", "k": 1})).await;
    assert_eq!(similar["structuredContent"]["hits"][0]["id"], "a");

    service.start_crawl();
    let mut crawled = Value::Null;
    for _ in 0..100 {
        crawled = call(&service, "stats", json!({})).await;
        if crawled["structuredContent"]["crawl"]["finished"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        crawled["structuredContent"]["crawl"]["files_indexed"], 1,
        "{crawled}"
    );
    let fox = call(&service, "query", json!({"query": "fox", "tags": ["file"]})).await;
    assert_eq!(fox["structuredContent"]["hits"][0]["title"], "notes.md");
}
