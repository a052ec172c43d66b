//! Framing over `std::io` streams: a thin shell around [`FrameDecoder`].

use std::io::{ErrorKind, Read, Write};

use bytes::Bytes;

use super::decoder::EAGER_BODY_BYTES;
use super::{FrameDecoder, FramingError, decode_frame_body, encode_frame};
use crate::proto::v1::Frame;

/// Reads one frame body, reading exactly the bytes the frame needs: the
/// header through the decoder (a bad framing byte fails on that byte), the
/// body straight into spare capacity (no zero-filled window to copy over):
/// one allocation for a body up to [`EAGER_BODY_BYTES`], growth with what
/// arrives beyond (FRM-12).
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
    let mut rest = Vec::with_capacity(wanted.min(EAGER_BODY_BYTES));
    reader.take(wanted as u64).read_to_end(&mut rest)?;
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
