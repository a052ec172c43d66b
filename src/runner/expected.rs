//! Expected-failure lists (`conformance/expected/<implementation>.toml`):
//! the cases an implementation is known to fail, each with a reason.
//!
//! The lists are strict, so they cannot go stale: a listed case that passes
//! becomes [`Verdict::UnexpectedPass`] (which fails the run), and an entry
//! that names no case, repeats another entry or cites a clause its case does
//! not prove is a problem that fails the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{CaseResult, Verdict};
use super::suite::Suite;

/// One implementation's expected failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailures {
    /// The implementation and version the list is for, e.g. `running-process 4.10.21`.
    pub implementation: String,
    /// The entries, in file order.
    #[serde(default)]
    pub expected: Vec<ExpectedEntry>,
}

/// One expected failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEntry {
    /// The case id.
    pub case: String,
    /// Why the implementation fails it (required, non-empty).
    pub reason: String,
    /// The clause the failure is about; must be one the case cites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
}

/// An expected-failure list that cannot be read or is malformed.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// The file could not be read.
    #[error("expected-failure list {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not a valid list.
    #[error("expected-failure list {origin}: {message}")]
    Invalid {
        /// Where the list came from.
        origin: String,
        /// What is wrong, with the line when known.
        message: String,
    },
}

/// Reads an expected-failure list from a file.
pub fn load_expected(path: &Path) -> Result<ExpectedFailures, ExpectedError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExpectedError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_expected(&path.display().to_string(), &text)
}

/// Parses an expected-failure list; `origin` names it in errors. Every
/// entry needs a non-empty reason.
pub(crate) fn parse_expected(origin: &str, text: &str) -> Result<ExpectedFailures, ExpectedError> {
    let invalid = |message: String| ExpectedError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let list: ExpectedFailures = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        invalid(match line {
            Some(line) => format!("line {line}: {}", e.message()),
            None => e.message().to_owned(),
        })
    })?;
    if list.implementation.trim().is_empty() {
        return Err(invalid("`implementation` is empty".into()));
    }
    if let Some(entry) = list.expected.iter().find(|e| has_no_reason(e)) {
        return Err(invalid(format!(
            "the entry for {:?} has no reason; every expected failure says why",
            entry.case
        )));
    }
    Ok(list)
}

fn has_no_reason(entry: &ExpectedEntry) -> bool {
    entry.reason.trim().is_empty()
}

impl ExpectedFailures {
    /// The entry for a case id (the first, when the list repeats it).
    pub fn entry_for(&self, case_id: &str) -> Option<&ExpectedEntry> {
        self.expected.iter().find(|e| e.case == case_id)
    }

    /// Problems with the list itself, checked against the suite: entries
    /// naming no live case (or a retired one), repeated entries, empty
    /// reasons, and clauses the case does not cite. Each fails the run.
    pub fn problems(&self, suite: &Suite) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, entry) in self.expected.iter().enumerate() {
            let n = index + 1;
            let id = entry.case.as_str();
            if let Some(first) = seen.get(id) {
                problems.push(format!(
                    "expected-failure entry {n} repeats {id:?} (first listed as entry {first}): remove one"
                ));
                continue;
            }
            seen.insert(id, n);
            if has_no_reason(entry) {
                problems.push(format!(
                    "expected-failure entry {n} ({id:?}) has no reason: say why it fails"
                ));
            }
            match suite.case(id) {
                Some(case) => {
                    if let Some(clause) = &entry.clause
                        && !case.clauses.contains(clause)
                    {
                        problems.push(format!(
                            "expected-failure entry {n} ({id:?}) names clause {clause}, which the case does not cite ({})",
                            case.clauses.join(", ")
                        ));
                    }
                }
                None if suite.retired.iter().any(|t| t.id == id) => problems.push(format!(
                    "expected-failure entry {n} names retired case {id:?}: remove it"
                )),
                None => problems.push(format!(
                    "expected-failure entry {n} names {id:?}, which is no case of the suite: remove or fix it"
                )),
            }
        }
        problems
    }

    /// Applies the list to one result: a listed failure becomes
    /// [`Verdict::ExpectedFail`] (message = the reason, the original message
    /// kept in the detail); a listed pass becomes
    /// [`Verdict::UnexpectedPass`]; a listed skip, info or error keeps its
    /// verdict and gets a note. Unlisted results and results already
    /// rewritten are left alone, so applying twice changes nothing.
    pub fn apply_to(&self, result: &mut CaseResult) {
        let Some(entry) = self.entry_for(&result.id) else {
            return;
        };
        match result.verdict {
            Verdict::Fail => {
                let failure = std::mem::replace(&mut result.message, entry.reason.clone());
                result.verdict = Verdict::ExpectedFail;
                result.detail =
                    prepend_line(&format!("failed as expected: {failure}"), &result.detail);
            }
            Verdict::Pass => {
                result.verdict = Verdict::UnexpectedPass;
                result.message = format!(
                    "stale entry: the case passes, remove it from the expected-failure list for {} (it said: {})",
                    self.implementation, entry.reason
                );
            }
            Verdict::Skip | Verdict::Info | Verdict::Error => {
                let note = format!(
                    "note: listed as an expected failure for {} ({}), but the case did not run to a verdict, so the entry was not checked",
                    self.implementation, entry.reason
                );
                if !result.detail.contains(&note) {
                    let mut detail = std::mem::take(&mut result.detail);
                    if !detail.is_empty() && !detail.ends_with('\n') {
                        detail.push('\n');
                    }
                    let _ = write!(detail, "{note}");
                    result.detail = detail;
                }
            }
            Verdict::ExpectedFail | Verdict::UnexpectedPass => {}
        }
    }
}

fn prepend_line(line: &str, rest: &str) -> String {
    if rest.is_empty() {
        line.to_owned()
    } else {
        format!("{line}\n{rest}")
    }
}

/// Applies an expected-failure list to a run's results (see
/// [`ExpectedFailures::apply_to`]) and returns the list's problems (see
/// [`ExpectedFailures::problems`]); any problem fails the run.
#[cfg(test)]
fn apply_expected(
    results: &mut [CaseResult],
    list: &ExpectedFailures,
    suite: &Suite,
) -> Vec<String> {
    for result in results.iter_mut() {
        list.apply_to(result);
    }
    list.problems(suite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::model::{Level, Tombstone};

    fn suite() -> Suite {
        let files = [(
            "cases/hel.toml".to_owned(),
            br#"
[[case]]
id = "hel.a"
clauses = ["HEL-7"]
level = "MUST"
summary = "a"
[[case.step]]
pause_ms = 1

[[case]]
id = "hel.b"
clauses = ["HEL-8", "HEL-9"]
level = "SHOULD"
summary = "b"
[[case.step]]
pause_ms = 1
"#
            .to_vec(),
        )]
        .into_iter()
        .collect();
        let mut suite = Suite::from_files("test".into(), files).expect("suite parses");
        suite.retired.push(Tombstone {
            id: "hel.old".into(),
            reason: "gone".into(),
        });
        suite
    }

    fn result(id: &str, verdict: Verdict, message: &str) -> CaseResult {
        CaseResult {
            id: id.into(),
            clauses: vec![],
            level: Level::Must,
            summary: String::new(),
            verdict,
            message: message.into(),
            detail: "expected X, got Y".into(),
            duration_ms: 1,
            trace: vec![],
        }
    }

    fn list(entries: &[(&str, &str, Option<&str>)]) -> ExpectedFailures {
        ExpectedFailures {
            implementation: "impl 1.0".into(),
            expected: entries
                .iter()
                .map(|(case, reason, clause)| ExpectedEntry {
                    case: (*case).into(),
                    reason: (*reason).into(),
                    clause: clause.map(str::to_owned),
                })
                .collect(),
        }
    }

    #[test]
    fn a_listed_failure_becomes_expected_with_the_reason_as_message() {
        let mut results = [result("hel.a", Verdict::Fail, "wrong code")];
        let problems = apply_expected(
            &mut results,
            &list(&[("hel.a", "known bug", None)]),
            &suite(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(results[0].verdict, Verdict::ExpectedFail);
        assert_eq!(results[0].message, "known bug");
        assert_eq!(
            results[0].detail,
            "failed as expected: wrong code\nexpected X, got Y"
        );
        assert!(!results[0].verdict.fails_run());
    }

    #[test]
    fn a_listed_pass_becomes_an_unexpected_pass_that_fails_the_run() {
        let mut results = [result("hel.a", Verdict::Pass, "")];
        let problems = apply_expected(
            &mut results,
            &list(&[("hel.a", "known bug", None)]),
            &suite(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(results[0].verdict, Verdict::UnexpectedPass);
        assert!(
            results[0].message.starts_with("stale entry:"),
            "{}",
            results[0].message
        );
        assert!(results[0].message.contains("remove it"));
        assert!(results[0].verdict.fails_run());
    }

    #[test]
    fn an_entry_naming_no_case_is_a_problem() {
        let mut results = [result("hel.a", Verdict::Pass, "")];
        let problems = apply_expected(&mut results, &list(&[("hel.nope", "x", None)]), &suite());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("\"hel.nope\", which is no case"),
            "{}",
            problems[0]
        );
        assert_eq!(results[0].verdict, Verdict::Pass);
    }

    #[test]
    fn an_entry_naming_a_retired_case_says_so() {
        let problems = list(&[("hel.old", "x", None)]).problems(&suite());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("retired case \"hel.old\""),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_repeated_entry_is_a_problem_and_the_first_entry_applies() {
        let mut results = [result("hel.a", Verdict::Fail, "boom")];
        let problems = apply_expected(
            &mut results,
            &list(&[
                ("hel.a", "first", None),
                ("hel.b", "b", None),
                ("hel.a", "second", None),
            ]),
            &suite(),
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("entry 3 repeats \"hel.a\" (first listed as entry 1)"));
        assert_eq!(results[0].message, "first");
    }

    #[test]
    fn skipped_info_and_error_results_keep_their_verdict_and_get_a_note() {
        for verdict in [Verdict::Skip, Verdict::Info, Verdict::Error] {
            let mut results = [result("hel.a", verdict, "why")];
            let problems =
                apply_expected(&mut results, &list(&[("hel.a", "flaky", None)]), &suite());
            assert!(problems.is_empty());
            assert_eq!(results[0].verdict, verdict);
            assert_eq!(results[0].message, "why");
            assert!(
                results[0].detail.starts_with(
                    "expected X, got Y\nnote: listed as an expected failure for impl 1.0 (flaky)"
                ),
                "{}",
                results[0].detail
            );
        }
    }

    #[test]
    fn applying_twice_changes_nothing_more() {
        let l = list(&[("hel.a", "r", None), ("hel.b", "r", None)]);
        let mut results = [
            result("hel.a", Verdict::Fail, "boom"),
            result("hel.b", Verdict::Skip, "needs root"),
        ];
        apply_expected(&mut results, &l, &suite());
        let once = results.clone();
        apply_expected(&mut results, &l, &suite());
        assert_eq!(results, once);
    }

    #[test]
    fn unlisted_results_are_untouched() {
        let mut results = [result("hel.b", Verdict::Fail, "boom")];
        apply_expected(&mut results, &list(&[("hel.a", "r", None)]), &suite());
        assert_eq!(results[0].verdict, Verdict::Fail);
        assert_eq!(results[0].message, "boom");
    }

    #[test]
    fn a_clause_the_case_does_not_cite_is_a_problem() {
        let problems = list(&[
            ("hel.b", "r", Some("HEL-9")),
            ("hel.a", "r", Some("HEL-20")),
        ])
        .problems(&suite());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("names clause HEL-20, which the case does not cite (HEL-7)"));
    }

    #[test]
    fn an_empty_reason_is_a_problem_in_a_built_list() {
        let problems = list(&[("hel.a", "  ", None)]).problems(&suite());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("has no reason"));
    }

    #[test]
    fn the_readme_format_parses() {
        let text = r#"
implementation = "running-process 4.10.21"
[[expected]]
case = "hel.shutting-down-during-drain"
reason = "HEL-20: upstream stops accepting at once and never sends SHUTTING_DOWN"
[[expected]]
case = "hel.a"
clause = "HEL-7"
reason = "r"
"#;
        let list = parse_expected("x.toml", text).expect("parses");
        assert_eq!(list.implementation, "running-process 4.10.21");
        assert_eq!(list.expected.len(), 2);
        assert_eq!(list.expected[1].clause.as_deref(), Some("HEL-7"));
    }

    #[test]
    fn a_missing_or_empty_reason_is_rejected_when_loading() {
        let missing = "implementation = \"x\"\n[[expected]]\ncase = \"hel.a\"\n";
        let err = parse_expected("x.toml", missing).expect_err("no reason");
        assert!(err.to_string().contains("reason"), "{err}");
        let empty = "implementation = \"x\"\n[[expected]]\ncase = \"hel.a\"\nreason = \" \"\n";
        let err = parse_expected("x.toml", empty).expect_err("empty reason");
        assert!(err.to_string().contains("\"hel.a\" has no reason"), "{err}");
    }

    #[test]
    fn unknown_keys_and_a_missing_implementation_are_rejected() {
        let err = parse_expected(
            "x.toml",
            "implementation = \"x\"\n[[expected]]\ncase = \"a\"\nreason = \"r\"\nwhy = 1\n",
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("line 5"), "{err}");
        assert!(parse_expected("x.toml", "[[expected]]\ncase = \"a\"\nreason = \"r\"\n").is_err());
    }

    #[test]
    fn loading_a_missing_file_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("none.toml");
        let err = load_expected(&path).expect_err("missing");
        assert!(err.to_string().contains("none.toml"), "{err}");
    }
}
