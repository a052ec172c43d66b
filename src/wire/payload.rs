//! Which schema a frame's payload holds, from its protocol and kind (ENV-2).
//! Used to decode and display payloads generically.

use super::constants::{
    IDENTITY_PROBE_NONCE_LEN, PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CONTROL,
    PAYLOAD_PROTOCOL_HANDOFF, PAYLOAD_PROTOCOL_HTTP_ENDPOINT, PAYLOAD_PROTOCOL_HTTP_READY,
    PAYLOAD_PROTOCOL_IDENTITY_PROBE, PAYLOAD_PROTOCOL_V2_SESSION,
};
use crate::proto::v1::FrameKind;

/// The shape of a frame payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadSchema {
    /// A protobuf message, by full name.
    Message(&'static str),
    /// The identity-probe request: a 32-byte nonce.
    ProbeNonce,
    /// The identity-probe response: the nonce, then a `DaemonProcess`.
    ProbeReply,
    /// A protocol this crate does not interpret.
    Opaque,
}

/// Length of the nonce prefix of identity-probe payloads.
pub(crate) const PROBE_NONCE_PREFIX: usize = IDENTITY_PROBE_NONCE_LEN;

/// The payload schema of a frame with this protocol and raw kind.
pub(crate) fn payload_schema(payload_protocol: u32, kind: i32) -> PayloadSchema {
    let request = kind == FrameKind::Request as i32;
    match payload_protocol {
        PAYLOAD_PROTOCOL_CONTROL if request => {
            PayloadSchema::Message("running_process.broker.v1.Hello")
        }
        PAYLOAD_PROTOCOL_CONTROL => PayloadSchema::Message("running_process.broker.v1.HelloReply"),
        PAYLOAD_PROTOCOL_ADMIN if request => {
            PayloadSchema::Message("running_process.broker.v1.AdminRequest")
        }
        PAYLOAD_PROTOCOL_ADMIN => PayloadSchema::Message("running_process.broker.v1.AdminReply"),
        PAYLOAD_PROTOCOL_HANDOFF if request => {
            PayloadSchema::Message("running_process.broker.v1.HandoffOffer")
        }
        PAYLOAD_PROTOCOL_HANDOFF => PayloadSchema::Message("running_process.broker.v1.HandoffAck"),
        PAYLOAD_PROTOCOL_IDENTITY_PROBE if request => PayloadSchema::ProbeNonce,
        PAYLOAD_PROTOCOL_IDENTITY_PROBE => PayloadSchema::ProbeReply,
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT if request => {
            PayloadSchema::Message("running_process.broker.v2.GetBrokerHttpEndpointRequest")
        }
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT => {
            PayloadSchema::Message("running_process.broker.v2.GetBrokerHttpEndpointResponse")
        }
        PAYLOAD_PROTOCOL_HTTP_READY if request => {
            PayloadSchema::Message("running_process.broker.v2.BackendHttpReady")
        }
        // V2R-5: the accepted report's RESPONSE has an empty payload.
        PAYLOAD_PROTOCOL_HTTP_READY => PayloadSchema::Opaque,
        PAYLOAD_PROTOCOL_V2_SESSION => {
            PayloadSchema::Message("running_process.broker.v2.SessionFrame")
        }
        _ => PayloadSchema::Opaque,
    }
}
