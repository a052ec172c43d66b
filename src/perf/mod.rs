//! Measuring brokers. Every figure is read against a physical baseline
//! measured in the same run, because shared machines are noisy: the raw
//! Unix-socket server of `raw` is that baseline.
//!
//! - `stats`: latency samples, percentiles and ratios;
//! - `exchange`: one client exchange (connect, request, reply, close),
//!   identical for a broker and for the baseline;
//! - `raw`: the baselines: an accept-read-reply-close server and an
//!   `SCM_RIGHTS` pass;
//! - `load`: concurrent clients for a duration, and held-open idle
//!   connections;
//! - `compare`: scenarios sampled interleaved against a baseline, as a
//!   table of percentiles and ratios;
//! - `lab`: a scratch directory with fake-backend services, and the
//!   brokers under measurement started on it.
//!
//! The benches in `benches/` and `broker-conformance load` are built on it.

pub(crate) mod compare;
pub(crate) mod exchange;
pub(crate) mod lab;
pub(crate) mod load;
pub(crate) mod raw;
pub(crate) mod stats;
pub use compare::{Sampling, Scenario, interleaved, report_dir, samples_from_env};
pub use exchange::{Exchange, hello_request_bytes, read_frame_into};
pub use lab::{ECHO_SERVICE, HANDOFF_SERVICE, Lab, LabBroker, server_pid};
pub use load::{IdleReport, LoadConfig, LoadReport, measure_idle, run_load};
pub use raw::{FdPassServer, RawServer, pass_fd};
pub use stats::Micros;
