use prost_reflect::DescriptorPool;
use serde_json::json;

use super::*;

fn pool(source: &str) -> DescriptorPool {
    let directory = tempfile::tempdir().expect("dir");
    std::fs::write(directory.path().join("t.proto"), source).expect("write");
    let files = protox::Compiler::new([directory.path()])
        .expect("compiler")
        .include_source_info(true)
        .include_imports(true)
        .open_files(["t.proto"])
        .expect("compile")
        .file_descriptor_set();
    DescriptorPool::from_file_descriptor_set(files).expect("pool")
}

fn schema_of(pool: &DescriptorPool, name: &str) -> InputSchema {
    let message = pool.get_message_by_name(name).expect("message");
    input_schema(&message, &mut Comments::default())
}

#[test]
fn the_canonical_json_mapping_is_followed() {
    let pool = pool(
        r#"syntax = "proto3";
        package t;
        import "google/protobuf/timestamp.proto";
        import "google/protobuf/duration.proto";
        import "google/protobuf/struct.proto";
        import "google/protobuf/wrappers.proto";
        enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
        message Inner { string note = 1; }
        message Request {
          // The shelf to look at.
          string shelf_name = 1;
          int64 big = 2;
          bytes blob = 3;
          Color color = 4;
          map<string, Inner> by_name = 5;
          repeated uint32 counts = 6;
          google.protobuf.Timestamp at = 7;
          google.protobuf.Duration wait = 8;
          google.protobuf.Struct extra = 9;
          google.protobuf.Int32Value limit = 10;
          oneof choice { string a = 11; int32 b = 12; }
          optional string maybe = 13;
        }"#,
    );
    let schema = schema_of(&pool, "t.Request");
    assert_eq!(schema.degraded_opt, None);
    let properties = &schema.schema["properties"];
    assert_eq!(properties["shelfName"]["type"], "string");
    assert_eq!(
        properties["shelfName"]["description"],
        "The shelf to look at."
    );
    assert_eq!(properties["big"]["type"], json!(["string", "integer"]));
    assert_eq!(properties["big"]["pattern"], SIGNED_64_PATTERN);
    assert_eq!(properties["blob"]["contentEncoding"], "base64");
    assert_eq!(
        properties["color"]["enum"],
        json!(["COLOR_UNSPECIFIED", "RED"])
    );
    assert_eq!(
        properties["byName"]["additionalProperties"]["properties"]["note"]["type"],
        "string"
    );
    assert_eq!(properties["counts"]["items"]["type"], "integer");
    assert_eq!(properties["at"]["format"], "date-time");
    assert_eq!(properties["wait"]["type"], "string");
    assert_eq!(properties["extra"]["type"], "object");
    assert_eq!(properties["limit"]["type"], json!(["integer", "null"]));
    assert_eq!(properties["blob"]["type"], "string");
    assert_eq!(
        schema.schema["additionalProperties"], false,
        "messages are closed"
    );
    assert_eq!(
        properties["byName"]["additionalProperties"]["additionalProperties"], false,
        "a map is open, its message values closed"
    );
    assert_eq!(
        properties["extra"].get("additionalProperties"),
        None,
        "a Struct is open"
    );
    let exclusive = &schema.schema["allOf"];
    assert_eq!(
        exclusive.as_array().map(Vec::len),
        Some(1),
        "one real oneof, the optional is synthetic"
    );
    assert_eq!(exclusive[0]["oneOf"][0]["required"], json!(["a"]));
}

#[test]
fn hostile_shapes_give_bounded_schemas() {
    let mut fields = String::new();
    for number in 1..=10_000 {
        fields.push_str(&format!("string f{number} = {number};\n"));
    }
    let mut values = String::new();
    for number in 0..5_000 {
        values.push_str(&format!("V{number} = {number};\n"));
    }
    let pool = pool(&format!(
        r#"syntax = "proto3";
        package t;
        message Loop {{ Loop next = 1; repeated Loop many = 2; map<string, Loop> named = 3; }}
        message Wide {{ {fields} }}
        enum Huge {{ {values} }}
        message UsesHuge {{ Huge h = 1; }}"#
    ));
    let looped = schema_of(&pool, "t.Loop");
    assert!(
        looped.degraded_opt.is_some(),
        "recursion is cut and said so"
    );
    assert!(looped.schema.to_string().len() < 2_000_000);
    let wide = schema_of(&pool, "t.Wide");
    assert_eq!(wide.schema, json!({"type": "object"}));
    assert!(wide.degraded_opt.expect("said").contains("more than"));
    let huge = schema_of(&pool, "t.UsesHuge");
    assert_eq!(
        huge.schema["properties"]["h"]["type"],
        json!(["string", "integer"])
    );
}

#[test]
fn long_comments_are_cut() {
    // ASCII, then a two-byte character across the cut.
    let long = format!("{}é{}", "a".repeat(MAX_COMMENT_BYTES - 1), "b".repeat(100));
    let pool = pool(&format!(
        "syntax = \"proto3\";\npackage t;\nmessage M {{\n  // {long}\n  string a = 1;\n}}"
    ));
    let schema = schema_of(&pool, "t.M");
    let description = schema.schema["properties"]["a"]["description"]
        .as_str()
        .expect("described");
    assert!(
        description.len() <= MAX_COMMENT_BYTES + '…'.len_utf8(),
        "{}",
        description.len()
    );
    assert!(description.ends_with('…'));
}
