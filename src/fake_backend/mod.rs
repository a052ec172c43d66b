//! Fake backends: a scriptable backend any broker can launch (this crate's
//! `broker-conformance` executable, invoked as `fake-backend`), choosing its behaviour
//! from the service name or the wanted version's pre-release tag, and
//! recording what it saw where a test can read it.
//!
//! The v2 `http` family (`http`, `http-port-0`, `http-port-too-big`,
//! `http-twice`, `http-never`) also serves a page naming its service and
//! version on 127.0.0.1:0 ([`BackendPage`]) and reports — or misreports —
//! its port to `RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE` (V2R-5, V2K-7).

mod behavior;
pub(crate) mod cli;
mod harness;
mod http;
mod recorder;
mod run;

pub use behavior::{Behavior, UnknownBehavior};

/// The name under which the `broker-conformance` executable (or a harness
/// test binary) is the fake backend: installations are named so, and
/// [`FakeBackend::spawn`] starts it so.
pub const FAKE_BACKEND_NAME: &str = "fake-backend";
pub use harness::FakeBackend;
pub use http::BackendPage;
pub use recorder::{Record, Recorder, read_records, records_dir_for};
pub use run::{
    BIND_LATE_DELAY, FakeBackendError, FakeHandler, FakeHandoffPolicy, HANDOFF_LATE_DELAY,
    claimed_identity, run_process,
};
