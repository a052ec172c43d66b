//! Measuring brokers. Every figure is read against a physical baseline
//! measured in the same run, because shared machines are noisy: the raw
//! Unix-socket server of [`raw`] is that baseline.
//!
//! - [`stats`]: latency samples, percentiles and ratios;
//! - [`exchange`]: one client exchange (connect, request, reply, close),
//!   identical for a broker and for the baseline;
//! - [`raw`]: the baselines: an accept-read-reply-close server and an
//!   `SCM_RIGHTS` pass;
//! - [`load`]: concurrent clients for a duration, and held-open idle
//!   connections;
//! - [`compare`]: scenarios sampled interleaved against a baseline, as a
//!   table of percentiles and ratios;
//! - [`lab`]: a scratch directory with fake-backend services, and the
//!   brokers under measurement started on it.
//!
//! The benches in `benches/` and `broker-conformance load` are built on it.

pub mod compare;
pub mod exchange;
pub mod lab;
pub mod load;
pub mod raw;
pub mod stats;
