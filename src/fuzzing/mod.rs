//! Fuzz-target bodies: one `pub fn TARGET(data: &[u8])`
//! per decoder, holding the target and its invariant checks. A broken
//! invariant panics. `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) and
//! `tests/fuzz_corpus.rs` (stable, in `cargo test`) both call these, so each
//! body exists once. See `fuzz/README.md`.
#![allow(
    clippy::panic,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

mod files;
mod first_frame;
mod handoff;
#[cfg(unix)]
mod hello_machine;
mod stream;

use std::io::{self, Read};

use bytes::Bytes;

use crate::proto::v1::Frame;
use crate::wire::MAX_FRAME_BYTES;
use crate::wire::ReplyContext;
use crate::wire::framing::{decode_framed, encode_frame};

pub use files::{event_log, service_definition};
#[cfg(unix)]
pub use first_frame::admin_request;
pub use first_frame::hello_frame;
pub use handoff::{HANDOFF_CORRELATION_ID, HANDOFF_TOKEN, handoff_messages};
#[cfg(unix)]
pub use hello_machine::hello_machine;
pub use stream::frame_decoder;

/// A fuzz target: its name (the `fuzz/fuzz_targets/` file and corpus
/// directory) and its body.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// `frame_decoder`, `hello_frame`, ...
    pub name: &'static str,
    /// The body: never panics unless an invariant breaks.
    pub run: fn(&[u8]),
}

/// Every target: the decoders bottom up, then the Hello machine.
pub const TARGETS: &[Target] = &[
    Target {
        name: "frame_decoder",
        run: frame_decoder,
    },
    Target {
        name: "hello_frame",
        run: hello_frame,
    },
    #[cfg(unix)]
    Target {
        name: "admin_request",
        run: admin_request,
    },
    Target {
        name: "handoff_messages",
        run: handoff_messages,
    },
    Target {
        name: "service_definition",
        run: service_definition,
    },
    Target {
        name: "event_log",
        run: event_log,
    },
    #[cfg(unix)]
    Target {
        name: "hello_machine",
        run: hello_machine,
    },
];

/// A deterministic generator seeded from the input itself (FNV-1a), so a
/// target's choices (chunk splits, limits) replay exactly from a corpus file.
fn rng_for(data: &[u8]) -> fastrand::Rng {
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    fastrand::Rng::with_seed(seed)
}

/// `frame` as a peer reads it: encoded with its header, then decoded.
/// Panics when a frame this crate built does not survive the wire.
fn over_the_wire(frame: &Frame) -> Frame {
    let bytes = encode_frame(frame).unwrap_or_else(|e| panic!("reply does not encode: {e}"));
    decode_framed(&Bytes::from(bytes), MAX_FRAME_BYTES)
        .unwrap_or_else(|e| panic!("reply does not re-decode: {e}"))
}

/// A reply's envelope: RESPONSE of `payload_protocol`, encoding NONE, no
/// deadline, and the request's id and trace fields echoed (ENV-4, FRM-11).
fn assert_reply_envelope(reply: &Frame, payload_protocol: u32, ctx: &ReplyContext) {
    if let Err(v) = crate::stress::invariants::check_hello_envelope(reply, payload_protocol, ctx) {
        panic!("reply envelope: {v}");
    }
}

/// A reader handing out `data` in pieces of arbitrary sizes (1 to 17
/// bytes), as a socket might.
struct Pieces<'a> {
    data: &'a [u8],
    rng: &'a mut fastrand::Rng,
}

impl<'a> Pieces<'a> {
    fn new(data: &'a [u8], rng: &'a mut fastrand::Rng) -> Self {
        Self { data, rng }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rng.usize(1..=17).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
