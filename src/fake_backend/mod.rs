//! Fake backends: a scriptable backend any broker can launch (this crate's
//! `broker-conformance` executable, invoked as `fake-backend`), choosing its behaviour
//! from the service name or the wanted version's pre-release tag, and
//! recording what it saw where a test can read it.

mod behavior;
pub(crate) mod cli;
mod harness;
mod recorder;
mod run;

pub use behavior::{Behavior, UnknownBehavior};

/// The name under which the `broker-conformance` executable (or a harness
/// test binary) is the fake backend: installations are named so, and
/// [`FakeBackend::spawn`] starts it so.
pub const FAKE_BACKEND_NAME: &str = "fake-backend";
pub use harness::FakeBackend;
pub use recorder::{Record, Recorder, read_records, records_dir_for};
pub use run::{
    BIND_LATE_DELAY, FakeBackendError, FakeHandler, FakeHandoffPolicy, HANDOFF_LATE_DELAY,
    claimed_identity, run_process,
};
