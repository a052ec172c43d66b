//! # broker-conformance
//!
//! Test harness, conformance suite and reference implementation for the
//! `running-process` broker protocol v1 (`../shared/spec/v1-protocol.md`).
//!
//! | module | what it holds |
//! |---|---|
//! | [`proto`] | prost types generated from `proto/` (`proto::v1`, `proto::v2`) and their descriptors |
//! | [`wire`] | the protocol vocabulary: framing, envelope checks, grammars, Hello validation, refusals, frame constructors — pure |
//! | [`golden`] | the frozen golden corpus: manifest, companions, verification |
//! | [`inspect`] | hex dumps, annotated wire dumps and hex diffs for people |
//! | [`env`] | the environment seam (an empty variable counts as unset) |
//! | [`paths`] | socket names of spec §13 |
//! | [`client`] | the client library: settings, Hello-skip, Hello, handoff adoption, admin (blocking and tokio) |
//!
//! Protocol decisions are pure functions over bytes and state; sockets and
//! processes live in thin shells around them.

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod client;
pub mod env;
pub mod golden;
pub mod inspect;
pub mod paths;
pub mod proto;
pub mod wire;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
