//! # broker-conformance
//!
//! Test harness, conformance suite and reference implementation for the
//! `running-process` broker protocol v1 (`../shared/spec/v1-protocol.md`).
//!
//! | module | what it holds |
//! |---|---|
//! | [`proto`] | prost types generated from `proto/` (`proto::v1`, `proto::v2`) and their descriptors |
//! | [`wire`] | the protocol vocabulary: framing, envelope checks, grammars, Hello validation, refusals, frame constructors — pure |
//! | [`runner`] | the conformance runner: the suite as data, schedules, verdicts, reports |
//! | [`stress`] | `broker-conformance stress`: mutation engine, reply invariants, findings (pure); storm phases (unix) |
//! | [`testbed`] | the broker under test: targets (built-in, command, endpoint), provisioning, fake-backend installs |
//! | [`harness`] | the suite as a library harness: one libtest test per case in an implementer's `cargo test` |
//! | [`golden`] | the frozen golden corpus: manifest, companions, verification |
//! | [`http`] | the v2 HTTP status surface (V2W): page, `/api/backends`, `/health`, bind, discovery file |
//! | [`inspect`] | hex dumps, annotated wire dumps and hex diffs for people |
//! | [`env`](mod@env) | the environment seam (an empty variable counts as unset) |
//! | [`paths`] | socket names of spec §13 |
//! | [`policy`] | pure rules the broker and `doctor` share: socket directory (SEC-2), socket path (SEC-6), binary containment (LCH-1) |
//! | [`events`] | the lifecycle event log: append-only, hash-chained, verifiable (EVT-1…EVT-3) |
//! | [`definitions`] | service definitions and cache manifests on disk: checks, loader, builders, atomic writes (§10, §11) |
//! | [`broker`] | the reference broker: decisions, registry, launch, probe, admin, server, embeddable handle |
//! | [`fake_backend`] | the scriptable fake backend (behaviours, recorder) behind `fake-backend` |
//! | [`backend`] | the backend SDK: launch contract, listener adoption, identity probe, frame server |
//! | [`doctor`] | read-only diagnostics of a broker's environment: facts, pure checks, text and JSON reports (unix) |
//! | `sys` | the thin OS layer: peer credentials, `/proc` facts, fd usage, passwd, randomness (unix) |
//! | [`client`] | the client library: settings, Hello-skip, Hello, handoff adoption, admin (blocking and tokio) |
//! | `fuzzing` | the fuzz-target bodies and their invariants, shared by `fuzz/` and `tests/fuzz_corpus.rs` (hidden) |
//!
//! Protocol decisions are pure functions over bytes and state; sockets and
//! processes live in thin shells around them.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(unix)]
pub mod backend;
#[cfg(unix)]
pub mod broker;
pub mod client;
pub mod definitions;
#[cfg(unix)]
pub mod doctor;
pub mod env;
pub mod events;
#[cfg(unix)]
pub mod fake_backend;
#[doc(hidden)]
pub mod fuzzing;
pub mod golden;
#[cfg(unix)]
pub mod harness;
#[cfg(unix)]
pub mod http;
pub mod inspect;
pub mod paths;
#[cfg(unix)]
pub mod perf;
#[cfg(unix)]
pub mod policy;
pub mod proto;
#[cfg(unix)]
pub mod runner;
pub mod stress;
#[cfg(unix)]
pub mod sys;
#[cfg(unix)]
pub mod testbed;
pub mod wire;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
