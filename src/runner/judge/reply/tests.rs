//! Each check of `expect_reply` and each of its failure messages, on
//! frames built in memory.

use bytes::Bytes;
use prost::Message;

use super::*;
use crate::proto::v1::{AdminReply, FrameKind, HelloReply, Negotiated, Refused, hello_reply};
use crate::wire::{PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CONTROL};

fn spec(text: &str) -> ReplySpec {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn response(payload_protocol: u32, payload: Vec<u8>) -> Frame {
    Frame {
        envelope_version: 1,
        kind: FrameKind::Response as i32,
        payload_protocol,
        request_id: 1,
        payload: Bytes::from(payload),
        ..Frame::default()
    }
}

fn refused() -> Frame {
    let reply = HelloReply {
        result: Some(hello_reply::Result::Refused(Refused {
            reason: "service definition was not found".into(),
            code: crate::proto::v1::ErrorCode::ErrorServiceUnknown as i32,
            ..Refused::default()
        })),
    };
    response(PAYLOAD_PROTOCOL_CONTROL, reply.encode_to_vec())
}

fn negotiated() -> Frame {
    let reply = HelloReply {
        result: Some(hello_reply::Result::Negotiated(Negotiated {
            backend_pipe: "/tmp/b.sock".into(),
            handle_passed_token: Bytes::from_static(&[7; 4]),
            connection_id: 42,
            ..Negotiated::default()
        })),
    };
    response(PAYLOAD_PROTOCOL_CONTROL, reply.encode_to_vec())
}

fn admin(body: &str) -> Frame {
    let reply = AdminReply {
        body: body.into(),
        ..AdminReply::default()
    };
    response(PAYLOAD_PROTOCOL_ADMIN, reply.encode_to_vec())
}

fn judge(text: &str, frame: &Frame) -> Judgement {
    judge_reply(&spec(text), frame, &[], None, &Captures::default())
        .unwrap_or_else(|f| panic!("{text}: {f:?}"))
}

#[test]
fn a_reply_that_meets_everything_has_no_problems() {
    let j = judge(
        r#"result = "refused"
           frame = { request_id = 1, kind = "FRAME_KIND_RESPONSE" }
           fields = { "refused.code" = "ERROR_SERVICE_UNKNOWN" }
           ref_fields = { "refused.reason" = { starts_with = "service definition" } }"#,
        &refused(),
    );
    assert_eq!(j, Judgement::default());
}

#[test]
fn a_golden_mismatch_stops_with_a_hex_diff() {
    let f = judge_reply(
        &spec(r#"golden = "v1/x""#),
        &refused(),
        &[1, 2],
        Some(&[1, 3]),
        &Captures::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("a failure"));
    assert_eq!(f.message, "the reply differs from golden v1/x");
    assert!(!f.detail.is_empty());
}

#[test]
fn frame_checks_name_the_field() {
    let j = judge("frame = { request_id = 2 }", &refused());
    assert_eq!(j.problems, ["frame.request_id: expected 2, got 1"]);
    assert!(
        j.received.starts_with("received frame:\n"),
        "{}",
        j.received
    );
    assert!(j.received.contains("payload:\n"), "{}", j.received);
}

#[test]
fn ref_checks_are_noted_not_failed() {
    let j = judge(
        r#"ref_frame = { request_id = 2 }
           ref_fields = { "refused.reason" = "other" }"#,
        &refused(),
    );
    assert_eq!(j.problems, Vec::<String>::new());
    assert_eq!(
        j.ref_misses,
        [
            "frame.request_id (REF): expected 2, got 1",
            r#"refused.reason (REF): expected "other", got "service definition was not found""#,
        ]
    );
    assert_eq!(j.failure(), None);
}

#[test]
fn a_ref_check_on_a_path_that_cannot_be_read_still_fails() {
    let j = judge(
        r#"ref_fields = { "negotiated.backend_pipe" = "x" }"#,
        &refused(),
    );
    assert_eq!(
        j.problems,
        ["negotiated.backend_pipe: negotiated is not set"]
    );
}

#[test]
fn the_wrong_hello_result_is_named() {
    let j = judge(r#"result = "negotiated""#, &refused());
    assert_eq!(j.problems.len(), 1);
    assert!(
        j.problems[0].starts_with("expected a negotiated reply, got refused"),
        "{:?}",
        j.problems
    );
}

#[test]
fn field_misses_are_listed_by_path() {
    let j = judge(
        r#"fields = { "refused.code" = "ERROR_PEER_REJECTED" }"#,
        &refused(),
    );
    assert_eq!(
        j.problems,
        ["refused.code: expected \"ERROR_PEER_REJECTED\", got ERROR_SERVICE_UNKNOWN (2)"]
    );
}

#[test]
fn a_payload_that_does_not_decode_is_a_problem() {
    let frame = response(PAYLOAD_PROTOCOL_CONTROL, vec![0xff, 0xff]);
    let j = judge(r#"fields = { "refused.code" = 1 }"#, &frame);
    assert_eq!(
        j.problems,
        ["the payload does not decode as the message its protocol 0x0000 and kind 1 imply"]
    );
}

#[test]
fn json_bodies_are_checked_by_pointer() {
    let frame = admin(r#"{"schema_version": 1, "command": "status"}"#);
    let j = judge(
        r#"json = { "/schema_version" = 2 }
           ref_json = { "/command" = "dump" }"#,
        &frame,
    );
    assert_eq!(j.problems, ["json /schema_version: expected 2, got 1"]);
    assert_eq!(
        j.ref_misses,
        [r#"json /command (REF): expected "dump", got "status""#]
    );
}

#[test]
fn a_body_that_is_not_json_is_a_problem() {
    let j = judge(r#"ref_json = { "/a" = 1 }"#, &admin("ok\n"));
    assert_eq!(j.problems.len(), 1);
    assert!(
        j.problems[0].starts_with("the body is not JSON: "),
        "{:?}",
        j.problems
    );
}

#[test]
fn a_json_check_on_a_reply_without_a_body_is_a_problem() {
    let j = judge(r#"json = { "/a" = 1 }"#, &refused());
    assert_eq!(j.problems, ["the reply has no text body"]);
}

#[test]
fn capture_json_needs_a_json_body() {
    let f = judge_reply(
        &spec(r#"capture_json = { head = "/head" }"#),
        &admin("ok"),
        &[],
        None,
        &Captures::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("a failure"));
    assert_eq!(f.message, "capture_json: the reply has no JSON body");
}

#[test]
fn captures_read_payload_envelope_and_json() {
    let j = judge(
        r#"capture = { rid = "frame.request_id", code = "refused.code" }"#,
        &refused(),
    );
    assert_eq!(j.captures.get("rid"), Some(&Actual::Int(1)));
    assert!(matches!(
        j.captures.get("code"),
        Some(Actual::Enum { number: 2, .. })
    ));
    let j = judge(
        r#"capture_json = { head = "/head" }"#,
        &admin(r#"{"head": "ab"}"#),
    );
    assert_eq!(j.captures.get("head"), Some(&Actual::Str("ab".into())));
}

#[test]
fn a_capture_that_cannot_be_read_stops_the_step() {
    let f = judge_reply(
        &spec(r#"capture = { pipe = "negotiated.backend_pipe" }"#),
        &refused(),
        &[],
        None,
        &Captures::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("a failure"));
    assert_eq!(f.message, "capture pipe: negotiated is not set");
}

#[test]
fn every_negotiated_reply_captures_pipe_token_and_connection_id() {
    let j = judge("", &negotiated());
    assert_eq!(
        j.captures.get("backend_pipe"),
        Some(&Actual::Str("/tmp/b.sock".into()))
    );
    assert_eq!(j.captures.get("token"), Some(&Actual::Bytes(vec![7; 4])));
    assert_eq!(j.captures.get("connection_id"), Some(&Actual::Int(42)));
}

#[test]
fn later_checks_of_a_step_see_its_earlier_captures() {
    let j = judge(
        r#"capture = { rid = "frame.request_id" }
           fields = { "refused.daemon_min_protocol" = { differs_from = "rid" } }"#,
        &refused(),
    );
    assert_eq!(j.problems, Vec::<String>::new());
}
