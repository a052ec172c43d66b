//! The shape checks of a Hello, HEL-1…HEL-11, in the spec's order, as one
//! pure function. Checks that need broker state (HEL-12 onwards) belong to
//! the broker's decision code.

use super::constants::{
    MAX_CLIENT_LIB_FIELD_BYTES, MAX_CLIENT_VERSION_BYTES, PAYLOAD_PROTOCOL_CONTROL,
    PROTOCOL_VERSION,
};
use super::envelope::{EnvelopeError, check_envelope, decode_payload};
use super::grammar::{validate_service_name, validate_version};
use super::refusal::Refusal;
use crate::proto::v1::{Frame, FrameKind, Hello};

/// HEL-1…HEL-11: checks a first frame that is not admin and not oversize
/// (FRM-3 and ENV-3 route those earlier) and returns the decoded Hello, or
/// the refusal the spec prescribes for the first failed check.
///
/// `kernel_peer_pid` is the peer pid from SO_PEERCRED, 0 when the platform
/// does not report one.
pub fn validate_hello(frame: &Frame, kernel_peer_pid: u32) -> Result<Hello, Refusal> {
    check_envelope(frame, FrameKind::Request, PAYLOAD_PROTOCOL_CONTROL).map_err(|e| match e {
        EnvelopeError::EnvelopeVersion { .. } => Refusal::EnvelopeVersion,
        EnvelopeError::Kind { .. } => Refusal::FrameKindNotRequest,
        EnvelopeError::PayloadProtocol { .. } => Refusal::PayloadProtocolNotControl,
        EnvelopeError::PayloadEncoding { .. } => Refusal::PayloadCompressed,
    })?;
    let hello: Hello = decode_payload(frame).map_err(|_| Refusal::MalformedHello)?;
    validate_hello_fields(&hello, kernel_peer_pid)?;
    Ok(hello)
}

/// HEL-6…HEL-11: the field checks of an already decoded Hello.
pub fn validate_hello_fields(hello: &Hello, kernel_peer_pid: u32) -> Result<(), Refusal> {
    if !(hello.client_min_protocol <= PROTOCOL_VERSION
        && PROTOCOL_VERSION <= hello.client_max_protocol)
    {
        return Err(Refusal::ProtocolRange);
    }
    if validate_service_name(&hello.service_name).is_err() {
        return Err(Refusal::InvalidServiceName);
    }
    if validate_version(&hello.wanted_version).is_err() {
        return Err(Refusal::InvalidWantedVersion);
    }
    if hello.client_version.len() > MAX_CLIENT_VERSION_BYTES {
        return Err(Refusal::ClientVersionTooLong);
    }
    if hello.client_lib_name.len() > MAX_CLIENT_LIB_FIELD_BYTES
        || hello.client_lib_version.len() > MAX_CLIENT_LIB_FIELD_BYTES
    {
        return Err(Refusal::ClientLibTooLong);
    }
    if hello.peer_pid != 0 && kernel_peer_pid != 0 && hello.peer_pid != kernel_peer_pid {
        return Err(Refusal::PeerPidMismatch);
    }
    Ok(())
}
