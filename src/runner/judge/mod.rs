//! Judging, without I/O: what the shell read (a reply frame, the fake
//! backend's records, the event log) against a step's expectations, to a
//! [`Judgement`]. Each judge is a pure function with unit tests of its own.

pub(crate) mod event_log;
pub(crate) mod http;
pub(crate) mod records;
pub(crate) mod reply;

use super::matching::{Actual, Captures, check, resolve_json};
use super::model::{Checks, Matcher};

pub(crate) use event_log::judge_event_log;
pub(crate) use http::{HttpResponse, discovery_address, judge_http};
pub(crate) use records::judge_records;
pub(crate) use reply::judge_reply;

/// A step that did not pass: a one-line message and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What went wrong, in one line.
    pub message: String,
    /// Expected vs actual, hex diffs, the frame received.
    pub detail: String,
}

impl Failure {
    /// A failure with no details.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            detail: String::new(),
        }
    }
}

/// Whether a check binds every broker or only the reference broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// A miss fails the step.
    Must,
    /// A `ref_*` check: a miss is a REF note, binding only when REF is
    /// judged as MUST (the reference broker).
    RefOnly,
}

/// What one judge found.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Judgement {
    /// Missed expectations that fail the step, `what: why`.
    pub problems: Vec<String>,
    /// Missed `ref_*` expectations, `what (REF): why`.
    pub ref_misses: Vec<String>,
    /// Values captured by this step.
    pub captures: Captures,
    /// What was received, shown under the problems when the step fails.
    pub received: String,
}

impl Judgement {
    /// Checks one value, noting a miss as `what` with its binding; a value
    /// that could not be read (`Err`) is always a problem.
    pub(crate) fn check(
        &mut self,
        what: &str,
        actual: Result<Actual, String>,
        expected: &Matcher,
        binding: Binding,
        captures: &Captures,
    ) {
        let missed = match actual {
            Err(unreadable) => Some((unreadable, Binding::Must)),
            Ok(actual) => check(&actual, expected, captures)
                .err()
                .map(|why| (why, binding)),
        };
        match missed {
            None => {}
            Some((why, Binding::Must)) => self.problems.push(format!("{what}: {why}")),
            Some((why, Binding::RefOnly)) => self.ref_misses.push(format!("{what} (REF): {why}")),
        }
    }

    /// Checks each JSON pointer of `checks` against `json` (a pointer that
    /// names nothing reads as absent), noting misses as `json <pointer>`.
    pub(crate) fn json_pointers(
        &mut self,
        json: &serde_json::Value,
        checks: &Checks,
        binding: Binding,
        captures: &Captures,
    ) {
        for (pointer, expected) in checks {
            let actual = Ok(resolve_json(json, pointer));
            self.check(
                &format!("json {pointer}"),
                actual,
                expected,
                binding,
                captures,
            );
        }
    }

    /// The step's failure when anything binding was missed: the first
    /// problem as the message, every problem (then what was received) as
    /// the details.
    pub(crate) fn failure(&self) -> Option<Failure> {
        let first = self.problems.first()?;
        let mut detail = self.problems.join("\n");
        if !self.received.is_empty() {
            detail = format!(
                "expected vs actual:\n  {}\n{}",
                self.problems.join("\n  "),
                self.received
            );
        }
        Some(Failure {
            message: first.clone(),
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_judgement_without_problems_is_no_failure_even_with_ref_misses() {
        let mut j = Judgement::default();
        let none = Captures::default();
        j.check(
            "a",
            Ok(Actual::Int(1)),
            &Matcher::Len(3),
            Binding::RefOnly,
            &none,
        );
        assert_eq!(j.failure(), None);
        assert_eq!(j.ref_misses, ["a (REF): expected length 3, got none (1)"]);
    }

    #[test]
    fn problems_become_one_failure_with_every_problem_in_the_detail() {
        let mut j = Judgement::default();
        let none = Captures::default();
        j.check(
            "a",
            Ok(Actual::Int(1)),
            &Matcher::Absent,
            Binding::Must,
            &none,
        );
        j.check(
            "b",
            Err("no field".into()),
            &Matcher::Any,
            Binding::Must,
            &none,
        );
        let failure = j.failure().unwrap_or_else(|| panic!("a failure"));
        assert_eq!(failure.message, "a: expected it not set, got 1");
        assert_eq!(failure.detail, "a: expected it not set, got 1\nb: no field");
    }

    #[test]
    fn an_unreadable_path_binds_even_under_ref() {
        let mut j = Judgement::default();
        let none = Captures::default();
        j.check(
            "p",
            Err("refused is not set".into()),
            &Matcher::Any,
            Binding::RefOnly,
            &none,
        );
        assert_eq!(j.ref_misses, Vec::<String>::new());
        assert_eq!(j.problems.len(), 1);
    }
}
