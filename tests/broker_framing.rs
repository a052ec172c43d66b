//! The reference broker under framing errors (FRM-1…FRM-11) and envelope
//! routing (ENV-3): each gets the prescribed reply, and the broker keeps
//! serving afterwards (FRM-10).

#![cfg(unix)]

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use broker_conformance::broker::EmbeddedBroker;
use broker_conformance::proto::v1::{
    AdminRequest, AdminVerb, ErrorCode, Frame, FrameKind, HelloReply, hello_reply,
};
use broker_conformance::wire::frames::{admin_request, hello_request};
use broker_conformance::wire::framing::{decode_framed, encode_frame, encode_header};
use broker_conformance::wire::{MAX_FRAME_BYTES, MAX_HELLO_BYTES, decode_payload};
use bytes::Bytes;
use prost::Message;
use support::broker::{connect, exchange_raw, hello, refused};

/// The Refused carried by a raw reply, with the reply frame.
fn refused_reply(bytes: &[u8]) -> (Frame, broker_conformance::proto::v1::Refused) {
    let frame =
        decode_framed(&Bytes::copy_from_slice(bytes), MAX_FRAME_BYTES).expect("one reply frame");
    let reply: HelloReply = decode_payload(&frame).expect("HelloReply");
    match reply.result {
        Some(hello_reply::Result::Refused(r)) => (frame, r),
        other => panic!("expected Refused, got {other:?}"),
    }
}

/// FRM-10: after whatever happened, a well-formed Hello is still answered.
fn still_serving(broker: &EmbeddedBroker) {
    let r = refused(broker.endpoint(), &hello("nobody", "1.0.0"));
    assert_eq!(r.code, ErrorCode::ErrorServiceUnknown as i32);
}

fn good_frame() -> Vec<u8> {
    encode_frame(&hello_request(&hello("nobody", "1.0.0"), 1)).expect("frame")
}

#[test]
fn a_bad_first_byte_is_refused_as_version_unsupported_with_request_id_zero() {
    let broker = EmbeddedBroker::start().expect("broker");
    let mut bytes = good_frame();
    bytes[0] = 0x02;
    let (frame, r) = refused_reply(&exchange_raw(broker.endpoint(), &bytes));
    assert_eq!(r.code, ErrorCode::ErrorVersionUnsupported as i32, "FRM-4");
    assert_eq!(r.reason, "unsupported framing version");
    assert_eq!(
        (frame.request_id, frame.traceparent.as_str()),
        (0, ""),
        "FRM-11"
    );
    assert_eq!(
        (r.daemon_min_protocol, r.daemon_max_protocol),
        (1, 1),
        "REF-1"
    );
    still_serving(&broker);
}

#[test]
fn a_length_over_16_mib_is_refused_without_reading_the_body() {
    let broker = EmbeddedBroker::start().expect("broker");
    let header = encode_header(MAX_FRAME_BYTES + 1);
    let (_, r) = refused_reply(&exchange_raw(broker.endpoint(), &header));
    assert_eq!(r.code, ErrorCode::ErrorPeerRejected as i32, "FRM-5");
    still_serving(&broker);
}

#[test]
fn a_zero_length_body_is_refused_as_not_v1() {
    let broker = EmbeddedBroker::start().expect("broker");
    let (_, r) = refused_reply(&exchange_raw(broker.endpoint(), &encode_header(0)));
    assert_eq!(r.code, ErrorCode::ErrorVersionUnsupported as i32, "FRM-6");
    assert_eq!(r.reason, "frame envelope_version is not v1");
    still_serving(&broker);
}

#[test]
fn a_body_that_is_not_a_frame_is_refused_as_malformed() {
    let broker = EmbeddedBroker::start().expect("broker");
    let mut bytes = encode_header(3).to_vec();
    bytes.extend_from_slice(&[0x0a, 0x09, 0x01]);
    let (frame, r) = refused_reply(&exchange_raw(broker.endpoint(), &bytes));
    assert_eq!(r.code, ErrorCode::ErrorPeerRejected as i32, "FRM-7");
    assert_eq!(r.reason, "malformed broker Frame");
    assert_eq!(frame.request_id, 0, "FRM-11");
    still_serving(&broker);
}

#[test]
fn eof_inside_the_header_or_body_is_refused_as_incomplete() {
    let broker = EmbeddedBroker::start().expect("broker");
    let full = good_frame();
    for cut in [0, 3, 5, full.len() - 1] {
        let (_, r) = refused_reply(&exchange_raw(broker.endpoint(), &full[..cut]));
        assert_eq!(
            r.code,
            ErrorCode::ErrorPeerRejected as i32,
            "FRM-8 cut at {cut}"
        );
        assert_eq!(r.reason, "incomplete Hello frame");
    }
    still_serving(&broker);
}

#[test]
fn a_hello_body_over_64_kib_is_refused_but_exactly_64_kib_is_read() {
    let broker = EmbeddedBroker::start().expect("broker");
    let with_body = |len: usize| {
        let mut frame = hello_request(&hello("nobody", "1.0.0"), 4);
        // Pad with an unknown field (tag 15 is reserved, skipped on decode).
        let base = frame.encoded_len();
        let pad = len - base - 4;
        frame.tracestate = "x".repeat(pad);
        while frame.encoded_len() < len {
            frame.tracestate.push('x');
        }
        while frame.encoded_len() > len {
            frame.tracestate.pop();
        }
        assert_eq!(frame.encoded_len(), len);
        frame
    };
    let (_, over) = refused_reply(&exchange_raw(
        broker.endpoint(),
        &encode_frame(&with_body(MAX_HELLO_BYTES as usize + 1)).expect("frame"),
    ));
    assert_eq!(over.code, ErrorCode::ErrorPeerRejected as i32, "FRM-3");
    assert_eq!(over.reason, "initial Hello frame exceeds 64 KiB");
    let (frame, at) = refused_reply(&exchange_raw(
        broker.endpoint(),
        &encode_frame(&with_body(MAX_HELLO_BYTES as usize)).expect("frame"),
    ));
    assert_eq!(
        at.code,
        ErrorCode::ErrorServiceUnknown as i32,
        "exactly 64 KiB goes on to the Hello checks"
    );
    assert_eq!(
        frame.request_id, 4,
        "FRM-11: a decoded frame's request_id is echoed"
    );
}

#[test]
fn an_admin_frame_over_64_kib_is_still_served() {
    let broker = EmbeddedBroker::start().expect("broker");
    let mut frame = admin_request(
        &AdminRequest {
            verb: AdminVerb::Healthz as i32,
            ..AdminRequest::default()
        },
        8,
    );
    frame.tracestate = "y".repeat(MAX_HELLO_BYTES as usize * 2);
    let reply = support::broker::exchange(broker.endpoint(), &frame);
    assert_eq!(reply.kind, FrameKind::Response as i32);
    assert_eq!(
        reply.payload_protocol, 0xAD01,
        "ENV-3: admin regardless of size"
    );
    assert_eq!(
        reply.tracestate, frame.tracestate,
        "FRM-11: trace fields echoed"
    );
}

#[test]
fn a_silent_client_is_closed_after_the_hello_deadline_without_a_reply() {
    let broker = EmbeddedBroker::builder()
        .hello_timeout(Duration::from_millis(200))
        .start()
        .expect("broker");
    let mut stream = connect(broker.endpoint());
    // Fifty times the deadline: a broker that ignored it fails the read
    // (WouldBlock) instead of closing.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = Vec::new();
    let n = stream
        .read_to_end(&mut buf)
        .expect("closed by the Hello deadline, before the 10 s read timeout");
    assert_eq!(n, 0, "FRM-9: no reply");
    still_serving(&broker);
}

#[test]
fn a_broker_survives_a_burst_of_every_framing_error() {
    let broker = EmbeddedBroker::start().expect("broker");
    let good = good_frame();
    let mut bad_byte = good.clone();
    bad_byte[0] = 0xff;
    let garbage: Vec<Vec<u8>> = vec![
        bad_byte,
        encode_header(MAX_FRAME_BYTES + 7).to_vec(),
        encode_header(0).to_vec(),
        good[..7].to_vec(),
        vec![0x01, 0x05, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for round in 0..20 {
        for bytes in &garbage {
            let mut stream = connect(broker.endpoint());
            let _ = stream.write_all(bytes);
            drop(stream);
        }
        if round % 5 == 0 {
            still_serving(&broker);
        }
    }
    still_serving(&broker);
}
