//! The conformance runner: replays the suite in `conformance/` against a
//! broker — the built-in reference broker, one the runner starts from a
//! command template, or one already running — and reports a verdict per
//! case and per spec clause. The brokers it tests come from [`crate::testbed`].

pub mod catalogue;
pub mod coverage;
pub mod expected;
pub mod lint;
pub mod model;
pub mod report;
pub mod suite;

pub use model::{Case, CaseResult, Level, RunReport, Step, TargetInfo, Verdict};
pub use suite::{Suite, SuiteError};
pub mod conn;
pub mod engine;
pub mod judge;
pub mod matching;
pub mod requests;
pub mod schedule;
