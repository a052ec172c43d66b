//! The conformance runner: replays the suite in `conformance/` against a
//! broker — the built-in reference broker, one the runner starts from a
//! command template, or one already running — and reports a verdict per
//! case and per spec clause. The brokers it tests come from [`crate::testbed`].

pub(crate) mod catalogue;
pub(crate) mod coverage;
pub(crate) mod expected;
pub(crate) mod lint;
pub(crate) mod model;
pub(crate) mod report;
pub(crate) mod suite;

pub use catalogue::{Catalogue, regenerate, render_catalogue, spec_clauses};
pub use coverage::coverage;
pub use expected::load_expected;
pub use lint::lint_suite;
pub use model::{
    Case, CaseResult, ClausesFile, Level, RunReport, Step, TargetInfo, Verdict, case_file_schema,
};
pub use report::{
    ColorChoice, HumanReporter, REPORT_SCHEMA_VERSION, ReportError, RunObserver, read_json_file,
    render_matrix, write_json_file, write_junit_file, write_junit_many, write_output,
};
pub use schedule::{CaseRunner, RunSettings, run_cases};
pub use suite::{Suite, SuiteError};
pub(crate) mod conn;
pub(crate) mod engine;
pub(crate) mod judge;
pub(crate) mod matching;
pub(crate) mod requests;
pub(crate) mod schedule;
