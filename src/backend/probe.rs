//! The backend side of the identity probe (PRB-1, PRB-2).

use std::io::Write;

use crate::proto::v1::{DaemonProcess, Frame, FrameKind};
use crate::wire::frames::probe_response;
use crate::wire::framing::{FramingError, blocking::write_frame};
use crate::wire::{IDENTITY_PROBE_NONCE_LEN, PAYLOAD_PROTOCOL_IDENTITY_PROBE, check_envelope};

/// What to do with a probe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// Reply with this identity.
    Reply(DaemonProcess),
    /// Read it and say nothing.
    Ignore,
    /// Close the connection.
    Close,
}

/// True for a well-formed identity-probe request (PRB-1).
pub fn is_probe_request(frame: &Frame) -> bool {
    check_envelope(frame, FrameKind::Request, PAYLOAD_PROTOCOL_IDENTITY_PROBE).is_ok()
        && frame.payload.len() == IDENTITY_PROBE_NONCE_LEN
}

/// Answers a probe request with `identity` (PRB-2): the nonce, then the
/// encoded `DaemonProcess`, request_id echoed.
pub fn answer_probe(
    stream: &mut impl Write,
    request: &Frame,
    identity: &DaemonProcess,
) -> Result<(), FramingError> {
    write_frame(stream, &probe_response(request, identity))
}
