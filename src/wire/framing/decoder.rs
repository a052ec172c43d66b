//! The sans-io incremental frame decoder (FRM-1…FRM-8, FRM-12).

use bytes::Bytes;

use super::{FrameSection, FramingError, parse_header};
use crate::wire::constants::{FRAME_HEADER_LEN, FRAMING_VERSION, MAX_FRAME_BYTES};

/// What the stream readers (blocking and async) allocate for a body before
/// any of it arrived, at most: a body up to this size (a 1 MiB payload and
/// its envelope) is read into one allocation with one copy. A larger body
/// gets the rest of its declared length once this much has arrived: one
/// more allocation and one copy of what came, where doubling would copy
/// the body again at every step. The spec asks only that a peer cannot make
/// a reader allocate more than the declared, capped length (FRM-12); this
/// also keeps a peer that declares 16 MiB and sends nothing from costing
/// more than this.
pub const EAGER_BODY_BYTES: usize = (1 << 20) + 1024;

/// How many more body bytes a stream reader makes room for once the
/// `filled` bytes it has room for are in: the eager bound first, then the
/// rest of the `wanted` length.
pub(super) fn next_body_room(filled: usize, wanted: usize) -> usize {
    let rest = wanted.saturating_sub(filled);
    if filled == 0 {
        rest.min(EAGER_BODY_BYTES)
    } else {
        rest
    }
}

/// The first body allocation; later ones double, never past the declared length.
const INITIAL_BODY_CHUNK: usize = 64 * 1024;

/// Decodes frames from bytes as they arrive, without doing any I/O.
///
/// - It takes only the bytes the current frame still needs ([`wanted`]):
///   first the framing byte alone, then the length, then the body, so a
///   caller never reads past a bad byte or past the frame.
/// - A bad framing byte fails as soon as that one byte is in (FRM-4).
/// - An oversize length fails as soon as the header is complete, before
///   any body memory is allocated (FRM-2).
/// - The body buffer grows with the bytes received, doubling from 64 KiB
///   and capped at the declared length, so a peer that declares 16 MiB and
///   sends nothing costs nothing (FRM-12).
///
/// After a complete frame it starts over, ready for the next one. After an
/// error the stream is unusable; further calls repeat the error.
///
/// [`wanted`]: FrameDecoder::wanted
#[derive(Debug)]
pub struct FrameDecoder {
    limit: u32,
    header: [u8; FRAME_HEADER_LEN],
    header_filled: usize,
    /// Declared body length; meaningful once the header is complete.
    body_len: usize,
    body: Vec<u8>,
    /// Bytes of `body` received; `body` may hold a zeroed read window beyond.
    body_filled: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting bodies up to [`MAX_FRAME_BYTES`].
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME_BYTES)
    }

    /// A decoder accepting bodies up to `limit` bytes.
    pub fn with_limit(limit: u32) -> Self {
        Self {
            limit,
            header: [0; FRAME_HEADER_LEN],
            header_filled: 0,
            body_len: 0,
            body: Vec::new(),
            body_filled: 0,
        }
    }

    /// The body-length limit in force.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Exactly how many more bytes complete the current section: 1 for the
    /// framing byte, the rest of the header, then the rest of the body.
    pub fn wanted(&self) -> usize {
        match self.header_filled {
            0 => 1,
            n if n < FRAME_HEADER_LEN => FRAME_HEADER_LEN - n,
            _ => self.body_len - self.body_filled,
        }
    }

    /// The body length declared by the current frame's header, once known.
    pub fn declared_len(&self) -> Option<u32> {
        (self.header_filled == FRAME_HEADER_LEN).then_some(self.body_len as u32)
    }

    /// Bytes of the current frame received so far, header included.
    pub fn buffered(&self) -> usize {
        self.header_filled + self.body_filled
    }

    /// True when no byte of a frame has arrived since the last one completed.
    pub fn is_idle(&self) -> bool {
        self.buffered() == 0
    }

    /// Bytes of body memory currently allocated (bounded by FRM-12).
    pub fn body_capacity(&self) -> usize {
        self.body.capacity()
    }

    /// Feeds bytes. Consumes at most what the current frame needs and
    /// returns how many bytes it took and, when a frame completed, its body.
    /// Bytes it did not take belong to whatever follows the frame.
    pub fn push(&mut self, input: &[u8]) -> Result<(usize, Option<Bytes>), FramingError> {
        let mut consumed = 0;
        while consumed < input.len() {
            let take = self.wanted().min(input.len() - consumed);
            let chunk = &input[consumed..consumed + take];
            consumed += take;
            if self.header_filled < FRAME_HEADER_LEN {
                self.header[self.header_filled..self.header_filled + take].copy_from_slice(chunk);
                self.header_filled += take;
            } else {
                self.body.truncate(self.body_filled);
                self.reserve_body(take);
                self.body.extend_from_slice(chunk);
                self.body_filled += take;
            }
            if let Some(body) = self.advance()? {
                return Ok((consumed, Some(body)));
            }
        }
        // Nothing fed, or the header of a zero-length body is already in.
        Ok((consumed, self.advance()?))
    }

    /// A buffer the caller may read stream bytes into directly; its length
    /// never exceeds [`wanted`](Self::wanted), so nothing past a bad framing
    /// byte or past the frame is ever read. Follow with [`commit`](Self::commit).
    pub fn read_window(&mut self) -> &mut [u8] {
        if self.header_filled < FRAME_HEADER_LEN {
            let end = self.header_filled + self.wanted();
            return &mut self.header[self.header_filled..end];
        }
        self.body_window()
    }

    /// [`read_window`](Self::read_window), but the whole rest of the header
    /// at once: one read for the header instead of two. The framing byte is
    /// still checked as soon as it is in; a caller using this may have read
    /// up to four more header bytes by then (never past the frame's header),
    /// which suits one that closes the stream on any framing error.
    pub fn read_window_whole_header(&mut self) -> &mut [u8] {
        if self.header_filled < FRAME_HEADER_LEN {
            return &mut self.header[self.header_filled..];
        }
        self.body_window()
    }

    fn body_window(&mut self) -> &mut [u8] {
        if self.body.len() == self.body_filled {
            let remaining = self.body_len - self.body_filled;
            let chunk = remaining.min(self.body_filled.max(INITIAL_BODY_CHUNK));
            self.reserve_body(chunk);
            self.body.resize(self.body_filled + chunk, 0);
        }
        &mut self.body[self.body_filled..]
    }

    /// Records that `n` bytes were written into the last read window.
    /// Returns the body when the frame is complete.
    pub fn commit(&mut self, n: usize) -> Result<Option<Bytes>, FramingError> {
        if self.header_filled < FRAME_HEADER_LEN {
            self.header_filled += n.min(FRAME_HEADER_LEN - self.header_filled);
        } else {
            self.body_filled += n.min(self.body.len() - self.body_filled);
        }
        self.advance()
    }

    /// Completes the current frame with the rest of its body, read by the
    /// caller itself — e.g. with `read_to_end`, which fills spare capacity
    /// without zeroing a window first. `rest` holds what the stream gave,
    /// at most [`wanted`](Self::wanted) bytes; fewer means the stream ended
    /// inside the body (FRM-8). The header must be complete.
    pub fn finish_body(&mut self, rest: Vec<u8>) -> Result<Bytes, FramingError> {
        let wanted = self.wanted();
        if self.header_filled < FRAME_HEADER_LEN || rest.len() > wanted {
            return Err(FramingError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "finish_body: not at the body of a frame, or more bytes than it needs",
            )));
        }
        if rest.len() < wanted {
            self.body_filled += rest.len();
            return Err(self.eof_error());
        }
        let body = if self.body_filled == 0 {
            rest
        } else {
            let mut body = std::mem::take(&mut self.body);
            body.truncate(self.body_filled);
            body.extend_from_slice(&rest);
            body
        };
        self.body = Vec::new();
        self.header_filled = 0;
        self.body_filled = 0;
        self.body_len = 0;
        Ok(Bytes::from(body))
    }

    /// The error to report when the stream ends now (FRM-8).
    pub fn eof_error(&self) -> FramingError {
        if self.header_filled < FRAME_HEADER_LEN {
            FramingError::Truncated {
                section: FrameSection::Header,
                received: self.header_filled,
                expected: FRAME_HEADER_LEN,
            }
        } else {
            FramingError::Truncated {
                section: FrameSection::Body,
                received: self.body_filled,
                expected: self.body_len,
            }
        }
    }

    /// Validates what has arrived and hands out a completed body.
    fn advance(&mut self) -> Result<Option<Bytes>, FramingError> {
        if self.header_filled >= 1 && self.header[0] != FRAMING_VERSION {
            return Err(FramingError::BadFramingByte {
                found: self.header[0],
            });
        }
        if self.header_filled < FRAME_HEADER_LEN {
            return Ok(None);
        }
        self.body_len = parse_header(&self.header, self.limit)? as usize;
        if self.body_filled < self.body_len {
            return Ok(None);
        }
        self.body.truncate(self.body_filled);
        let body = Bytes::from(std::mem::take(&mut self.body));
        self.header_filled = 0;
        self.body_filled = 0;
        self.body_len = 0;
        Ok(Some(body))
    }

    /// Makes room for `additional` more body bytes, growing geometrically
    /// but never past the declared body length.
    fn reserve_body(&mut self, additional: usize) {
        let needed = self.body_filled + additional;
        if needed <= self.body.capacity() {
            return;
        }
        let target = needed
            .max(self.body.capacity().saturating_mul(2))
            .max(INITIAL_BODY_CHUNK)
            .min(self.body_len)
            .max(needed);
        self.body.reserve_exact(target - self.body.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_readers_allocate_the_eager_bound_then_the_rest_of_the_declared_length() {
        assert_eq!(next_body_room(0, 10), 10);
        assert_eq!(next_body_room(0, 16 << 20), EAGER_BODY_BYTES);
        assert_eq!(
            next_body_room(EAGER_BODY_BYTES, 16 << 20),
            (16 << 20) - EAGER_BODY_BYTES
        );
        assert_eq!(next_body_room(16 << 20, 16 << 20), 0);
    }
    use crate::wire::framing::encode_header;

    #[test]
    fn window_growth_is_capped_by_declared_length() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&encode_header(100)).ok();
        assert_eq!(decoder.read_window().len(), 100);
        assert!(decoder.body_capacity() >= 100 && decoder.body_capacity() < 1024);
    }

    #[test]
    fn the_whole_header_window_still_fails_on_a_bad_first_byte() {
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.read_window().len(), 1);
        assert_eq!(decoder.read_window_whole_header().len(), FRAME_HEADER_LEN);
        decoder.read_window_whole_header()[..2].copy_from_slice(&[0x02, 0x00]);
        assert!(matches!(
            decoder.commit(2),
            Err(FramingError::BadFramingByte { found: 0x02 })
        ));
        let mut decoder = FrameDecoder::new();
        decoder
            .read_window_whole_header()
            .copy_from_slice(&encode_header(3));
        assert_eq!(decoder.commit(FRAME_HEADER_LEN).ok(), Some(None));
        assert_eq!(decoder.read_window_whole_header().len(), 3, "then the body");
    }

    #[test]
    fn a_body_read_by_the_caller_completes_the_frame_or_counts_as_truncated() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&encode_header(4)).ok();
        assert_eq!(
            decoder.finish_body(vec![1, 2, 3, 4]).ok(),
            Some(Bytes::from_static(&[1, 2, 3, 4]))
        );
        assert!(decoder.is_idle(), "ready for the next frame");
        decoder.push(&encode_header(4)).ok();
        decoder.push(&[9]).ok();
        assert_eq!(
            decoder.finish_body(vec![1, 2, 3]).ok(),
            Some(Bytes::from_static(&[9, 1, 2, 3])),
            "joined to what came through push"
        );
        decoder.push(&encode_header(4)).ok();
        assert!(matches!(
            decoder.finish_body(vec![1]),
            Err(FramingError::Truncated {
                received: 1,
                expected: 4,
                ..
            })
        ));
        let mut decoder = FrameDecoder::new();
        assert!(decoder.finish_body(Vec::new()).is_err(), "no header yet");
        decoder.push(&encode_header(1)).ok();
        assert!(
            decoder.finish_body(vec![1, 2]).is_err(),
            "more than the frame"
        );
    }

    #[test]
    fn large_declared_body_allocates_only_the_first_chunk() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&encode_header(MAX_FRAME_BYTES)).ok();
        assert_eq!(decoder.read_window().len(), INITIAL_BODY_CHUNK);
        assert!(decoder.body_capacity() < 2 * INITIAL_BODY_CHUNK);
    }
}
