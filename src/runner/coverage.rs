//! Coverage: which cases prove each clause of the spec. An observable MUST
//! clause without a case fails `coverage`; observable SHOULD and REF
//! clauses without one are warnings; clauses no case can observe say why.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::model::Level;
use super::suite::Suite;

/// One clause and the cases that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClauseCoverage {
    /// The clause id.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Whether a case can observe it from outside a broker.
    pub observable: bool,
    /// Why not, for unobservable clauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The ids of the cases citing it, in suite order.
    pub cases: Vec<String>,
}

impl ClauseCoverage {
    /// True when it is observable and no case cites it.
    pub fn is_gap(&self) -> bool {
        self.observable && self.cases.is_empty()
    }
}

/// Clause counts for one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LevelTotals {
    /// Clauses of this level.
    pub clauses: usize,
    /// Of them, observable.
    pub observable: usize,
    /// Observable ones with at least one case.
    pub covered: usize,
    /// Observable ones with no case.
    pub uncovered: usize,
}

/// A case citing a clause the catalogue does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownCitation {
    /// The case.
    pub case: String,
    /// The clause it cites.
    pub clause: String,
}

/// The coverage of a suite's clause catalogue by its cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    /// Where the suite came from.
    pub source: String,
    /// Every clause of the catalogue, in catalogue order.
    pub clauses: Vec<ClauseCoverage>,
    /// Counts per level.
    pub totals: BTreeMap<Level, LevelTotals>,
    /// Citations of clauses the catalogue does not hold.
    pub unknown_citations: Vec<UnknownCitation>,
}

/// Maps every clause of `suite`'s catalogue to the cases citing it.
pub fn coverage(suite: &Suite) -> CoverageReport {
    let clauses: Vec<ClauseCoverage> = suite
        .clauses
        .iter()
        .map(|clause| ClauseCoverage {
            id: clause.id.clone(),
            level: clause.level,
            observable: clause.observable,
            why: clause.why.clone(),
            cases: suite
                .cases
                .iter()
                .filter(|case| case.clauses.contains(&clause.id))
                .map(|case| case.id.clone())
                .collect(),
        })
        .collect();
    let mut totals: BTreeMap<Level, LevelTotals> = [Level::Must, Level::Should, Level::Ref]
        .into_iter()
        .map(|l| (l, LevelTotals::default()))
        .collect();
    for clause in &clauses {
        let t = totals.entry(clause.level).or_default();
        t.clauses += 1;
        if clause.observable {
            t.observable += 1;
            if clause.cases.is_empty() {
                t.uncovered += 1;
            } else {
                t.covered += 1;
            }
        }
    }
    let unknown_citations = suite
        .cases
        .iter()
        .flat_map(|case| {
            case.clauses
                .iter()
                .filter(|id| suite.clause(id).is_none())
                .map(|id| UnknownCitation {
                    case: case.id.clone(),
                    clause: id.clone(),
                })
        })
        .collect();
    CoverageReport {
        source: suite.source.clone(),
        clauses,
        totals,
        unknown_citations,
    }
}

impl CoverageReport {
    /// Observable MUST clauses with no case: each fails coverage.
    pub fn missing_must(&self) -> Vec<&ClauseCoverage> {
        self.clauses
            .iter()
            .filter(|c| c.level == Level::Must && c.is_gap())
            .collect()
    }

    /// Observable SHOULD and REF clauses with no case: warnings.
    pub fn uncovered_optional(&self) -> Vec<&ClauseCoverage> {
        self.clauses
            .iter()
            .filter(|c| c.level != Level::Must && c.is_gap())
            .collect()
    }

    /// True when every observable MUST clause has a case.
    pub fn passed(&self) -> bool {
        self.missing_must().is_empty()
    }

    /// One line per clause (id, level, observable or why not, cases), the
    /// totals per level, warnings, and the verdict.
    pub fn render_text(&self) -> String {
        let id_width = self.clauses.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let mut out = format!("coverage of {}\n", self.source);
        for c in &self.clauses {
            let cases = if c.cases.is_empty() {
                "(no case)".to_owned()
            } else {
                c.cases.join(", ")
            };
            let _ = write!(out, "{:<id_width$}  {:<6}  ", c.id, c.level.to_string());
            if c.observable {
                let _ = writeln!(out, "observable    {cases}");
            } else {
                let why = c.why.as_deref().unwrap_or("no reason given");
                let _ = writeln!(out, "unobservable  {cases}  (why: {why})");
            }
        }
        out += "\ntotals:\n";
        for (level, t) in &self.totals {
            let _ = writeln!(
                out,
                "  {:<6}  {} clauses, {} observable, {} covered, {} uncovered",
                level.to_string(),
                t.clauses,
                t.observable,
                t.covered,
                t.uncovered
            );
        }
        for c in self.uncovered_optional() {
            let _ = writeln!(
                out,
                "warning: observable {} clause {} has no case",
                c.level, c.id
            );
        }
        for u in &self.unknown_citations {
            let _ = writeln!(
                out,
                "warning: case {} cites {}, which is not in the clause catalogue",
                u.case, u.clause
            );
        }
        let missing = self.missing_must();
        if missing.is_empty() {
            out += "coverage: every observable MUST clause has a case\n";
        } else {
            let ids: Vec<&str> = missing.iter().map(|c| c.id.as_str()).collect();
            let _ = writeln!(
                out,
                "FAILED: {} observable MUST clauses have no case: {}",
                ids.len(),
                ids.join(", ")
            );
        }
        out
    }

    /// The report as one JSON object: `source`, `passed`, `clauses`,
    /// `totals` per level, `missing_must`, `warnings` (uncovered observable
    /// SHOULD/REF clause ids) and `unknown_citations`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "passed": self.passed(),
            "clauses": self.clauses,
            "totals": self.totals,
            "missing_must": self.missing_must().iter().map(|c| &c.id).collect::<Vec<_>>(),
            "warnings": self.uncovered_optional().iter().map(|c| &c.id).collect::<Vec<_>>(),
            "unknown_citations": self.unknown_citations,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn suite(cases: &str) -> Suite {
        let clauses = r#"
[[clause]]
id = "FRM-1"
level = "MUST"
rule = "r1"

[[clause]]
id = "FRM-2"
level = "MUST"
rule = "r2"
observable = false
why = "internal allocation"

[[clause]]
id = "HEL-9"
level = "SHOULD"
rule = "r3"

[[clause]]
id = "REG-1"
level = "REF"
rule = "r4"
"#;
        Suite::from_files(
            "test suite".into(),
            BTreeMap::from([
                ("clauses.toml".to_owned(), clauses.as_bytes().to_vec()),
                ("cases/frm.toml".to_owned(), cases.as_bytes().to_vec()),
            ]),
        )
        .expect("parses")
    }

    const CASE: &str = r#"
[[case]]
id = "frm.one"
clauses = ["FRM-1", "XYZ-9"]
level = "MUST"
summary = "s"
[[case.step]]
pause_ms = 1
"#;

    #[test]
    fn clauses_map_to_the_cases_citing_them() {
        let report = coverage(&suite(CASE));
        assert_eq!(report.clauses[0].cases, ["frm.one"]);
        assert!(report.clauses[1].cases.is_empty());
        assert_eq!(
            report.totals[&Level::Must],
            LevelTotals {
                clauses: 2,
                observable: 1,
                covered: 1,
                uncovered: 0
            }
        );
        assert_eq!(
            report.unknown_citations,
            [UnknownCitation {
                case: "frm.one".into(),
                clause: "XYZ-9".into()
            }]
        );
    }

    #[test]
    fn an_unobservable_must_clause_without_a_case_does_not_fail() {
        let report = coverage(&suite(CASE));
        assert!(report.passed());
        let text = report.render_text();
        assert!(
            text.contains("FRM-2  MUST    unobservable  (no case)  (why: internal allocation)\n"),
            "{text}"
        );
        assert!(
            text.contains("FRM-1  MUST    observable    frm.one\n"),
            "{text}"
        );
        assert!(
            text.contains("warning: observable SHOULD clause HEL-9 has no case\n"),
            "{text}"
        );
        assert!(
            text.contains("warning: observable REF clause REG-1 has no case\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "warning: case frm.one cites XYZ-9, which is not in the clause catalogue\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("coverage: every observable MUST clause has a case\n"),
            "{text}"
        );
        assert!(
            text.contains("  MUST    2 clauses, 1 observable, 1 covered, 0 uncovered\n"),
            "{text}"
        );
    }

    #[test]
    fn an_uncovered_observable_must_clause_fails_and_is_named() {
        let report = coverage(&suite(""));
        assert!(!report.passed());
        let missing: Vec<&str> = report
            .missing_must()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(missing, ["FRM-1"]);
        assert!(
            report
                .render_text()
                .ends_with("FAILED: 1 observable MUST clauses have no case: FRM-1\n")
        );
        let json = report.to_json();
        assert_eq!(json["passed"], false);
        assert_eq!(json["missing_must"], serde_json::json!(["FRM-1"]));
        assert_eq!(json["warnings"], serde_json::json!(["HEL-9", "REG-1"]));
        assert_eq!(json["totals"]["MUST"]["uncovered"], 1);
        assert_eq!(json["clauses"][1]["why"], "internal allocation");
    }
}
