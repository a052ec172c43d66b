//! A case's verdict as a libtest outcome: pass and expected failures
//! complete, skips and informational REF results are ignored with their
//! reason, and anything that fails a run fails the test with the same
//! case block the CLI prints.

use std::io::Sink;

use libtest_mimic::{Completion, Failed};

use crate::runner::model::{CaseResult, Verdict};
use crate::runner::report::HumanReporter;

/// The libtest outcome of `result`; failures carry `reporter`'s case block.
pub(super) fn outcome(
    result: &CaseResult,
    reporter: &HumanReporter<Sink>,
) -> Result<Completion, Failed> {
    match result.verdict {
        Verdict::Pass => Ok(Completion::Completed),
        Verdict::ExpectedFail => Ok(Completion::ignored_with(format!(
            "expected failure: {}",
            first_line(&result.message)
        ))),
        Verdict::Skip | Verdict::Info => Ok(Completion::ignored_with(format!(
            "{}: {}",
            result.verdict.label(),
            first_line(&result.message)
        ))),
        Verdict::Fail | Verdict::UnexpectedPass | Verdict::Error => {
            Err(Failed::from(reporter.case_block(result)))
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::model::Level;
    use crate::runner::report::ColorChoice;
    use crate::runner::suite::Suite;

    fn result(verdict: Verdict, message: &str) -> CaseResult {
        CaseResult {
            id: "frm.example".into(),
            clauses: vec!["FRM-3".into()],
            level: Level::Must,
            summary: "an example".into(),
            verdict,
            message: message.into(),
            detail: String::new(),
            duration_ms: 3,
            trace: Vec::new(),
        }
    }

    fn reporter() -> HumanReporter<Sink> {
        HumanReporter::new(std::io::sink(), ColorChoice::Never, &Suite::default())
    }

    /// `Some(reason)` for an ignored outcome, `None` for a completed one.
    fn ignored(verdict: Verdict, message: &str) -> Option<String> {
        match outcome(&result(verdict, message), &reporter()) {
            Ok(Completion::Completed) => None,
            Ok(Completion::Ignored { reason }) => Some(reason.unwrap_or_default()),
            Err(e) => panic!("{verdict:?} must not fail the test: {e:?}"),
        }
    }

    #[test]
    fn passes_complete_and_expected_failures_are_ignored_with_the_reason() {
        assert_eq!(ignored(Verdict::Pass, ""), None);
        assert_eq!(
            ignored(Verdict::ExpectedFail, "no reply\nmore"),
            Some("expected failure: no reply".into())
        );
        assert_eq!(
            ignored(Verdict::Skip, "skipped: needs root"),
            Some("skip: skipped: needs root".into())
        );
    }

    #[test]
    fn failures_carry_the_cli_case_block() {
        let r = reporter();
        for verdict in [Verdict::Fail, Verdict::UnexpectedPass, Verdict::Error] {
            let failed = outcome(&result(verdict, "the reply differs"), &r)
                .err()
                .unwrap_or_else(|| panic!("{verdict:?} must fail the test"));
            let message = failed.message().unwrap_or_default();
            assert_eq!(message, r.case_block(&result(verdict, "the reply differs")));
            assert!(message.contains("frm.example"), "{message}");
            assert!(message.contains("the reply differs"), "{message}");
        }
    }
}
