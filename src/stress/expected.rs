//! Expected findings: what an implementation is known to do, with reasons,
//! strict as the suite's expected-failure lists — a finding no entry
//! covers fails the storm, and so does an entry no finding matched (stale).
//!
//! ```toml
//! [[finding]]
//! phase = "slow"
//! kind = "stall"
//! clause = "FRM-13"
//! reason = "eight workers each block on one connection until its Hello deadline"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::finding::{Finding, FindingKind, Phase};

/// One expected finding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// The phase it comes from.
    pub phase: Phase,
    /// Its kind.
    pub kind: FindingKind,
    /// The clause it breaks.
    pub clause: String,
    /// Why the implementation does this.
    pub reason: String,
}

impl ExpectedFinding {
    /// Whether `finding` is this one.
    pub fn covers(&self, finding: &Finding) -> bool {
        self.phase == finding.phase && self.kind == finding.kind && self.clause == finding.clause
    }
}

/// An expected-findings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFindings {
    /// The entries.
    #[serde(default)]
    pub finding: Vec<ExpectedFinding>,
}

/// An expected-findings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Not an expected-findings file.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The failure.
        source: toml::de::Error,
    },
    /// An entry without a reason.
    #[error("{path}: the entry for {phase:?}/{clause} has no reason")]
    NoReason {
        /// The file.
        path: String,
        /// Its phase.
        phase: Phase,
        /// Its clause.
        clause: String,
    },
}

impl ExpectedFindings {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ExpectedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ExpectedError::Io {
            path: shown.clone(),
            source,
        })?;
        let list: Self = toml::from_str(&text).map_err(|source| ExpectedError::Parse {
            path: shown.clone(),
            source,
        })?;
        if let Some(e) = list.finding.iter().find(|e| e.reason.trim().is_empty()) {
            return Err(ExpectedError::NoReason {
                path: shown,
                phase: e.phase,
                clause: e.clause.clone(),
            });
        }
        Ok(list)
    }

    /// Sorts `findings` against the list.
    pub fn judge<'f>(&self, findings: &'f [Finding]) -> Judged<'f> {
        let (expected, unexpected) = findings
            .iter()
            .partition(|f| self.finding.iter().any(|e| e.covers(f)));
        let stale = self
            .finding
            .iter()
            .filter(|e| !findings.iter().any(|f| e.covers(f)))
            .cloned()
            .collect();
        Judged {
            expected,
            unexpected,
            stale,
        }
    }
}

/// Findings sorted against an expected list.
#[derive(Debug)]
pub struct Judged<'f> {
    /// Findings an entry covers.
    pub expected: Vec<&'f Finding>,
    /// Findings no entry covers: they fail the storm.
    pub unexpected: Vec<&'f Finding>,
    /// Entries no finding matched: they fail the storm too.
    pub stale: Vec<ExpectedFinding>,
}

impl Judged<'_> {
    /// Whether the storm is clean once the list is applied.
    pub fn is_clean(&self) -> bool {
        self.unexpected.is_empty() && self.stale.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::finding::Evidence;

    fn finding(phase: Phase, kind: FindingKind, clause: &str) -> Finding {
        Finding::new((1, phase, 0), kind, clause, "x", &Evidence::default())
    }

    fn list(text: &str) -> ExpectedFindings {
        toml::from_str(text).unwrap()
    }

    const STALL: &str = r#"
        [[finding]]
        phase = "slow"
        kind = "stall"
        clause = "FRM-13"
        reason = "fixed worker pool"
    "#;

    #[test]
    fn a_listed_finding_is_expected_and_an_unlisted_one_is_not() {
        let found = [
            finding(Phase::Slow, FindingKind::Stall, "FRM-13"),
            finding(Phase::Mutations, FindingKind::ReplyViolation, "REF-1"),
        ];
        let judged = list(STALL).judge(&found);
        assert_eq!(judged.expected.len(), 1);
        assert_eq!(judged.unexpected[0].clause, "REF-1");
        assert!(!judged.is_clean());
    }

    #[test]
    fn an_entry_nothing_matched_is_stale() {
        let judged = list(STALL).judge(&[]);
        assert_eq!(judged.stale.len(), 1);
        assert!(!judged.is_clean());
        assert!(ExpectedFindings::default().judge(&[]).is_clean());
    }

    #[test]
    fn a_clause_must_match_too() {
        let found = [finding(Phase::Slow, FindingKind::Stall, "FRM-9")];
        assert!(!list(STALL).judge(&found).is_clean());
    }

    #[test]
    fn unknown_keys_and_missing_reasons_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.toml");
        std::fs::write(&path, STALL.replace("fixed worker pool", " ")).unwrap();
        assert!(matches!(
            ExpectedFindings::load(&path),
            Err(ExpectedError::NoReason { .. })
        ));
        std::fs::write(&path, format!("{STALL}\nwhy = 1")).unwrap();
        assert!(matches!(
            ExpectedFindings::load(&path),
            Err(ExpectedError::Parse { .. })
        ));
    }
}
