//! A storm's report for people (a summary table per phase, then each
//! finding with its annotated bytes) and as JUnit XML (one test per phase).

use std::fmt::Write as _;

use super::expected::Judged;
use super::finding::Finding;
use super::storm::{PhaseReport, StressReport};
use crate::runner::report::xml::{escape_attr, escape_text};

/// The summary table: one line per phase.
pub fn render_summary(report: &StressReport) -> String {
    let mut out = format!(
        "stress: {} (seed {})\n  {:10} {:>10} {:>9} {:>11} {:>9} {:>12}\n",
        report.target.label,
        report.seed,
        "phase",
        "ops",
        "seconds",
        "ops/s",
        "findings",
        "liveness"
    );
    for p in &report.phases {
        let _ = writeln!(
            out,
            "  {:10} {:>10} {:>9.2} {:>11.0} {:>9} {:>12}",
            p.phase.name(),
            p.operations,
            p.seconds,
            p.per_second,
            p.findings,
            liveness(p)
        );
        let _ = writeln!(out, "      {}", counts_line(p));
        if let Some(r) = &p.resources {
            let _ = writeln!(
                out,
                "      resources: fds {}→{}, threads {}→{}, rss {:.1}→{:.1} MiB, zombies {}",
                r.before.fds,
                r.after.fds,
                r.before.threads,
                r.after.threads,
                r.before.rss_kib as f64 / 1024.0,
                r.after.rss_kib as f64 / 1024.0,
                r.after.zombies
            );
        }
    }
    out
}

fn liveness(p: &PhaseReport) -> String {
    p.liveness_ms
        .map_or_else(|| "none".to_owned(), |ms| format!("{ms:.1} ms"))
}

fn counts_line(p: &PhaseReport) -> String {
    serde_json::to_value(&p.counts)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// One finding for people, with its bytes annotated.
pub fn render_finding(number: usize, f: &Finding, expected: bool) -> String {
    let mut out = format!(
        "finding #{number}{}: {} {} {} (seed {}, index {}): {}\n",
        if expected { " (expected)" } else { "" },
        f.phase.name(),
        f.kind.name(),
        f.clause,
        f.seed,
        f.index,
        f.message
    );
    if !f.sent_annotated.is_empty() {
        let _ = writeln!(
            out,
            "  sent{}:\n{}",
            if f.half_close {
                " (then half-closed)"
            } else {
                ""
            },
            indent(&f.sent_annotated)
        );
    }
    if !f.received_annotated.is_empty() {
        let _ = writeln!(out, "  received:\n{}", indent(&f.received_annotated));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// JUnit XML: a suite per storm, a test per phase, failing with its
/// unexpected findings; stale expected entries fail a test of their own.
pub fn render_junit(report: &StressReport, judged: &Judged<'_>) -> String {
    let failures = report
        .phases
        .iter()
        .filter(|p| judged.unexpected.iter().any(|f| f.phase == p.phase))
        .count()
        + usize::from(!judged.stale.is_empty());
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        escape_attr(&format!("stress {}", report.target.label)),
        report.phases.len() + usize::from(!judged.stale.is_empty()),
    );
    for p in &report.phases {
        let _ = write!(
            out,
            "  <testcase classname=\"stress\" name=\"{}\" time=\"{:.3}\">",
            p.phase.name(),
            p.seconds
        );
        let mine: Vec<_> = judged
            .unexpected
            .iter()
            .filter(|f| f.phase == p.phase)
            .collect();
        if let Some(first) = mine.first() {
            let body: String = mine
                .iter()
                .enumerate()
                .map(|(i, f)| render_finding(i, f, false))
                .collect();
            let _ = write!(
                out,
                "<failure message=\"{}\">{}</failure>",
                escape_attr(&format!(
                    "{} finding(s), first: {} {}",
                    mine.len(),
                    first.clause,
                    first.message
                )),
                escape_text(&body)
            );
        }
        out.push_str("</testcase>\n");
    }
    if !judged.stale.is_empty() {
        let names: Vec<String> = judged
            .stale
            .iter()
            .map(|e| format!("{} {} {}", e.phase.name(), e.kind.name(), e.clause))
            .collect();
        let _ = writeln!(
            out,
            "  <testcase classname=\"stress\" name=\"expected-findings\"><failure message=\"{}\"/></testcase>",
            escape_attr(&format!("stale expected findings: {}", names.join("; ")))
        );
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::expected::ExpectedFindings;
    use crate::stress::finding::{Evidence, FindingKind, Phase};
    use crate::stress::resources::{ResourceDelta, ResourceSample};
    use crate::stress::storm::{PhaseCounts, STRESS_SCHEMA_VERSION};
    use crate::stress::storms::StormsTally;
    use crate::testbed::TargetInfo;

    fn report(findings: Vec<Finding>) -> StressReport {
        StressReport {
            schema_version: STRESS_SCHEMA_VERSION,
            target: TargetInfo {
                kind: "built-in".into(),
                label: "reference".into(),
                command: None,
                is_reference: true,
            },
            seed: 5,
            phases: vec![PhaseReport {
                phase: Phase::Storms,
                operations: 10,
                seconds: 0.5,
                per_second: 20.0,
                findings: findings.len() as u64,
                liveness_ms: Some(1.5),
                counts: PhaseCounts::Storms(StormsTally::default()),
                resources: Some(ResourceDelta {
                    before: ResourceSample {
                        fds: 10,
                        threads: 3,
                        rss_kib: 2048,
                        zombies: 0,
                    },
                    after: ResourceSample {
                        fds: 12,
                        threads: 3,
                        rss_kib: 4096,
                        zombies: 1,
                    },
                }),
            }],
            findings,
        }
    }

    #[test]
    fn the_summary_has_a_line_per_phase_with_rates_and_liveness() {
        let text = render_summary(&report(Vec::new()));
        assert!(text.contains("storms"), "{text}");
        assert!(text.contains("1.5 ms"), "{text}");
        assert!(text.contains("burst_held 0"), "{text}");
        assert!(
            text.contains("resources: fds 10→12, threads 3→3, rss 2.0→4.0 MiB, zombies 1"),
            "{text}"
        );
    }

    #[test]
    fn junit_fails_the_phase_of_an_unexpected_finding_only() {
        let f = Finding::new(
            (5, Phase::Storms, 1),
            FindingKind::Liveness,
            "FRM-13",
            "no answer <&>",
            &Evidence::default(),
        );
        let r = report(vec![f]);
        let none = ExpectedFindings::default();
        let xml = render_junit(&r, &none.judge(&r.findings));
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("no answer &lt;&amp;&gt;"), "{xml}");
        let clean = report(Vec::new());
        let xml = render_junit(&clean, &none.judge(&clean.findings));
        assert!(
            xml.contains("failures=\"0\"") && !xml.contains("<failure"),
            "{xml}"
        );
    }
}
