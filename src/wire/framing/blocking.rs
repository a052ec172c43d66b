//! Framing over `std::io` streams: a thin shell around [`FrameDecoder`].

use std::io::{ErrorKind, Read, Write};

use bytes::Bytes;

use super::decoder::next_body_room;
use super::{FrameDecoder, FramingError, decode_frame_body, encode_frame};
use crate::proto::v1::Frame;

/// Reads one frame body, reading exactly the bytes the frame needs: the
/// header through the decoder (a bad framing byte fails on that byte), the
/// body straight into spare capacity (no zero-filled window to copy over):
/// one allocation for a body up to [`EAGER_BODY_BYTES`](super::EAGER_BODY_BYTES),
/// the rest of the declared length once that much arrived (FRM-12).
pub fn read_frame_body<R: Read + ?Sized>(
    reader: &mut R,
    limit: u32,
) -> Result<Bytes, FramingError> {
    let mut decoder = FrameDecoder::with_limit(limit);
    while decoder.declared_len().is_none() {
        let n = match reader.read(decoder.read_window()) {
            Ok(0) => return Err(decoder.eof_error()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        // A zero-length body completes with its header.
        if let Some(body) = decoder.commit(n)? {
            return Ok(body);
        }
    }
    let wanted = decoder.wanted();
    let mut rest = Vec::new();
    loop {
        let room = next_body_room(rest.len(), wanted);
        if room == 0 {
            break;
        }
        rest.reserve_exact(room);
        // Limited to the room made, so read_to_end never grows the buffer
        // by its own (amortised) rule.
        let before = rest.len();
        reader.take(room as u64).read_to_end(&mut rest)?;
        if rest.len() - before < room {
            break; // end of stream mid-body: finish_body says so
        }
    }
    decoder.finish_body(rest)
}

/// Reads and decodes one frame.
pub fn read_frame<R: Read + ?Sized>(reader: &mut R, limit: u32) -> Result<Frame, FramingError> {
    decode_frame_body(read_frame_body(reader, limit)?)
}

/// Writes one frame, header and body in a single buffer.
pub fn write_frame<W: Write + ?Sized>(writer: &mut W, frame: &Frame) -> Result<(), FramingError> {
    writer.write_all(&encode_frame(frame)?)?;
    Ok(())
}
