//! The protocol's vocabulary, pure and reused by everything: constants,
//! framing, envelope checks, grammars, Hello validation, the refusal table
//! and frame constructors. Nothing here touches a socket except the thin
//! std/tokio shells in [`framing::blocking`] and [`framing::async_io`].

pub(crate) mod constants;
pub mod env_vars;
pub(crate) mod envelope;
pub mod frames;
pub mod framing;
pub(crate) mod grammar;
pub(crate) mod handoff;
pub(crate) mod hello;
pub(crate) mod payload;
pub(crate) mod refusal;

pub use constants::*;
pub use envelope::{EnvelopeError, ReplyContext, check_envelope, decode_payload};
pub use framing::{FrameDecoder, FramingError};
pub use grammar::{validate_program_name, validate_service_name, validate_version};
pub use hello::{validate_hello, validate_hello_fields};
pub use refusal::Refusal;
