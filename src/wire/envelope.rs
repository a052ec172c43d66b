//! Envelope checks in the fixed order of ENV-1, and the fields a reply
//! echoes from its request (FRM-11).

use prost::Message;

use super::constants::PROTOCOL_VERSION;
use crate::proto::v1::{Frame, FrameKind, PayloadEncoding};

/// The first envelope field that failed ENV-1, with what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// `envelope_version` is not 1.
    #[error("envelope_version is {found}, expected 1")]
    EnvelopeVersion {
        /// The version found.
        found: u32,
    },
    /// `kind` is not the expected kind (unknown numbers included).
    #[error("frame kind is {}, expected {}", kind_name(*.found), .expected.as_str_name())]
    Kind {
        /// The kind required here.
        expected: FrameKind,
        /// The raw kind found.
        found: i32,
    },
    /// `payload_protocol` is not the expected one.
    #[error("payload_protocol is 0x{found:04x}, expected 0x{expected:04x}")]
    PayloadProtocol {
        /// The protocol required here.
        expected: u32,
        /// The protocol found.
        found: u32,
    },
    /// `payload_encoding` is not NONE.
    #[error("payload_encoding is {}, expected PAYLOAD_ENCODING_NONE", encoding_name(*.found))]
    PayloadEncoding {
        /// The raw encoding found.
        found: i32,
    },
}

/// The name of a raw `FrameKind` value, or the number when unknown.
pub(crate) fn kind_name(kind: i32) -> String {
    FrameKind::try_from(kind).map_or_else(
        |_| format!("unknown kind {kind}"),
        |k| k.as_str_name().to_owned(),
    )
}

/// The name of a raw `PayloadEncoding` value, or the number when unknown.
pub(crate) fn encoding_name(encoding: i32) -> String {
    PayloadEncoding::try_from(encoding).map_or_else(
        |_| format!("unknown encoding {encoding}"),
        |e| e.as_str_name().to_owned(),
    )
}

/// ENV-1: `envelope_version == 1`, then `kind`, then `payload_protocol`,
/// then `payload_encoding == NONE`; the first failure wins.
pub fn check_envelope(
    frame: &Frame,
    kind: FrameKind,
    payload_protocol: u32,
) -> Result<(), EnvelopeError> {
    if frame.envelope_version != PROTOCOL_VERSION {
        return Err(EnvelopeError::EnvelopeVersion {
            found: frame.envelope_version,
        });
    }
    if frame.kind != kind as i32 {
        return Err(EnvelopeError::Kind {
            expected: kind,
            found: frame.kind,
        });
    }
    if frame.payload_protocol != payload_protocol {
        return Err(EnvelopeError::PayloadProtocol {
            expected: payload_protocol,
            found: frame.payload_protocol,
        });
    }
    if frame.payload_encoding != PayloadEncoding::None as i32 {
        return Err(EnvelopeError::PayloadEncoding {
            found: frame.payload_encoding,
        });
    }
    Ok(())
}

/// Decodes a frame's payload as `M`. The result shares the payload's memory.
pub fn decode_payload<M: Message + Default>(frame: &Frame) -> Result<M, prost::DecodeError> {
    M::decode(frame.payload.clone())
}

/// The request fields a reply echoes (FRM-11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyContext {
    /// Echoed `request_id`.
    pub request_id: u64,
    /// Echoed `traceparent`.
    pub traceparent: String,
    /// Echoed `tracestate`.
    pub tracestate: String,
}

impl ReplyContext {
    /// For a failure before any `Frame` decoded: request_id 0 and empty
    /// trace fields (FRM-11).
    pub fn undecoded() -> Self {
        Self::default()
    }

    /// Echoes a decoded request (FRM-11).
    pub fn echo(request: &Frame) -> Self {
        Self {
            request_id: request.request_id,
            traceparent: request.traceparent.clone(),
            tracestate: request.tracestate.clone(),
        }
    }
}
