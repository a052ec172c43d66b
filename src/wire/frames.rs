//! Constructors for every frame the protocol sends, so no caller assembles
//! an envelope by hand: Hello and its replies (ENV-4, NEG, REF), admin
//! (ADM-1), the identity probe (PRB-1, PRB-2), handoff (HOF-3…HOF-5) and
//! the v2 control RPCs (V2R-3).

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

use super::constants::{
    CAP_HANDLE_PASSING, CONTENT_TYPE_JSON, CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT,
    DEFAULT_KEEPALIVE_SECS, HANDOFF_TOKEN_LEN, IDENTITY_PROBE_NONCE_LEN, PAYLOAD_PROTOCOL_ADMIN,
    PAYLOAD_PROTOCOL_CONTROL, PAYLOAD_PROTOCOL_HANDOFF, PAYLOAD_PROTOCOL_HTTP_ENDPOINT,
    PAYLOAD_PROTOCOL_HTTP_READY, PAYLOAD_PROTOCOL_IDENTITY_PROBE, PROTOCOL_VERSION,
};
use super::envelope::{EnvelopeError, ReplyContext, check_envelope};
use super::refusal::Refusal;
use crate::proto::v1::{
    AdminReply, AdminReplyKind, AdminRequest, DaemonProcess, Frame, FrameKind, HandoffAck,
    HandoffOffer, Hello, HelloReply, Negotiated, PayloadEncoding, Refused, hello_reply,
};
use crate::proto::v2::{
    BackendHttpReady, GetBrokerHttpEndpointRequest, GetBrokerHttpEndpointResponse,
};

/// A v1 frame with an encoded payload, encoding NONE and no deadline.
fn envelope(kind: FrameKind, payload_protocol: u32, payload: Bytes, request_id: u64) -> Frame {
    Frame {
        envelope_version: PROTOCOL_VERSION,
        kind: kind as i32,
        payload_protocol,
        payload,
        request_id,
        payload_encoding: PayloadEncoding::None as i32,
        deadline_unix_ms: 0,
        traceparent: String::new(),
        tracestate: String::new(),
    }
}

/// A RESPONSE frame echoing `ctx` (FRM-11).
fn response(ctx: &ReplyContext, payload_protocol: u32, payload: Bytes) -> Frame {
    Frame {
        traceparent: ctx.traceparent.clone(),
        tracestate: ctx.tracestate.clone(),
        ..envelope(
            FrameKind::Response,
            payload_protocol,
            payload,
            ctx.request_id,
        )
    }
}

fn encoded(message: &impl Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// A client's Hello request frame.
pub fn hello_request(hello: &Hello, request_id: u64) -> Frame {
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_CONTROL,
        encoded(hello),
        request_id,
    )
}

/// A Hello reply frame (ENV-4).
pub fn hello_reply(ctx: &ReplyContext, result: hello_reply::Result) -> Frame {
    let reply = HelloReply {
        result: Some(result),
    };
    response(ctx, PAYLOAD_PROTOCOL_CONTROL, encoded(&reply))
}

/// The reply frame for a refusal (ENV-4, REF-1, REF-2).
pub fn refused_reply(ctx: &ReplyContext, refusal: &Refusal) -> Frame {
    refused_message_reply(ctx, refusal.to_refused())
}

/// The reply frame for an already built `Refused` message (ENV-4).
pub fn refused_message_reply(ctx: &ReplyContext, refused: Refused) -> Frame {
    hello_reply(ctx, hello_reply::Result::Refused(refused))
}

/// The reply frame for a successful negotiation (ENV-4).
pub fn negotiated_reply(ctx: &ReplyContext, negotiated: Negotiated) -> Frame {
    hello_reply(ctx, hello_reply::Result::Negotiated(negotiated))
}

/// The `Negotiated` answer to `hello` (NEG-1, NEG-3, NEG-4, NEG-6, NEG-7):
/// protocol 1, the wanted version as `daemon_version`, the client's
/// keepalive or 1800, no warnings, and — only with a handoff token —
/// capability bit 0.
pub fn negotiated(
    hello: &Hello,
    backend_pipe: &str,
    connection_id: u64,
    handoff_token: Option<[u8; HANDOFF_TOKEN_LEN]>,
) -> Negotiated {
    let keepalive = match hello.client_keepalive_secs {
        0 => DEFAULT_KEEPALIVE_SECS,
        secs => secs,
    };
    Negotiated {
        negotiated_protocol: PROTOCOL_VERSION,
        daemon_version: hello.wanted_version.clone(),
        backend_pipe: backend_pipe.to_owned(),
        warnings: Vec::new(),
        server_capabilities: if handoff_token.is_some() {
            CAP_HANDLE_PASSING
        } else {
            0
        },
        keepalive_interval_secs: keepalive,
        handle_passed_token: handoff_token.map_or_else(Bytes::new, |t| Bytes::copy_from_slice(&t)),
        connection_id,
    }
}

/// An admin request frame (ADM-1).
pub fn admin_request(request: &AdminRequest, request_id: u64) -> Frame {
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_ADMIN,
        encoded(request),
        request_id,
    )
}

/// An admin reply frame echoing `ctx` (ADM-1).
pub fn admin_reply(ctx: &ReplyContext, reply: &AdminReply) -> Frame {
    response(ctx, PAYLOAD_PROTOCOL_ADMIN, encoded(reply))
}

/// A TEXT admin reply body (`text/plain`).
pub fn admin_text(body: impl Into<String>, exit_code: u32) -> AdminReply {
    AdminReply {
        kind: AdminReplyKind::Text as i32,
        body: body.into(),
        exit_code,
        content_type: CONTENT_TYPE_TEXT.to_owned(),
    }
}

/// A JSON admin reply body (`application/json`).
pub fn admin_json(body: impl Into<String>, exit_code: u32) -> AdminReply {
    AdminReply {
        kind: AdminReplyKind::Json as i32,
        body: body.into(),
        exit_code,
        content_type: CONTENT_TYPE_JSON.to_owned(),
    }
}

/// An OPENMETRICS admin reply body (`application/openmetrics-text`, ADM-6).
pub fn admin_openmetrics(body: impl Into<String>) -> AdminReply {
    AdminReply {
        kind: AdminReplyKind::Openmetrics as i32,
        body: body.into(),
        exit_code: 0,
        content_type: CONTENT_TYPE_OPENMETRICS.to_owned(),
    }
}

/// The identity-probe request's `request_id`: the nonce's first 8 bytes,
/// little-endian (PRB-1).
pub fn probe_request_id(nonce: &[u8; IDENTITY_PROBE_NONCE_LEN]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&nonce[..8]);
    u64::from_le_bytes(first)
}

/// The identity-probe request a broker sends a fresh backend (PRB-1).
pub fn probe_request(nonce: &[u8; IDENTITY_PROBE_NONCE_LEN]) -> Frame {
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_IDENTITY_PROBE,
        Bytes::copy_from_slice(nonce),
        probe_request_id(nonce),
    )
}

/// A backend's identity-probe response: the nonce, then its
/// `DaemonProcess` (PRB-2).
pub fn probe_response(request: &Frame, identity: &DaemonProcess) -> Frame {
    let mut payload = BytesMut::with_capacity(request.payload.len() + identity.encoded_len());
    payload.put_slice(&request.payload);
    identity.encode_raw(&mut payload);
    response(
        &ReplyContext::echo(request),
        PAYLOAD_PROTOCOL_IDENTITY_PROBE,
        payload.freeze(),
    )
}

/// Why an identity-probe response is unusable (PRB-2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeReplyError {
    /// The envelope is not a probe RESPONSE.
    #[error("probe reply envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// `request_id` is not echoed.
    #[error("probe reply request_id is {found}, expected {expected}")]
    RequestId {
        /// The probe's request id.
        expected: u64,
        /// The id in the reply.
        found: u64,
    },
    /// The payload does not start with the nonce.
    #[error("probe reply does not start with the 32-byte nonce")]
    NonceMismatch,
    /// The bytes after the nonce are not a `DaemonProcess`.
    #[error("probe reply identity does not decode: {0}")]
    Malformed(String),
}

/// Checks a probe response against its nonce and returns the identity the
/// backend claims (PRB-2). Comparing that identity is the broker's job (PRB-3).
pub fn decode_probe_response(
    reply: &Frame,
    nonce: &[u8; IDENTITY_PROBE_NONCE_LEN],
) -> Result<DaemonProcess, ProbeReplyError> {
    check_envelope(reply, FrameKind::Response, PAYLOAD_PROTOCOL_IDENTITY_PROBE)?;
    let expected = probe_request_id(nonce);
    if reply.request_id != expected {
        return Err(ProbeReplyError::RequestId {
            expected,
            found: reply.request_id,
        });
    }
    if !reply.payload.starts_with(nonce) {
        return Err(ProbeReplyError::NonceMismatch);
    }
    DaemonProcess::decode(reply.payload.slice(IDENTITY_PROBE_NONCE_LEN..))
        .map_err(|e| ProbeReplyError::Malformed(e.to_string()))
}

/// Encodes a HandoffOffer payload. With `handle_value` 0 (Unix) the payload
/// starts with the explicit bytes `08 00`, as HOF-3 prescribes; prost alone
/// would omit a zero field.
pub fn encode_handoff_offer_payload(offer: &HandoffOffer) -> Bytes {
    let mut payload = BytesMut::with_capacity(2 + offer.encoded_len());
    if offer.handle_value == 0 {
        payload.put_slice(&[0x08, 0x00]);
    }
    offer.encode_raw(&mut payload);
    payload.freeze()
}

/// The broker's HandoffOffer frame on the backend's handoff connection:
/// REQUEST, protocol 0xD0FF, `request_id = correlation_id` (HOF-3).
pub fn handoff_offer(
    token: &[u8; HANDOFF_TOKEN_LEN],
    service_name: &str,
    correlation_id: u64,
) -> Frame {
    let offer = HandoffOffer {
        handle_value: 0,
        token: Bytes::copy_from_slice(token),
        service_name: service_name.to_owned(),
        correlation_id,
    };
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_HANDOFF,
        encode_handoff_offer_payload(&offer),
        correlation_id,
    )
}

/// The backend's answer to an offer: RESPONSE, protocol 0xD0FF,
/// `request_id = correlation_id` (HOF-4, HOF-9).
pub fn handoff_ack(ack: &HandoffAck) -> Frame {
    envelope(
        FrameKind::Response,
        PAYLOAD_PROTOCOL_HANDOFF,
        encoded(ack),
        ack.correlation_id,
    )
}

/// The broker's EVENT to the client after an accepted handoff (HOF-5).
pub fn handoff_event(token: &[u8], correlation_id: u64) -> Frame {
    let ack = HandoffAck {
        token: Bytes::copy_from_slice(token),
        accepted: true,
        error_detail: String::new(),
        correlation_id,
    };
    envelope(
        FrameKind::Event,
        PAYLOAD_PROTOCOL_HANDOFF,
        encoded(&ack),
        correlation_id,
    )
}

/// A GetBrokerHttpEndpoint request (V2R-3, V2K-6; spec §15 vector D).
pub fn http_endpoint_request(request_id: u64) -> Frame {
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT,
        encoded(&GetBrokerHttpEndpointRequest {}),
        request_id,
    )
}

/// GetBrokerHttpEndpoint's reply: the bound HTTP port (0 when none) and
/// the broker's pid (V2R-3, V2R-4).
pub fn http_endpoint_reply(ctx: &ReplyContext, port: u16, pid: u32) -> Frame {
    let reply = GetBrokerHttpEndpointResponse {
        port: u32::from(port),
        pid,
    };
    response(ctx, PAYLOAD_PROTOCOL_HTTP_ENDPOINT, encoded(&reply))
}

/// A backend's BackendHttpReady report (V2R-3, V2K-7). `port` is a u32 on
/// the wire, so out-of-range values can be sent (and are refused, V2R-6).
pub fn http_ready_request(port: u32, request_id: u64) -> Frame {
    envelope(
        FrameKind::Request,
        PAYLOAD_PROTOCOL_HTTP_READY,
        encoded(&BackendHttpReady { port }),
        request_id,
    )
}

/// BackendHttpReady's acceptance: an empty RESPONSE (V2R-5).
pub fn http_ready_reply(ctx: &ReplyContext) -> Frame {
    response(ctx, PAYLOAD_PROTOCOL_HTTP_READY, Bytes::new())
}
