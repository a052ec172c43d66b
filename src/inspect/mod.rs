//! Rendering bytes for people: hex, annotated protobuf wire dumps and hex
//! diffs. Used by `golden show`, golden verification and the runner's reports.

pub(crate) mod annotate;
pub(crate) mod diff;
pub(crate) mod hex;

pub use annotate::{annotate_framed, annotate_message, annotate_named, render};
pub use diff::hex_diff;
pub use hex::{HexError, parse_hex, to_hex};
