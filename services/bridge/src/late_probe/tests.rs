use rmcp::model::{
    DiscoverRequest, DiscoverRequestParams, DiscoverResult, ErrorData, InitializeRequest,
    InitializeRequestParams, InitializedNotification, JsonRpcError, NumberOrString,
};

use super::*;

fn discover(id: i64) -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(
        ClientRequest::DiscoverRequest(DiscoverRequest::new(DiscoverRequestParams {})),
        NumberOrString::Number(id),
    )
}

fn initialize(id: i64) -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(
        ClientRequest::InitializeRequest(
            InitializeRequest::new(InitializeRequestParams::default()),
        ),
        NumberOrString::Number(id),
    )
}

fn initialized() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::notification(ClientNotification::InitializedNotification(
        InitializedNotification::default(),
    ))
}

fn discovered(id: NumberOrString, versions: &str) -> ServerJsonRpcMessage {
    let result: DiscoverResult = serde_json::from_str(&format!(
        r#"{{"resultType":"complete","supportedVersions":{versions},"capabilities":{{"tools":{{}}}},"ttlMs":0,"cacheScope":"public","_meta":{{"io.modelcontextprotocol/serverInfo":{{"name":"slow","version":"1"}}}}}}"#
    ))
    .expect("a discover result");
    ServerJsonRpcMessage::response(ServerResult::DiscoverResult(result), id)
}

fn refused(id: NumberOrString) -> ServerJsonRpcMessage {
    ServerJsonRpcMessage::Error(JsonRpcError {
        jsonrpc: Default::default(),
        id: Some(id),
        error: ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, "no", None),
    })
}

#[test]
fn a_probe_answered_in_time_passes_and_initialize_goes_out() {
    let mut probe = LateProbe::new(());
    assert!(probe.sends(&discover(0)));
    assert!(probe.received(refused(NumberOrString::Number(0))).is_ok());
    assert!(probe.sends(&initialize(1)));
    assert!(probe.sends(&initialized()));
}

#[test]
fn a_late_modern_answer_becomes_the_answer_to_the_held_initialize() {
    let mut probe = LateProbe::new(());
    assert!(probe.sends(&discover(0)));
    assert!(
        !probe.sends(&initialize(1)),
        "held while the probe is unanswered"
    );
    let Ok(JsonRpcMessage::Response(answer)) = probe.received(discovered(
        NumberOrString::String("0".into()),
        r#"["2026-07-28"]"#,
    )) else {
        panic!("expected the initialize answer");
    };
    assert_eq!(answer.id, NumberOrString::Number(1));
    let ServerResult::InitializeResult(result) = answer.result else {
        panic!("expected an InitializeResult");
    };
    assert_eq!(result.protocol_version, ProtocolVersion::V_2026_07_28);
    assert_eq!(result.server_info.name, "slow");
    assert!(!probe.sends(&initialized()), "the era has no handshake");
}

#[test]
fn a_late_refusal_sends_the_held_initialize_and_a_given_up_probe_is_dropped() {
    let mut probe = LateProbe::new(());
    assert!(probe.sends(&discover(0)));
    assert!(!probe.sends(&initialize(1)));
    assert!(matches!(
        probe.received(refused(NumberOrString::Number(0))),
        Err(Kept::SendHeld)
    ));
    // an older era only: the held initialize goes out too
    let mut old = LateProbe::new(());
    old.sends(&discover(0));
    old.sends(&initialize(1));
    assert!(matches!(
        old.received(discovered(NumberOrString::Number(0), r#"["2099-01-01"]"#)),
        Err(Kept::SendHeld)
    ));
    // no answer within the grace, initialize sent: an initialize answered
    // first passes, the probe's later answer is dropped
    let mut silent = LateProbe::new(());
    silent.sends(&discover(0));
    silent.sends(&initialize(1));
    assert!(silent.give_up().is_some());
    assert!(silent.received(refused(NumberOrString::Number(1))).is_ok());
    assert!(matches!(
        silent.received(discovered(NumberOrString::Number(0), r#"["2026-07-28"]"#)),
        Err(Kept::Drop)
    ));
    assert!(silent.sends(&initialized()));
}

#[test]
fn a_probe_answered_after_the_grace_still_settles_the_era() {
    let mut slow = LateProbe::new(());
    slow.sends(&discover(0));
    slow.sends(&initialize(1));
    assert!(slow.give_up().is_some());
    let Ok(JsonRpcMessage::Response(answer)) =
        slow.received(discovered(NumberOrString::Number(0), r#"["2026-07-28"]"#))
    else {
        panic!("expected the initialize answer");
    };
    assert_eq!(answer.id, NumberOrString::Number(1));
    // the server's refusal of the initialize sent meanwhile is dropped
    assert!(matches!(
        slow.received(refused(NumberOrString::Number(1))),
        Err(Kept::Drop)
    ));
    assert!(!slow.sends(&initialized()));
    assert!(slow.received(refused(NumberOrString::Number(2))).is_ok());
}
