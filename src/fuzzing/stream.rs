//! `frame_decoder`: the incremental [`FrameDecoder`] fed one stream four
//! ways, and the blocking stream reader built on it (FRM-1…FRM-8, FRM-12).

use bytes::Bytes;

use super::{Pieces, rng_for};
use crate::wire::framing::blocking::read_frame_body;
use crate::wire::framing::{encode_header, split_frame};
use crate::wire::{FrameDecoder, MAX_FRAME_BYTES, MAX_HELLO_BYTES};

/// What a decoder made of a whole stream: the bodies in order, then how
/// the stream ended (`None`: cleanly between frames; else the error text,
/// or the FRM-8 error of a stream that stopped inside a frame).
#[derive(Debug, PartialEq)]
struct Outcome {
    bodies: Vec<Bytes>,
    end: Option<String>,
}

/// How bytes reach the decoder.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// `push`, all of it at once.
    Whole,
    /// `push`, in pieces.
    Pieces,
    /// `read_window` + `commit`, in pieces.
    Window,
    /// `read_window_whole_header` + `commit`, in pieces.
    WholeHeaderWindow,
}

/// Feeds `data` to the decoder in arbitrary splits derived from the input.
/// Invariants: never panics; the same bytes whole or in pieces, through
/// `push` or the read windows, give the same bodies and the same end; body
/// memory never exceeds the declared, capped length (FRM-12); an error
/// repeats on later calls; the bodies re-encode to the stream's bytes; and
/// the in-memory `split_frame` and the blocking `read_frame_body` (reading
/// from a stream that hands out arbitrary pieces) agree on every frame and
/// on the end.
pub fn frame_decoder(data: &[u8]) {
    let mut rng = rng_for(data);
    let limit = [0, 16, MAX_HELLO_BYTES, MAX_FRAME_BYTES][rng.usize(..4)];
    let whole = run(data, limit, Feed::Whole, &mut rng);
    for feed in [Feed::Pieces, Feed::Window, Feed::WholeHeaderWindow] {
        let other = run(data, limit, feed, &mut rng);
        assert_eq!(other, whole, "{feed:?} differs from one push");
    }
    let mut framed = Vec::with_capacity(data.len());
    for body in &whole.bodies {
        let len = u32::try_from(body.len()).unwrap_or_else(|_| panic!("body over 4 GiB"));
        framed.extend_from_slice(&encode_header(len));
        framed.extend_from_slice(body);
    }
    assert_eq!(
        framed,
        data[..framed.len()],
        "the bodies re-encode to the input"
    );
    assert_eq!(split_all(data, limit), whole, "split_frame disagrees");
    assert_eq!(
        read_all(data, limit, &mut rng),
        whole,
        "read_frame_body disagrees"
    );
}

/// The next piece length: mostly a few bytes, sometimes a large read.
fn piece(rng: &mut fastrand::Rng) -> usize {
    if rng.u8(..8) == 0 {
        rng.usize(1..=4096)
    } else {
        rng.usize(1..=9)
    }
}

fn run(data: &[u8], limit: u32, feed: Feed, rng: &mut fastrand::Rng) -> Outcome {
    let mut decoder = FrameDecoder::with_limit(limit);
    let mut bodies = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let want = match feed {
            Feed::Whole => data.len() - pos,
            _ => piece(rng).min(data.len() - pos),
        };
        let step = match feed {
            Feed::Whole | Feed::Pieces => push(&mut decoder, &data[pos..pos + want]),
            Feed::Window | Feed::WholeHeaderWindow => {
                let whole_header = matches!(feed, Feed::WholeHeaderWindow);
                window(&mut decoder, &data[pos..pos + want], whole_header)
            }
        };
        assert_within_declared(&decoder);
        match step {
            Ok((taken, body)) => {
                assert!(taken > 0 || body.is_some(), "no progress on {feed:?}");
                pos += taken;
                bodies.extend(body);
            }
            Err(error) => {
                let again = decoder
                    .push(&data[pos..])
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                assert_eq!(again, Err(error.clone()), "an error repeats");
                return Outcome {
                    bodies,
                    end: Some(error),
                };
            }
        }
    }
    let end = (!decoder.is_idle()).then(|| decoder.eof_error().to_string());
    Outcome { bodies, end }
}

type Step = Result<(usize, Option<Bytes>), String>;

fn push(decoder: &mut FrameDecoder, bytes: &[u8]) -> Step {
    decoder.push(bytes).map_err(|e| e.to_string())
}

/// One read into the decoder's window, as a stream reader does it.
fn window(decoder: &mut FrameDecoder, bytes: &[u8], whole_header: bool) -> Step {
    let wanted = decoder.wanted();
    let buffer = if whole_header {
        decoder.read_window_whole_header()
    } else {
        decoder.read_window()
    };
    if !whole_header {
        assert!(buffer.len() <= wanted, "a window past the frame");
    }
    assert!(!buffer.is_empty(), "an empty read window");
    let n = buffer.len().min(bytes.len());
    buffer[..n].copy_from_slice(&bytes[..n]);
    let body = decoder.commit(n).map_err(|e| e.to_string())?;
    Ok((n, body))
}

/// FRM-12: body memory never exceeds the declared (capped) length.
fn assert_within_declared(decoder: &FrameDecoder) {
    let declared = decoder.declared_len().unwrap_or(0);
    assert!(
        declared <= decoder.limit(),
        "declared length over the limit"
    );
    assert!(
        decoder.body_capacity() <= declared as usize,
        "body capacity {} over the declared length {declared} (FRM-12)",
        decoder.body_capacity()
    );
}

/// The same stream walked with the in-memory `split_frame`.
fn split_all(data: &[u8], limit: u32) -> Outcome {
    let mut rest = Bytes::copy_from_slice(data);
    let mut bodies = Vec::new();
    while !rest.is_empty() {
        match split_frame(&rest, limit) {
            Ok((body, consumed)) => {
                bodies.push(body);
                rest = rest.slice(consumed..);
            }
            Err(e) => {
                return Outcome {
                    bodies,
                    end: Some(e.to_string()),
                };
            }
        }
    }
    Outcome { bodies, end: None }
}

/// The same stream read frame by frame with the blocking reader.
fn read_all(data: &[u8], limit: u32, rng: &mut fastrand::Rng) -> Outcome {
    let mut stream = Pieces::new(data, rng);
    let mut bodies = Vec::new();
    loop {
        match read_frame_body(&mut stream, limit) {
            Ok(body) => bodies.push(body),
            Err(e) => {
                let end = (!e.is_clean_close()).then(|| e.to_string());
                return Outcome { bodies, end };
            }
        }
    }
}
