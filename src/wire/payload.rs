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

use PayloadSchema::{Message, Opaque, ProbeNonce, ProbeReply};

/// What each assigned protocol carries (ENV-2): its REQUEST payload, then
/// every other kind's.
const SCHEMAS: &[(u32, PayloadSchema, PayloadSchema)] = &[
    (
        PAYLOAD_PROTOCOL_CONTROL,
        Message("running_process.broker.v1.Hello"),
        Message("running_process.broker.v1.HelloReply"),
    ),
    (
        PAYLOAD_PROTOCOL_ADMIN,
        Message("running_process.broker.v1.AdminRequest"),
        Message("running_process.broker.v1.AdminReply"),
    ),
    (
        PAYLOAD_PROTOCOL_HANDOFF,
        Message("running_process.broker.v1.HandoffOffer"),
        Message("running_process.broker.v1.HandoffAck"),
    ),
    (PAYLOAD_PROTOCOL_IDENTITY_PROBE, ProbeNonce, ProbeReply),
    (
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT,
        Message("running_process.broker.v2.GetBrokerHttpEndpointRequest"),
        Message("running_process.broker.v2.GetBrokerHttpEndpointResponse"),
    ),
    // V2R-5: the accepted report's RESPONSE has an empty payload.
    (
        PAYLOAD_PROTOCOL_HTTP_READY,
        Message("running_process.broker.v2.BackendHttpReady"),
        Opaque,
    ),
    (
        PAYLOAD_PROTOCOL_V2_SESSION,
        Message("running_process.broker.v2.SessionFrame"),
        Message("running_process.broker.v2.SessionFrame"),
    ),
];

/// The payload schema of a frame with this protocol and raw kind.
pub(crate) fn payload_schema(payload_protocol: u32, kind: i32) -> PayloadSchema {
    let request = kind == FrameKind::Request as i32;
    SCHEMAS
        .iter()
        .find(|(protocol, _, _)| *protocol == payload_protocol)
        .map_or(
            Opaque,
            |(_, on_request, otherwise)| {
                if request { *on_request } else { *otherwise }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_picks_the_request_or_the_reply_schema() {
        let request = FrameKind::Request as i32;
        let response = FrameKind::Response as i32;
        assert_eq!(
            payload_schema(PAYLOAD_PROTOCOL_CONTROL, request),
            Message("running_process.broker.v1.Hello")
        );
        assert_eq!(
            payload_schema(PAYLOAD_PROTOCOL_CONTROL, response),
            Message("running_process.broker.v1.HelloReply")
        );
        assert_eq!(
            payload_schema(PAYLOAD_PROTOCOL_IDENTITY_PROBE, request),
            ProbeNonce
        );
        assert_eq!(
            payload_schema(PAYLOAD_PROTOCOL_HTTP_READY, response),
            Opaque
        );
        assert_eq!(payload_schema(0x1234, request), Opaque);
    }
}
