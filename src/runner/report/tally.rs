//! Counting results by verdict, in one fixed order every report shares.

use crate::runner::model::{CaseResult, Verdict};

/// Every verdict, in the order reports list them.
pub(crate) const VERDICT_ORDER: [Verdict; 7] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::ExpectedFail,
    Verdict::Info,
    Verdict::Skip,
    Verdict::UnexpectedPass,
    Verdict::Error,
];

/// How a verdict is named in counts: `pass`, `fail`, `xfail`, `info`,
/// `skip`, `xpass`, `error`.
pub(crate) fn count_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::ExpectedFail => "xfail",
        Verdict::Info => "info",
        Verdict::Skip => "skip",
        Verdict::UnexpectedPass => "xpass",
        Verdict::Error => "error",
    }
}

fn slot(verdict: Verdict) -> usize {
    VERDICT_ORDER
        .iter()
        .position(|v| *v == verdict)
        .unwrap_or_default()
}

/// Result counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    counts: [usize; VERDICT_ORDER.len()],
}

impl Tally {
    /// Counts the verdicts of `results`.
    pub(crate) fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Self {
        let mut tally = Self::default();
        for result in results {
            tally.add(result.verdict);
        }
        tally
    }

    /// Counts one more result.
    pub(crate) fn add(&mut self, verdict: Verdict) {
        self.counts[slot(verdict)] += 1;
    }

    /// How many results had this verdict.
    pub(crate) fn get(&self, verdict: Verdict) -> usize {
        self.counts[slot(verdict)]
    }

    /// How many results in all.
    pub(crate) fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// How many results fail the run.
    pub(crate) fn failing(&self) -> usize {
        VERDICT_ORDER
            .iter()
            .filter(|v| v.fails_run())
            .map(|v| self.get(*v))
            .sum()
    }

    /// `N pass, N fail, N xfail, N info, N skip, N xpass, N error`.
    pub(crate) fn summary(&self) -> String {
        VERDICT_ORDER
            .iter()
            .map(|v| format!("{} {}", self.get(*v), count_name(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_verdict_in_report_order() {
        let mut tally = Tally::default();
        for v in [
            Verdict::Pass,
            Verdict::Pass,
            Verdict::Error,
            Verdict::UnexpectedPass,
            Verdict::Skip,
        ] {
            tally.add(v);
        }
        assert_eq!(tally.total(), 5);
        assert_eq!(tally.failing(), 2);
        assert_eq!(
            tally.summary(),
            "2 pass, 0 fail, 0 xfail, 0 info, 1 skip, 1 xpass, 1 error"
        );
    }
}
