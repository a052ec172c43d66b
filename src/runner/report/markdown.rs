//! An implementation × case matrix in Markdown, from several runs: a
//! header row per run (tool version, target, counts), then a table per
//! area with a row per case and a column per run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::group_by_area;
use super::tally::{Tally, VERDICT_ORDER, count_name};
use crate::runner::model::{CaseResult, RunReport, Verdict};

/// The matrix cell for a verdict.
pub(crate) fn cell(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::ExpectedFail => "⚠️",
        Verdict::Info => "💡",
        Verdict::Skip => "⏭",
        Verdict::Error => "🔥",
        Verdict::UnexpectedPass => "❗",
    }
}

const LEGEND: &str = "✅ pass · ❌ fail · ⚠️ expected failure · 💡 informational (REF case on another broker) · \
⏭ skipped · 🔥 harness error · ❗ unexpected pass (stale expected-failure entry) · blank: not in that run";

/// Text made safe for a table cell: pipes escaped, line breaks flattened.
fn table_text(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Inline code when the text allows it, else escaped plain text.
fn code(text: &str) -> String {
    if text.contains('`') {
        table_text(text)
    } else {
        format!("`{}`", table_text(text))
    }
}

/// Column titles: each run's target label, numbered when labels repeat.
fn column_titles(reports: &[RunReport]) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    reports
        .iter()
        .map(|r| {
            let label = r.target.label.as_str();
            let n = seen.entry(label).or_default();
            *n += 1;
            let repeated = reports.iter().filter(|o| o.target.label == label).count() > 1;
            if repeated {
                table_text(&format!("{label} ({n})"))
            } else {
                table_text(label)
            }
        })
        .collect()
}

/// Renders the matrix of `reports`. Rows follow the order in which cases
/// first appear across the runs, grouped by area.
pub fn render_matrix(reports: &[RunReport]) -> String {
    let titles = column_titles(reports);
    let mut out = String::from("# Conformance matrix\n\n");
    out += "| run | tool | target | ";
    out += &VERDICT_ORDER.map(count_name).join(" | ");
    out += " |\n|---|---|---|";
    out += &"--:|".repeat(VERDICT_ORDER.len());
    out.push('\n');
    for (report, title) in reports.iter().zip(&titles) {
        let target = &report.target;
        let target_text = match &target.command {
            Some(command) => format!("{}: {}", table_text(&target.kind), code(command)),
            None => table_text(&target.kind),
        };
        let tally = Tally::of(&report.cases);
        let _ = write!(
            out,
            "| {title} | {} | {target_text} |",
            table_text(&report.tool_version)
        );
        for v in VERDICT_ORDER {
            let _ = write!(out, " {} |", tally.get(v));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n{LEGEND}");

    let lookups: Vec<BTreeMap<&str, &CaseResult>> = reports
        .iter()
        .map(|r| r.cases.iter().map(|c| (c.id.as_str(), c)).collect())
        .collect();
    let mut seen = BTreeSet::new();
    let rows = group_by_area(
        reports
            .iter()
            .flat_map(|r| &r.cases)
            .filter(|c| seen.insert(c.id.as_str())),
    );
    for (area, cases) in rows {
        let _ = write!(
            out,
            "\n## {}\n\n| case | level | clauses |",
            table_text(area)
        );
        for title in &titles {
            let _ = write!(out, " {title} |");
        }
        out += "\n|---|---|---|";
        out += &":-:|".repeat(titles.len());
        out.push('\n');
        for case in cases {
            let _ = write!(
                out,
                "| {} | {} | {} |",
                code(&case.id),
                case.level,
                table_text(&case.clauses.join(", "))
            );
            for lookup in &lookups {
                match lookup.get(case.id.as_str()) {
                    Some(result) => {
                        let _ = write!(out, " {} |", cell(result.verdict));
                    }
                    None => out.push_str("  |"),
                }
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::report::json::tests::sample_report;

    #[test]
    fn every_verdict_has_its_own_cell() {
        let cells: Vec<&str> = VERDICT_ORDER.iter().map(|v| cell(*v)).collect();
        assert_eq!(cells, ["✅", "❌", "⚠️", "💡", "⏭", "❗", "🔥"]);
    }

    #[test]
    fn the_header_names_each_run_with_tool_target_and_counts() {
        let text = render_matrix(&[sample_report()]);
        assert!(text.starts_with("# Conformance matrix\n\n| run | tool | target | pass | fail | xfail | info | skip | xpass | error |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n| upstream | 0.1.0 | command: `broker --serve` | 1 | 1 | 0 | 1 | 1 | 0 | 0 |\n"), "{text}");
        assert!(text.contains(LEGEND));
    }

    #[test]
    fn cases_are_rows_grouped_by_area_with_a_column_per_run() {
        let mut reference = sample_report();
        reference.target.label = "reference".into();
        reference.target.command = None;
        reference.target.kind = "built-in".into();
        for case in &mut reference.cases {
            case.verdict = Verdict::Pass;
        }
        reference.cases.pop();
        let mut upstream = sample_report();
        upstream.cases[0].verdict = Verdict::ExpectedFail;
        upstream.cases.push(CaseResult {
            id: "adm.extra".into(),
            verdict: Verdict::Error,
            ..upstream.cases[0].clone()
        });
        let text = render_matrix(&[reference, upstream]);
        assert!(
            text.contains("| reference | 0.1.0 | built-in | 3 |"),
            "{text}"
        );
        assert!(text.contains("\n## frm\n\n| case | level | clauses | reference | upstream |\n|---|---|---|:-:|:-:|\n| `frm.ok` | MUST | FRM-4, FRM-11 | ✅ | ⚠️ |\n| `frm.bad-first-byte` | MUST | FRM-4, FRM-11 | ✅ | ❌ |\n"), "{text}");
        assert!(
            text.contains("| `hel.root-only` | MUST | FRM-4, FRM-11 | ✅ | ⏭ |\n"),
            "{text}"
        );
        assert!(
            text.contains("| `hel.ref-choice` | REF | FRM-4, FRM-11 |  | 💡 |\n"),
            "{text}"
        );
        assert!(text.ends_with("\n## adm\n\n| case | level | clauses | reference | upstream |\n|---|---|---|:-:|:-:|\n| `adm.extra` | MUST | FRM-4, FRM-11 |  | 🔥 |\n"), "{text}");
        assert!(text.find("## frm") < text.find("## hel"));
    }

    #[test]
    fn repeated_labels_are_numbered_and_pipes_escaped() {
        let mut a = sample_report();
        a.target.label = "x|y".into();
        a.target.command = Some("sh -c 'a | b'".into());
        let text = render_matrix(&[a.clone(), a]);
        assert!(
            text.contains("| x\\|y (1) | 0.1.0 | command: `sh -c 'a \\| b'` |"),
            "{text}"
        );
        assert!(
            text.contains("| case | level | clauses | x\\|y (1) | x\\|y (2) |"),
            "{text}"
        );
    }
}
