//! Framing over tokio streams: a thin shell around [`FrameDecoder`].

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::decoder::next_body_room;
use super::{FrameDecoder, FramingError, decode_frame_body, encode_frame};
use crate::proto::v1::Frame;

/// Reads one frame body, reading exactly the bytes the frame needs: the
/// header through the decoder, the body straight into spare capacity (no
/// zero-filled window): one allocation for a body up to
/// [`EAGER_BODY_BYTES`](super::EAGER_BODY_BYTES), the rest of the declared
/// length once that much arrived (FRM-12).
/// Cancel-safe only between frames: dropping it mid-frame loses the bytes read.
pub async fn read_frame_body<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    limit: u32,
) -> Result<Bytes, FramingError> {
    let mut decoder = FrameDecoder::with_limit(limit);
    while decoder.declared_len().is_none() {
        let n = reader.read(decoder.read_window()).await?;
        if n == 0 {
            return Err(decoder.eof_error());
        }
        // A zero-length body completes with its header.
        if let Some(body) = decoder.commit(n)? {
            return Ok(body);
        }
    }
    let wanted = decoder.wanted();
    let mut rest = Vec::new();
    while rest.len() < wanted {
        if rest.len() == rest.capacity() {
            rest.reserve_exact(next_body_room(rest.len(), wanted));
        }
        // read_buf fills spare capacity, limited to what the frame still
        // needs; the buffer always has room here, so it never grows it.
        let n = (&mut *reader)
            .take((wanted - rest.len()) as u64)
            .read_buf(&mut rest)
            .await?;
        if n == 0 {
            break; // end of stream mid-body: finish_body says so
        }
    }
    decoder.finish_body(rest)
}

/// Reads and decodes one frame.
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    limit: u32,
) -> Result<Frame, FramingError> {
    decode_frame_body(read_frame_body(reader, limit).await?)
}

/// Writes one frame, header and body in a single buffer.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    frame: &Frame,
) -> Result<(), FramingError> {
    writer.write_all(&encode_frame(frame)?).await?;
    Ok(())
}
