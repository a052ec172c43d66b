//! Framing (FRM-1…FRM-8, FRM-12): `[0x01][u32 LE body length][Frame body]`.
//!
//! The header codec and [`FrameDecoder`] are pure; [`blocking`] and
//! [`async_io`] are thin shells that move bytes between a stream and the
//! decoder. Every reader reads exactly the bytes the current frame still
//! needs, so nothing past a bad framing byte or past the frame is consumed.

pub mod async_io;
pub mod blocking;
mod decoder;

use std::fmt;

use bytes::Bytes;
use prost::Message;

pub use decoder::{EAGER_BODY_BYTES, FrameDecoder};

use super::constants::{FRAME_HEADER_LEN, FRAMING_VERSION, MAX_FRAME_BYTES};
use crate::proto::v1::Frame;

/// The part of a frame a stream ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSection {
    /// The five-byte header.
    Header,
    /// The body.
    Body,
}

impl fmt::Display for FrameSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Body => "body",
        })
    }
}

/// A frame that could not be read, written or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The first byte is not [`FRAMING_VERSION`] (FRM-4).
    #[error("frame starts with byte 0x{found:02x}, not the framing version 0x01 (FRM-4)")]
    BadFramingByte {
        /// The byte received.
        found: u8,
    },
    /// The body length is over the limit (FRM-2, FRM-5).
    #[error("frame body length {declared} exceeds the limit of {limit} bytes (FRM-2)")]
    Oversize {
        /// The length declared by the header, or of the body to encode.
        declared: u64,
        /// The limit in force.
        limit: u32,
    },
    /// The stream ended inside a frame, or before its first byte (FRM-8).
    #[error("stream ended after {received} of {expected} {section} bytes (FRM-8)")]
    Truncated {
        /// Where the stream ended.
        section: FrameSection,
        /// Bytes of that section received.
        received: usize,
        /// Bytes that section needed.
        expected: usize,
    },
    /// The body is not a valid protobuf `Frame` (FRM-7).
    #[error("frame body is not a valid protobuf Frame (FRM-7): {0}")]
    Malformed(#[from] prost::DecodeError),
    /// Bytes follow a frame that was expected to fill the buffer.
    #[error("{count} bytes follow the frame")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The stream failed.
    #[error("i/o error on the frame stream: {0}")]
    Io(#[from] std::io::Error),
}

impl FramingError {
    /// True when the stream closed cleanly at a frame boundary: no byte of a
    /// new frame had arrived. Normal between frames; FRM-8 for a first frame.
    pub fn is_clean_close(&self) -> bool {
        matches!(
            self,
            Self::Truncated {
                section: FrameSection::Header,
                received: 0,
                ..
            }
        )
    }
}

/// Encodes the five-byte header for a body of `body_len` bytes (FRM-1).
/// Any u32 is accepted so tests can build oversize headers on purpose.
pub fn encode_header(body_len: u32) -> [u8; FRAME_HEADER_LEN] {
    let len = body_len.to_le_bytes();
    [FRAMING_VERSION, len[0], len[1], len[2], len[3]]
}

/// Checks a complete header and returns the body length (FRM-1, FRM-2, FRM-4).
pub fn parse_header(header: &[u8; FRAME_HEADER_LEN], limit: u32) -> Result<u32, FramingError> {
    if header[0] != FRAMING_VERSION {
        return Err(FramingError::BadFramingByte { found: header[0] });
    }
    let declared = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    if declared > limit {
        return Err(FramingError::Oversize {
            declared: u64::from(declared),
            limit,
        });
    }
    Ok(declared)
}

/// Encodes `frame` with its header, in one buffer so one write sends it.
/// Fails only when the body would exceed [`MAX_FRAME_BYTES`].
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, FramingError> {
    let body_len = frame.encoded_len();
    let declared = u32::try_from(body_len)
        .ok()
        .filter(|len| *len <= MAX_FRAME_BYTES)
        .ok_or(FramingError::Oversize {
            declared: body_len as u64,
            limit: MAX_FRAME_BYTES,
        })?;
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body_len);
    out.extend_from_slice(&encode_header(declared));
    frame.encode_raw(&mut out);
    Ok(out)
}

/// Decodes a frame body into a [`Frame`] (FRM-6, FRM-7). The payload shares
/// `body`'s memory. An empty body is an all-default frame.
pub fn decode_frame_body(body: Bytes) -> Result<Frame, FramingError> {
    Ok(Frame::decode(body)?)
}

/// Splits one complete frame off the front of `bytes` without copying:
/// returns the body and the total length consumed (header + body).
pub fn split_frame(bytes: &Bytes, limit: u32) -> Result<(Bytes, usize), FramingError> {
    let header: &[u8; FRAME_HEADER_LEN] = match bytes.get(..FRAME_HEADER_LEN) {
        Some(header) => header.try_into().unwrap_or(&[0; FRAME_HEADER_LEN]),
        None => {
            // Report a bad first byte before a short header, as the decoder does.
            if let Some(&first) = bytes.first().filter(|b| **b != FRAMING_VERSION) {
                return Err(FramingError::BadFramingByte { found: first });
            }
            return Err(FramingError::Truncated {
                section: FrameSection::Header,
                received: bytes.len(),
                expected: FRAME_HEADER_LEN,
            });
        }
    };
    let body_len = parse_header(header, limit)? as usize;
    let end = FRAME_HEADER_LEN + body_len;
    if bytes.len() < end {
        return Err(FramingError::Truncated {
            section: FrameSection::Body,
            received: bytes.len() - FRAME_HEADER_LEN,
            expected: body_len,
        });
    }
    Ok((bytes.slice(FRAME_HEADER_LEN..end), end))
}

/// Decodes one complete framed message held in memory (header + body).
/// Trailing bytes after the frame are an error: use [`split_frame`] to
/// walk a buffer holding several frames.
pub fn decode_framed(bytes: &Bytes, limit: u32) -> Result<Frame, FramingError> {
    let (body, consumed) = split_frame(bytes, limit)?;
    if consumed != bytes.len() {
        return Err(FramingError::TrailingBytes {
            count: bytes.len() - consumed,
        });
    }
    decode_frame_body(body)
}
