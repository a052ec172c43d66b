//! What a run produces: verdicts, wire logs, case results and the whole
//! report `run --json` writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::case::Case;
use super::catalogue::Level;

/// The verdict on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Passed.
    Pass,
    /// Failed a MUST/SHOULD (or a REF on the reference broker).
    Fail,
    /// Failed, and listed as an expected failure.
    ExpectedFail,
    /// Passed, but listed as an expected failure: the list is stale.
    UnexpectedPass,
    /// A REF case failed on another broker: reported, not counted.
    Info,
    /// The target lacks what the case needs.
    Skip,
    /// The harness could not run the case.
    Error,
}

impl Verdict {
    /// True when this verdict fails the run.
    pub fn fails_run(self) -> bool {
        matches!(self, Self::Fail | Self::UnexpectedPass | Self::Error)
    }

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::ExpectedFail => "xfail",
            Self::UnexpectedPass => "XPASS",
            Self::Info => "info",
            Self::Skip => "skip",
            Self::Error => "ERROR",
        }
    }
}

/// One event of a case's wire log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// The connection.
    pub conn: String,
    /// `send`, `recv`, `close`, `note`.
    pub what: String,
    /// Bytes in hex, for sends and receives.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hex: String,
    /// A description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Clauses it proves.
    pub clauses: Vec<String>,
    /// Its level.
    pub level: Level,
    /// Its summary.
    pub summary: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it failed, was skipped or errored; the expected-failure reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Details: expected vs actual, hex diffs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// How long it took.
    pub duration_ms: u64,
    /// The wire log (kept for failures, or always with --trace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEvent>,
}

impl CaseResult {
    /// `case`'s result with this verdict and message, nothing else yet.
    pub fn of(case: &Case, verdict: Verdict, message: String) -> Self {
        Self {
            id: case.id.clone(),
            clauses: case.clauses.clone(),
            level: case.level,
            summary: case.summary.clone(),
            verdict,
            message,
            detail: String::new(),
            duration_ms: 0,
            trace: Vec::new(),
        }
    }
}

pub use crate::testbed::TargetInfo;

/// A whole run, as written by `run --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Format version of this file.
    pub schema_version: u32,
    /// This tool's version.
    pub tool_version: String,
    /// The target.
    pub target: TargetInfo,
    /// When the run started (Unix ms).
    pub started_at_unix_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// Every case result, in suite order.
    pub cases: Vec<CaseResult>,
}

impl RunReport {
    /// Count of results per verdict.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for case in &self.cases {
            *counts.entry(case.verdict.label()).or_default() += 1;
        }
        counts
    }

    /// True when no result fails the run.
    pub fn passed(&self) -> bool {
        !self.cases.iter().any(|c| c.verdict.fails_run())
    }
}
