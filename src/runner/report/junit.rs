//! The run report as JUnit XML for CI dashboards: one `<testsuite>` per
//! area, one `<testcase>` per case. Failures, unexpected passes and harness
//! errors are `<failure>`s with the detail in the body and the wire log in
//! `<system-out>`; skips, informational REF results and expected failures
//! are `<skipped>`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::tally::Tally;
use super::wirelog::render_trace;
use super::xml::{escape_attr, escape_text};
use super::{ReportError, group_by_area};
use crate::runner::model::{CaseResult, RunReport, Verdict};

/// Writes one run as a JUnit document.
pub(crate) fn write_junit(report: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    write_junit_many(std::slice::from_ref(report), out)
}

/// Writes one run as a JUnit file (`-` is standard output).
pub fn write_junit_file(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    super::write_output(path, |out| write_junit(report, out))
}

/// Writes several runs as one JUnit document. With more than one run, the
/// suites and class names are prefixed with each run's target label
/// (`upstream.frm`) so they stay apart.
pub fn write_junit_many(reports: &[RunReport], out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(render(reports).as_bytes())
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Counts as JUnit sees them: failures, and skipped (skips, info, xfail).
fn junit_counts(tally: &Tally) -> (usize, usize) {
    let failures = tally.failing();
    let skipped =
        tally.get(Verdict::Skip) + tally.get(Verdict::Info) + tally.get(Verdict::ExpectedFail);
    (failures, skipped)
}

fn render(reports: &[RunReport]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = Tally::of(reports.iter().flat_map(|r| &r.cases));
    let (failures, skipped) = junit_counts(&all);
    let duration: u64 = reports.iter().map(|r| r.duration_ms).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"broker-conformance\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        all.total(),
        seconds(duration)
    );
    let prefixed = reports.len() > 1;
    for report in reports {
        for (area, cases) in group_by_area(&report.cases) {
            let name = if prefixed {
                format!("{}.{area}", report.target.label)
            } else {
                area.to_owned()
            };
            suite(&mut out, report, &name, &cases);
        }
    }
    out += "</testsuites>\n";
    out
}

fn suite(out: &mut String, report: &RunReport, name: &str, cases: &[&CaseResult]) {
    let tally = Tally::of(cases.iter().copied());
    let (failures, skipped) = junit_counts(&tally);
    let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        escape_attr(name),
        tally.total(),
        seconds(time)
    );
    out.push_str("    <properties>\n");
    let target = &report.target;
    let mut properties = vec![
        ("target.kind", target.kind.clone()),
        ("target.label", target.label.clone()),
        ("target.is_reference", target.is_reference.to_string()),
        ("tool_version", report.tool_version.clone()),
        ("started_at_unix_ms", report.started_at_unix_ms.to_string()),
    ];
    if let Some(command) = &target.command {
        properties.insert(2, ("target.command", command.clone()));
    }
    for (key, value) in properties {
        let _ = writeln!(
            out,
            "      <property name=\"{key}\" value=\"{}\"/>",
            escape_attr(&value)
        );
    }
    out.push_str("    </properties>\n");
    for case in cases {
        testcase(out, name, case);
    }
    out.push_str("  </testsuite>\n");
}

fn testcase(out: &mut String, classname: &str, case: &CaseResult) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        escape_attr(classname),
        escape_attr(&case.id),
        seconds(case.duration_ms)
    );
    let skipped = match case.verdict {
        Verdict::Pass => {
            out.push_str("/>\n");
            return;
        }
        Verdict::Skip => Some(case.message.clone()),
        Verdict::Info => Some(labelled(
            "REF case: informational for this broker",
            &case.message,
        )),
        Verdict::ExpectedFail => Some(labelled("expected failure", &case.message)),
        Verdict::Fail | Verdict::UnexpectedPass | Verdict::Error => None,
    };
    out.push_str(">\n");
    match skipped {
        Some(message) => {
            let _ = writeln!(
                out,
                "      <skipped message=\"{}\"/>",
                escape_attr(&message)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                escape_attr(&case.message),
                case.verdict.label().to_lowercase(),
                escape_text(&failure_body(case))
            );
            if !case.trace.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape_text(&render_trace(&case.trace))
                );
            }
        }
    }
    out.push_str("    </testcase>\n");
}

fn labelled(label: &str, message: &str) -> String {
    if message.is_empty() {
        label.to_owned()
    } else {
        format!("{label}: {message}")
    }
}

/// The failure's body: level, clauses and summary, then the detail.
fn failure_body(case: &CaseResult) -> String {
    let mut body = format!(
        "{} {} [{}]: {}\n",
        case.level,
        case.id,
        case.clauses.join(", "),
        case.summary
    );
    if !case.detail.is_empty() {
        body.push_str(&case.detail);
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::json::tests::sample_report;

    fn junit(reports: &[RunReport]) -> String {
        let mut out = Vec::new();
        write_junit_many(reports, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn one_testsuite_per_area_with_counts_and_target_properties() {
        let text = junit(&[sample_report()]);
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"broker-conformance\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\" time=\"4.200\">\n"), "{text}");
        assert!(text.contains("  <testsuite name=\"frm\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"3.000\">\n"), "{text}");
        assert!(text.contains("  <testsuite name=\"hel\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"2\" time=\"3.000\">\n"), "{text}");
        assert_eq!(
            text.matches("<property name=\"target.label\" value=\"upstream\"/>")
                .count(),
            2
        );
        assert!(
            text.contains("<property name=\"target.command\" value=\"broker --serve\"/>"),
            "{text}"
        );
        assert!(text.ends_with("  </testsuite>\n</testsuites>\n"));
    }

    #[test]
    fn a_pass_is_an_empty_testcase() {
        let text = junit(&[sample_report()]);
        assert!(
            text.contains("    <testcase classname=\"frm\" name=\"frm.ok\" time=\"1.500\"/>\n"),
            "{text}"
        );
    }

    #[test]
    fn a_failure_carries_its_escaped_message_detail_and_wire_log() {
        let text = junit(&[sample_report()]);
        assert!(text.contains(
            "      <failure message=\"refused.code: expected ERROR_VERSION_UNSUPPORTED\" type=\"fail\">MUST frm.bad-first-byte [FRM-4, FRM-11]: summary of frm.bad-first-byte\nexpected: &lt;1&gt;\nactual: &quot;2&quot; &amp; more\n</failure>\n"
        ), "{text}");
        assert!(
            text.contains("      <system-out>     0 ms  main  send  (1 byte)\n"),
            "{text}"
        );
    }

    #[test]
    fn skips_and_info_are_skipped_with_their_reason() {
        let text = junit(&[sample_report()]);
        assert!(text.contains("<testcase classname=\"hel\" name=\"hel.root-only\" time=\"1.500\">\n      <skipped message=\"needs root\"/>\n    </testcase>\n"), "{text}");
        assert!(text.contains("<skipped message=\"REF case: informational for this broker: reason text differs\"/>"), "{text}");
    }

    #[test]
    fn expected_failures_are_skipped_and_unexpected_passes_and_errors_fail() {
        let mut report = sample_report();
        report.cases[0].verdict = Verdict::ExpectedFail;
        report.cases[0].message = "known <bug>".into();
        report.cases[2].verdict = Verdict::UnexpectedPass;
        report.cases[2].message = "stale entry: remove it".into();
        report.cases[3].verdict = Verdict::Error;
        report.cases[3].message = "socket vanished".into();
        let text = junit(&[report]);
        assert!(
            text.contains("<skipped message=\"expected failure: known &lt;bug&gt;\"/>"),
            "{text}"
        );
        assert!(
            text.contains("<failure message=\"stale entry: remove it\" type=\"xpass\">"),
            "{text}"
        );
        assert!(
            text.contains("<failure message=\"socket vanished\" type=\"error\">"),
            "{text}"
        );
        assert!(text.contains("failures=\"3\""), "{text}");
    }

    #[test]
    fn hostile_ids_and_messages_cannot_break_the_document() {
        let mut report = sample_report();
        report.target.label = "a\"b<c>".into();
        report.cases[1].id = "frm.x\"/><injected/>".into();
        report.cases[1].message = "</failure>\u{0}]]>\n".into();
        let text = junit(&[report]);
        assert!(!text.contains("<injected/>"), "{text}");
        assert!(
            text.contains("name=\"frm.x&quot;/&gt;&lt;injected/&gt;\""),
            "{text}"
        );
        assert!(
            text.contains("message=\"&lt;/failure&gt;\\u{0}]]&gt;&#10;\""),
            "{text}"
        );
        assert!(text.contains("value=\"a&quot;b&lt;c&gt;\""), "{text}");
        // Every tag opened is closed: count the element names.
        for tag in [
            "testsuites",
            "testsuite",
            "properties",
            "failure",
            "system-out",
        ] {
            assert_eq!(
                text.matches(&format!("<{tag}>")).count()
                    + text.matches(&format!("<{tag} ")).count(),
                text.matches(&format!("</{tag}>")).count(),
                "{tag} in {text}"
            );
        }
    }

    #[test]
    fn several_runs_are_kept_apart_by_label() {
        let mut other = sample_report();
        other.target.label = "reference".into();
        let text = junit(&[sample_report(), other]);
        assert!(text.contains("<testsuite name=\"upstream.frm\""), "{text}");
        assert!(text.contains("<testsuite name=\"reference.hel\""), "{text}");
        assert!(
            text.contains("<testcase classname=\"reference.frm\" name=\"frm.ok\""),
            "{text}"
        );
        assert!(text.contains("tests=\"8\""), "{text}");
    }
}
