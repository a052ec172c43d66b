//! Frame constructors produce exactly the frozen golden bytes, and follow
//! ENV-4, FRM-11, NEG, PRB-1/2 and HOF-3…HOF-5. Expectations come from
//! `golden/` and the spec, never from the constructors themselves.

mod support;

use broker_conformance::golden::Corpus;
use broker_conformance::proto::v1::{
    AdminRequest, AdminVerb, DaemonProcess, Frame, FrameKind, HandoffAck, HandoffOffer, Hello,
    HelloReply, hello_reply,
};
use broker_conformance::wire::frames::{
    ProbeReplyError, admin_reply, admin_request, admin_text, decode_probe_response, handoff_ack,
    handoff_event, handoff_offer, hello_request, negotiated, negotiated_reply, probe_request,
    probe_response, refused_reply,
};
use broker_conformance::wire::framing::encode_frame;
use broker_conformance::wire::{
    CAP_HANDLE_PASSING, Refusal, ReplyContext, check_envelope, decode_payload,
};
use bytes::Bytes;
use prost::Message;

fn golden(name: &str) -> Vec<u8> {
    let corpus = Corpus::load_dir(&support::golden_dir()).expect("corpus loads");
    corpus.bytes(name).expect("golden exists").to_vec()
}

fn wire(frame: &Frame) -> Vec<u8> {
    encode_frame(frame).expect("small frame")
}

const TOKEN: [u8; 16] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];

#[test]
fn hello_request_reproduces_the_spec_vector() {
    let hello = Hello {
        client_min_protocol: 1,
        client_max_protocol: 1,
        service_name: "zccache".into(),
        wanted_version: "1.11.20".into(),
        ..Hello::default()
    };
    assert_eq!(
        wire(&hello_request(&hello, 1)),
        golden("v1/wire_hello_minimal")
    );
}

#[test]
fn the_full_hello_vector_is_reproduced_from_a_struct_literal() {
    let hello = Hello {
        client_min_protocol: 1,
        client_max_protocol: 3,
        service_name: "build-cache".into(),
        wanted_version: "1.2.3-rc.1".into(),
        client_version: "3.0.15".into(),
        client_capabilities: 0x8000_0000_0000_0001,
        auth_token: Bytes::from_static(&[1, 2, 3]),
        request_id: "req-0001".into(),
        connection_id: 0,
        peer_pid: 4242,
        client_lib_name: "running-process".into(),
        client_lib_version: "3.0.15".into(),
        peer_attestation_nonce: Bytes::from_static(&[0xaa, 0xbb]),
        capability_token: Bytes::from_static(&[0xcc]),
        client_keepalive_secs: 30,
    };
    assert_eq!(hello.encode_to_vec(), golden("v1/hello_full"));
}

#[test]
fn framing_level_refusal_has_request_id_zero_and_no_trace() {
    let frame = refused_reply(
        &ReplyContext::undecoded(),
        &Refusal::UnsupportedFramingVersion,
    );
    assert_eq!(
        wire(&frame),
        golden("v1/wire_hello_reply_refused_framing_version")
    );
}

#[test]
fn replies_echo_request_id_and_trace_fields() {
    let mut request = hello_request(&Hello::default(), 77);
    request.traceparent = "00-abc-def-01".into();
    request.tracestate = "k=v".into();
    request.deadline_unix_ms = 5;
    let reply = refused_reply(&ReplyContext::echo(&request), &Refusal::ServiceUnknown);
    check_envelope(&reply, FrameKind::Response, 0).expect("ENV-4 envelope");
    assert_eq!(reply.request_id, 77);
    assert_eq!(reply.traceparent, "00-abc-def-01");
    assert_eq!(reply.tracestate, "k=v");
    assert_eq!(
        reply.deadline_unix_ms, 0,
        "ENV-4: replies carry no deadline"
    );
    let body: HelloReply = decode_payload(&reply).expect("HelloReply");
    let Some(hello_reply::Result::Refused(refused)) = body.result else {
        panic!("expected Refused, got {body:?}");
    };
    assert_eq!(refused.code, 2);
}

#[test]
fn negotiated_follows_the_neg_rules() {
    let mut hello = Hello {
        wanted_version: "2.0.0-rc.1".into(),
        ..Hello::default()
    };
    let plain = negotiated(&hello, "/tmp/b.sock", 3, None);
    assert_eq!(plain.negotiated_protocol, 1, "NEG-1");
    assert_eq!(plain.daemon_version, "2.0.0-rc.1", "NEG-3");
    assert_eq!(plain.keepalive_interval_secs, 1800, "NEG-4 default");
    assert!(plain.warnings.is_empty(), "NEG-6");
    assert_eq!(
        plain.server_capabilities, 0,
        "NEG-7/NEG-8: no token, no bit"
    );
    assert!(plain.handle_passed_token.is_empty());
    assert_eq!(plain.connection_id, 3);

    hello.client_keepalive_secs = 45;
    let handoff = negotiated(&hello, "/tmp/b.sock", 4, Some(TOKEN));
    assert_eq!(handoff.keepalive_interval_secs, 45, "NEG-4 client proposal");
    assert_eq!(
        handoff.server_capabilities & CAP_HANDLE_PASSING,
        CAP_HANDLE_PASSING,
        "NEG-7"
    );
    assert_eq!(handoff.handle_passed_token.as_ref(), &TOKEN);
}

#[test]
fn negotiated_reply_reproduces_its_golden() {
    let corpus = Corpus::load_dir(&support::golden_dir()).expect("corpus");
    let reply = HelloReply::decode(corpus.bytes("v1/hello_reply_negotiated").expect("golden"))
        .expect("decodes");
    let Some(hello_reply::Result::Negotiated(n)) = reply.result else {
        panic!("golden holds a Negotiated");
    };
    let ctx = ReplyContext {
        request_id: 1,
        ..ReplyContext::default()
    };
    assert_eq!(
        wire(&negotiated_reply(&ctx, n)),
        golden("v1/wire_hello_reply_negotiated")
    );
}

#[test]
fn admin_frames_reproduce_their_goldens() {
    let request = AdminRequest {
        verb: AdminVerb::Status as i32,
        ..AdminRequest::default()
    };
    assert_eq!(
        wire(&admin_request(&request, 9)),
        golden("v1/wire_admin_request_status")
    );
    let ctx = ReplyContext {
        request_id: 9,
        ..ReplyContext::default()
    };
    let reply = admin_text("broker_instance: shared\naccepting_hello: true\n", 0);
    assert_eq!(
        wire(&admin_reply(&ctx, &reply)),
        golden("v1/wire_admin_reply_status")
    );
}

fn probe_nonce() -> [u8; 32] {
    std::array::from_fn(|i| 0xc0 + i as u8)
}

fn identity() -> DaemonProcess {
    let corpus = Corpus::load_dir(&support::golden_dir()).expect("corpus");
    DaemonProcess::decode(corpus.bytes("v1/daemon_process").expect("golden")).expect("decodes")
}

#[test]
fn probe_frames_reproduce_their_goldens_and_parse_back() {
    let nonce = probe_nonce();
    let request = probe_request(&nonce);
    assert_eq!(
        request.request_id,
        u64::from_le_bytes([0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7])
    );
    assert_eq!(wire(&request), golden("v1/wire_probe_request"));
    let response = probe_response(&request, &identity());
    assert_eq!(wire(&response), golden("v1/wire_probe_response"));
    assert_eq!(decode_probe_response(&response, &nonce), Ok(identity()));
}

#[test]
fn probe_replies_with_the_wrong_nonce_id_or_envelope_are_rejected() {
    let nonce = probe_nonce();
    let response = probe_response(&probe_request(&nonce), &identity());
    let mut other = nonce;
    other[31] ^= 1;
    assert_eq!(
        decode_probe_response(&response, &other),
        Err(ProbeReplyError::NonceMismatch)
    );
    other = nonce;
    other[0] ^= 1;
    assert!(matches!(
        decode_probe_response(&response, &other),
        Err(ProbeReplyError::RequestId { .. })
    ));
    let mut wrong_kind = response.clone();
    wrong_kind.kind = FrameKind::Event as i32;
    assert!(matches!(
        decode_probe_response(&wrong_kind, &nonce),
        Err(ProbeReplyError::Envelope(_))
    ));
    let mut garbage = response;
    garbage.payload = Bytes::from([&nonce[..], &[0x0a, 0x09]].concat());
    assert!(matches!(
        decode_probe_response(&garbage, &nonce),
        Err(ProbeReplyError::Malformed(_))
    ));
}

#[test]
fn handoff_frames_reproduce_their_goldens() {
    assert_eq!(
        wire(&handoff_offer(&TOKEN, "zccache", 42)),
        golden("v1/wire_handoff_offer")
    );
    let ack = HandoffAck {
        token: Bytes::copy_from_slice(&TOKEN),
        accepted: true,
        error_detail: String::new(),
        correlation_id: 42,
    };
    assert_eq!(wire(&handoff_ack(&ack)), golden("v1/wire_handoff_ack"));
    assert_eq!(
        wire(&handoff_event(&TOKEN, 42)),
        golden("v1/wire_handoff_event")
    );
}

#[test]
fn handoff_offer_decodes_with_and_without_the_explicit_prefix() {
    let with = HandoffOffer::decode(golden("v1/handoff_offer_explicit_handle").as_slice())
        .expect("with 08 00");
    let without = HandoffOffer::decode(golden("v1/handoff_offer").as_slice()).expect("without");
    assert_eq!(with, without);
    assert_eq!(with.handle_value, 0);
    assert_eq!(with.token.as_ref(), &TOKEN);
    assert_eq!(
        golden("v1/handoff_offer_explicit_handle")[..2],
        [0x08, 0x00]
    );
}

#[test]
fn control_rpc_frames_reproduce_spec_vector_d() {
    use broker_conformance::wire::frames::{
        http_endpoint_reply, http_endpoint_request, http_ready_reply, http_ready_request,
    };
    let ctx = |request_id| ReplyContext {
        request_id,
        ..ReplyContext::default()
    };
    assert_eq!(
        wire(&http_endpoint_request(1)),
        golden("v2/wire_get_broker_http_endpoint_request")
    );
    assert_eq!(
        wire(&http_endpoint_reply(&ctx(1), 4242, 99_999)),
        golden("v2/wire_get_broker_http_endpoint_response")
    );
    assert_eq!(
        wire(&http_ready_request(49_152, 7)),
        golden("v2/wire_backend_http_ready")
    );
    assert_eq!(
        wire(&http_ready_reply(&ctx(7))),
        golden("v2/wire_backend_http_ready_response")
    );
}
