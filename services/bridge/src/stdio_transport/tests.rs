use super::*;
use rmcp::model::{CallToolRequest, CallToolRequestParams, CancelledNotificationParam};
use serde_json::json;

fn ids_with(id: i64) -> CallIds {
    let ids = CallIds::default();
    let request = TxJsonRpcMessage::<RoleClient>::request(
        ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("echo"))),
        RequestId::Number(id),
    );
    track(&ids, &request);
    ids
}

/// A message as JSON, to compare: rmcp's message types have no `==`.
fn as_json(message: &ServerJsonRpcMessage) -> serde_json::Value {
    serde_json::to_value(message).expect("serialisable")
}

fn rmcp_parse(line: &str) -> serde_json::Value {
    as_json(&serde_json::from_str(line).expect("rmcp parses it"))
}

fn parsed(line: &str, ids: &CallIds) -> ServerJsonRpcMessage {
    match parse_line(line.as_bytes(), ids) {
        Parsed::Message(message) => *message,
        Parsed::Skip => panic!("skipped: {line}"),
        Parsed::Invalid => panic!("invalid: {line}"),
    }
}

#[test]
fn a_tool_call_answer_is_parsed_directly_as_rmcp_would() {
    let ids = ids_with(7);
    let line = json!({"jsonrpc": "2.0", "id": 7, "result": {
        "content": [{"type": "text", "text": "hi"}], "structuredContent": {"a": 1},
        "isError": false, "_meta": {"k": "v"}}})
    .to_string();
    let message = parsed(&format!("{line}\r\n"), &ids);
    assert!(matches!(
        &message,
        JsonRpcMessage::Response(response)
            if matches!(response.result, ServerResult::CallToolResult(_))
    ));
    assert_eq!(as_json(&message), rmcp_parse(&line));
    assert!(
        ids.lock().expect("ids").is_empty(),
        "the id is forgotten once answered"
    );
}

#[test]
fn other_answers_and_messages_take_rmcp_parse_unchanged() {
    let ids = ids_with(1);
    let lines = [
        // Not one of our calls' ids: a list's answer.
        json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}),
        // Our call's id, but a round asking for input (2026-07-28).
        json!({"jsonrpc": "2.0", "id": 1, "result": {"resultType": "input_required",
            "inputRequests": {"q": {"method": "elicitation/create", "params": {
                "message": "name?", "requestedSchema": {"type": "object", "properties": {}}}}}}}),
        json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad"}}),
        json!({"jsonrpc": "2.0", "method": "notifications/progress",
            "params": {"progressToken": "t", "progress": 1}}),
        json!({"jsonrpc": "2.0", "id": "s1", "method": "ping"}),
    ];
    for line in lines {
        let line = line.to_string();
        assert_eq!(as_json(&parsed(&line, &ids)), rmcp_parse(&line), "{line}");
    }
}

#[test]
fn a_cancelled_call_is_forgotten() {
    let ids = ids_with(3);
    let cancelled = TxJsonRpcMessage::<RoleClient>::notification(
        ClientNotification::CancelledNotification(rmcp::model::Notification::new(
            CancelledNotificationParam::new(Some(RequestId::Number(3)), None),
        )),
    );
    track(&ids, &cancelled);
    assert!(ids.lock().expect("ids").is_empty());
}

#[test]
fn lines_that_are_no_message_are_skipped_or_refused() {
    let ids = CallIds::default();
    for line in ["", "\r", "not json", r#"{"jsonrpc":"2.0","method":7}"#] {
        assert!(
            matches!(parse_line(line.as_bytes(), &ids), Parsed::Skip),
            "{line:?}"
        );
    }
    let request_of_no_shape = r#"{"jsonrpc":"2.0","id":4,"method":7}"#;
    assert!(matches!(
        parse_line(request_of_no_shape.as_bytes(), &ids),
        Parsed::Invalid
    ));
}
