//! The backend side of the identity probe (PRB-1, PRB-2).

use std::io::Write;
use std::time::Duration;

use crate::proto::v1::{DaemonProcess, Frame, FrameKind};
use crate::wire::frames::probe_response;
use crate::wire::framing::{FramingError, blocking::write_frame, encode_frame};
use crate::wire::{
    FRAME_HEADER_LEN, IDENTITY_PROBE_NONCE_LEN, PAYLOAD_PROTOCOL_IDENTITY_PROBE, check_envelope,
};

/// What to do with a probe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// Reply with this identity.
    Reply(DaemonProcess),
    /// Reply with this identity in three writes `pause` apart (see
    /// [`answer_probe_in_pieces`]).
    ReplyInPieces {
        /// The identity to reply with.
        identity: DaemonProcess,
        /// The pause before the second and the third write.
        pause: Duration,
    },
    /// Write the reply's header and the first half of its body, then
    /// close the connection: a reply cut short (FRM-8).
    ReplyCut(DaemonProcess),
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

/// The reply [`answer_probe`] writes, encoded, with the two places that
/// split it into the header and the two halves of the body.
fn reply_and_splits(
    request: &Frame,
    identity: &DaemonProcess,
) -> Result<(Vec<u8>, [usize; 2]), FramingError> {
    let bytes = encode_frame(&probe_response(request, identity))?;
    let middle = FRAME_HEADER_LEN + (bytes.len() - FRAME_HEADER_LEN) / 2;
    Ok((bytes, [FRAME_HEADER_LEN, middle]))
}

/// Writes the header of the reply [`answer_probe`] would send and the first
/// half of its body, and no more: the caller closes the connection then.
pub fn answer_probe_cut(
    stream: &mut impl Write,
    request: &Frame,
    identity: &DaemonProcess,
) -> Result<(), FramingError> {
    let (bytes, [_, middle]) = reply_and_splits(request, identity)?;
    stream.write_all(&bytes[..middle])?;
    stream.flush()?;
    Ok(())
}

/// Answers like [`answer_probe`], but writes the reply frame in three
/// pieces, `pause` apart: the header, then the body in two halves. A frame
/// on a stream may arrive across any number of reads (FRM-1); this is how a
/// broker sees one that does.
pub fn answer_probe_in_pieces(
    stream: &mut impl Write,
    request: &Frame,
    identity: &DaemonProcess,
    pause: Duration,
) -> Result<(), FramingError> {
    let (bytes, [header_end, middle]) = reply_and_splits(request, identity)?;
    let pieces = [
        &bytes[..header_end],
        &bytes[header_end..middle],
        &bytes[middle..],
    ];
    for (i, piece) in pieces.into_iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        stream.write_all(piece)?;
        stream.flush()?;
    }
    Ok(())
}
