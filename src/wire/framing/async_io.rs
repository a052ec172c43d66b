//! Framing over tokio streams: a thin shell around [`FrameDecoder`].

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::decoder::EAGER_BODY_BYTES;
use super::{FrameDecoder, FramingError, decode_frame_body, encode_frame};
use crate::proto::v1::Frame;

/// Reads one frame body, reading exactly the bytes the frame needs: the
/// header through the decoder, the body straight into spare capacity (no
/// zero-filled window): one allocation for a body up to
/// [`EAGER_BODY_BYTES`], growth with what arrives beyond (FRM-12).
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
    let mut rest = Vec::with_capacity(wanted.min(EAGER_BODY_BYTES));
    (&mut *reader)
        .take(wanted as u64)
        .read_to_end(&mut rest)
        .await?;
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
