//! The report for people: a progress line per case while the run goes,
//! then a block for every failure (level, summary, the cited clauses with
//! their rule text, expected vs actual and the annotated wire log), a
//! summary table per area and per level, the run's problems, and one final
//! `CONFORMANCE: PASSED|FAILED (...)` line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::tally::{Tally, VERDICT_ORDER, count_name};
use super::wirelog::render_trace;
use super::{RunObserver, group_by_area};
use crate::env::EnvSource;
use crate::runner::model::{CaseResult, ClauseInfo, Level, RunReport, TargetInfo, Verdict};
use crate::runner::suite::Suite;

/// Whether to colour the output. Decided once by the caller (see
/// [`ColorChoice::auto`]); the renderer never looks at the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// ANSI colours.
    Always,
    /// Plain text.
    Never,
}

impl ColorChoice {
    /// Colour when the output is a terminal and `NO_COLOR` is unset or
    /// empty (<https://no-color.org>).
    pub fn auto(env: &dyn EnvSource, output_is_terminal: bool) -> Self {
        if output_is_terminal && env.var("NO_COLOR").is_none() {
            Self::Always
        } else {
            Self::Never
        }
    }
}

/// A text style.
#[derive(Debug, Clone, Copy)]
enum Style {
    Green,
    Red,
    Yellow,
    Cyan,
    Dim,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Self::Green => "32",
            Self::Red => "31",
            Self::Yellow => "33",
            Self::Cyan => "36",
            Self::Dim => "2",
            Self::Bold => "1",
        }
    }

    fn of(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Pass => Self::Green,
            Verdict::Fail | Verdict::UnexpectedPass | Verdict::Error => Self::Red,
            Verdict::ExpectedFail => Self::Yellow,
            Verdict::Info => Self::Cyan,
            Verdict::Skip => Self::Dim,
        }
    }
}

/// Text rendering with or without colour.
#[derive(Debug, Clone, Copy)]
struct Painter(ColorChoice);

impl Painter {
    fn paint(self, style: Style, text: &str) -> String {
        match self.0 {
            ColorChoice::Always => format!("\x1b[{}m{text}\x1b[0m", style.code()),
            ColorChoice::Never => text.to_owned(),
        }
    }
}

/// Writes the human report of a run to any [`Write`] as the engine reports
/// progress. Write errors do not stop the run; the first one is kept (see
/// [`io_error`](Self::io_error)).
#[derive(Debug)]
pub struct HumanReporter<W: Write> {
    out: W,
    painter: Painter,
    trace: bool,
    clauses: BTreeMap<String, ClauseInfo>,
    total: usize,
    done: usize,
    io_error: Option<io::Error>,
}

impl<W: Write> HumanReporter<W> {
    /// A reporter writing to `out`, colouring per `color`, citing clause
    /// rules from `suite`'s clause catalogue.
    pub fn new(out: W, color: ColorChoice, suite: &Suite) -> Self {
        Self {
            out,
            painter: Painter(color),
            trace: false,
            clauses: suite
                .clauses
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            total: 0,
            done: 0,
            io_error: None,
        }
    }

    /// With `true`, shows the block and wire log of every case, not only
    /// of failures (`run --trace`).
    pub fn with_trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// The first write error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_ref()
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn emit(&mut self, text: &str) {
        if self.io_error.is_some() {
            return;
        }
        if let Err(e) = self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            self.io_error = Some(e);
        }
    }

    /// `[ 12/130] pass  hel.x (HEL-7)`, then ` — message` for anything but a pass.
    fn progress_line(&self, result: &CaseResult) -> String {
        let width = self.total.max(self.done).to_string().len();
        let label = result.verdict.label();
        let mut line = format!(
            "[{:>width$}/{}] {}{} {} ({})",
            self.done,
            self.total,
            self.painter.paint(Style::of(result.verdict), label),
            " ".repeat(5usize.saturating_sub(label.len())),
            result.id,
            result.clauses.join(", "),
        );
        let first = result.message.lines().next().unwrap_or_default();
        if result.verdict != Verdict::Pass && !first.is_empty() {
            let _ = write!(line, " — {first}");
        }
        line.push('\n');
        line
    }

    /// A case's full account: verdict, level, summary, clauses with their
    /// rules, message, detail and wire log (also the libtest harness's
    /// failure message).
    pub fn case_block(&self, result: &CaseResult) -> String {
        let p = self.painter;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} {} ({} ms)",
            p.paint(
                Style::of(result.verdict),
                &format!("── {}", result.verdict.label())
            ),
            p.paint(Style::Bold, &result.id),
            result.duration_ms
        );
        let _ = writeln!(out, "  level    {}", result.level);
        let _ = writeln!(out, "  summary  {}", result.summary);
        for id in &result.clauses {
            match self.clauses.get(id) {
                Some(c) => {
                    let _ = writeln!(out, "  clause   {id} ({}): {}", c.level, c.rule);
                }
                None => {
                    let _ = writeln!(out, "  clause   {id}: (not in the clause catalogue)");
                }
            }
        }
        if !result.message.is_empty() {
            let _ = writeln!(out, "  message  {}", indent_rest(&result.message, 11));
        }
        if !result.detail.is_empty() {
            let _ = writeln!(out, "  detail");
            for line in result.detail.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        if !result.trace.is_empty() {
            let _ = writeln!(out, "  wire log");
            for line in render_trace(&result.trace).lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }

    fn wants_block(&self, result: &CaseResult) -> bool {
        self.trace || result.verdict.fails_run()
    }
}

/// Indents every line after the first by `n` spaces.
fn indent_rest(text: &str, n: usize) -> String {
    text.lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{}", " ".repeat(n)))
}

/// A table of counts: one row per label, one column per verdict, a total.
fn count_table(title: &str, rows: &[(String, Tally)]) -> String {
    let first_width = rows
        .iter()
        .map(|(label, _)| label.len())
        .chain([title.len()])
        .max()
        .unwrap_or_default();
    let mut out = format!("{title:<first_width$}");
    for v in VERDICT_ORDER {
        let _ = write!(out, "  {:>5}", count_name(v));
    }
    out += "  total\n";
    for (label, tally) in rows {
        let _ = write!(out, "{label:<first_width$}");
        for v in VERDICT_ORDER {
            let _ = write!(out, "  {:>5}", tally.get(v));
        }
        let _ = writeln!(out, "  {:>5}", tally.total());
    }
    out
}

/// The summary after the case blocks: counts per area and per level, the
/// run's problems, and the final verdict line.
fn summary(report: &RunReport, problems: &[String], p: Painter) -> String {
    let mut out = String::from("\n");
    let mut rows: Vec<(String, Tally)> = group_by_area(&report.cases)
        .into_iter()
        .map(|(area, results)| (area.to_owned(), Tally::of(results)))
        .collect();
    let all = Tally::of(&report.cases);
    rows.push(("total".into(), all));
    out += &count_table("area", &rows);
    out.push('\n');
    let levels: Vec<(String, Tally)> = [Level::Must, Level::Should, Level::Ref]
        .into_iter()
        .map(|level| {
            let tally = Tally::of(report.cases.iter().filter(|c| c.level == level));
            (level.to_string(), tally)
        })
        .collect();
    out += &count_table("level", &levels);
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.paint(Style::Red, "problems (each fails the run):")
        );
        for problem in problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    let passed = report.passed() && problems.is_empty();
    let verdict = if passed {
        p.paint(Style::Green, "PASSED")
    } else {
        p.paint(Style::Red, "FAILED")
    };
    let _ = writeln!(out, "\nCONFORMANCE: {verdict} ({})", all.summary());
    out
}

impl<W: Write> RunObserver for HumanReporter<W> {
    fn started(&mut self, target: &TargetInfo, total: usize) {
        self.total = total;
        self.done = 0;
        let mut line = format!(
            "running {total} cases against {} ({}",
            target.label, target.kind
        );
        if let Some(command) = &target.command {
            let _ = write!(line, ": {command}");
        }
        line += if target.is_reference {
            "; REF cases count as MUST)\n"
        } else {
            "; REF cases are informational)\n"
        };
        self.emit(&line);
    }

    fn finished_case(&mut self, result: &CaseResult) {
        self.done += 1;
        let line = self.progress_line(result);
        self.emit(&line);
    }

    fn finished(&mut self, report: &RunReport, problems: &[String]) {
        let mut text = String::new();
        for result in report.cases.iter().filter(|r| self.wants_block(r)) {
            text += &self.case_block(result);
        }
        text += &summary(report, problems, self.painter);
        self.emit(&text);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::env::MapEnv;
    use crate::runner::model::TraceEvent;

    fn suite() -> Suite {
        let clauses = br#"
[[clause]]
id = "HEL-7"
level = "MUST"
rule = "service_name must match the grammar."

[[clause]]
id = "FRM-4"
level = "MUST"
rule = "A first byte other than 0x01 is refused."
"#;
        Suite::from_files(
            "test".into(),
            BTreeMap::from([("clauses.toml".to_owned(), clauses.to_vec())]),
        )
        .expect("parses")
    }

    fn result(id: &str, level: Level, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: id.into(),
            clauses: vec!["HEL-7".into()],
            level,
            summary: format!("summary of {id}"),
            verdict,
            message: String::new(),
            detail: String::new(),
            duration_ms: 4,
            trace: vec![],
        }
    }

    fn target() -> TargetInfo {
        TargetInfo {
            kind: "command".into(),
            label: "upstream".into(),
            command: Some("broker --serve {socket}".into()),
            is_reference: false,
        }
    }

    fn run(results: Vec<CaseResult>, problems: &[String], trace: bool) -> String {
        let report = RunReport {
            schema_version: 1,
            tool_version: "0.1.0".into(),
            target: target(),
            started_at_unix_ms: 0,
            duration_ms: 10,
            cases: results,
        };
        let mut reporter =
            HumanReporter::new(Vec::new(), ColorChoice::Never, &suite()).with_trace(trace);
        reporter.started(&report.target, report.cases.len());
        for r in &report.cases {
            reporter.finished_case(r);
        }
        reporter.finished(&report, problems);
        assert!(reporter.io_error().is_none());
        String::from_utf8(reporter.into_inner()).expect("utf-8")
    }

    fn failing() -> CaseResult {
        let mut fail = result("hel.upper", Level::Must, Verdict::Fail);
        fail.clauses.push("HEL-99".into());
        fail.message = "refused.code differs".into();
        fail.detail = "expected: ERROR_INVALID_REQUEST\nactual:   ERROR_SERVICE_UNKNOWN".into();
        fail.trace = vec![
            TraceEvent {
                at_ms: 1,
                conn: "main".into(),
                what: "send".into(),
                hex: "01 02000000 0801".into(),
                note: String::new(),
            },
            TraceEvent {
                at_ms: 2,
                conn: "main".into(),
                what: "note".into(),
                hex: String::new(),
                note: "peer closed".into(),
            },
        ];
        fail
    }

    #[test]
    fn progress_lines_show_counter_verdict_id_and_clauses() {
        let mut skip = result("hel.root", Level::Must, Verdict::Skip);
        skip.message = "needs root\nmore".into();
        let mut results: Vec<CaseResult> = (0..11)
            .map(|i| result(&format!("hel.c{i}"), Level::Must, Verdict::Pass))
            .collect();
        results.push(skip);
        let text = run(results, &[], false);
        assert!(text.starts_with(
            "running 12 cases against upstream (command: broker --serve {socket}; REF cases are informational)\n"
        ), "{text}");
        assert!(text.contains("[ 1/12] pass  hel.c0 (HEL-7)\n"), "{text}");
        assert!(
            text.contains("[12/12] skip  hel.root (HEL-7) — needs root\n"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colour when off");
    }

    #[test]
    fn a_failure_gets_a_block_with_clause_rules_detail_and_annotated_wire_log() {
        let text = run(
            vec![result("hel.ok", Level::Must, Verdict::Pass), failing()],
            &[],
            false,
        );
        let block = text
            .split("── FAIL hel.upper (4 ms)\n")
            .nth(1)
            .expect("block");
        for expected in [
            "  level    MUST\n",
            "  summary  summary of hel.upper\n",
            "  clause   HEL-7 (MUST): service_name must match the grammar.\n",
            "  clause   HEL-99: (not in the clause catalogue)\n",
            "  message  refused.code differs\n",
            "  detail\n    expected: ERROR_INVALID_REQUEST\n    actual:   ERROR_SERVICE_UNKNOWN\n",
            "  wire log\n         1 ms  main  send  (7 bytes)\n",
            "framing version 0x01",
            "         2 ms  main  note  peer closed\n",
        ] {
            assert!(block.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(
            !text.contains("── pass"),
            "passing cases get no block without --trace"
        );
    }

    #[test]
    fn a_cited_clause_shows_its_whole_rule_as_the_catalogue_holds_it() {
        let suite = Suite::embedded().expect("the embedded suite loads");
        let rule = &suite.clause("LCH-2").expect("LCH-2 is catalogued").rule;
        assert!(
            rule.chars().count() > 500
                && rule.ends_with("No other broker variable leaks to the backend."),
            "the catalogue holds LCH-2 whole: {rule}"
        );
        let mut fail = failing();
        fail.clauses = vec!["LCH-2".into()];
        let reporter = HumanReporter::new(Vec::new(), ColorChoice::Never, &suite);
        let block = reporter.case_block(&fail);
        assert!(
            block.contains(&format!("  clause   LCH-2 (MUST): {rule}\n")),
            "{block}"
        );
    }

    #[test]
    fn trace_mode_shows_a_block_for_every_case() {
        let mut pass = result("hel.ok", Level::Must, Verdict::Pass);
        pass.trace = failing().trace;
        let text = run(vec![pass], &[], true);
        assert!(text.contains("── pass hel.ok (4 ms)\n"), "{text}");
        assert!(text.contains("  wire log\n"), "{text}");
    }

    #[test]
    fn the_summary_counts_per_area_and_level_and_ends_with_the_verdict() {
        let results = vec![
            result("frm.a", Level::Must, Verdict::Pass),
            result("hel.a", Level::Should, Verdict::ExpectedFail),
            result("hel.b", Level::Ref, Verdict::Info),
        ];
        let text = run(results, &[], false);
        assert!(
            text.contains(
                "area    pass   fail  xfail   info   skip  xpass  error  total\n\
             frm        1      0      0      0      0      0      0      1\n\
             hel        0      0      1      1      0      0      0      2\n\
             total      1      0      1      1      0      0      0      3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "level    pass   fail  xfail   info   skip  xpass  error  total\n\
             MUST        1      0      0      0      0      0      0      1\n\
             SHOULD      0      0      1      0      0      0      0      1\n\
             REF         0      0      0      1      0      0      0      1\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(
            "\nCONFORMANCE: PASSED (1 pass, 0 fail, 1 xfail, 1 info, 0 skip, 0 xpass, 0 error)\n"
        ), "{text}");
    }

    #[test]
    fn problems_are_listed_and_fail_the_run_even_when_every_case_passed() {
        let text = run(
            vec![result("hel.a", Level::Must, Verdict::Pass)],
            &["expected-failure entry 1 names \"x\"".into()],
            false,
        );
        assert!(
            text.contains(
                "problems (each fails the run):\n  - expected-failure entry 1 names \"x\"\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "CONFORMANCE: FAILED (1 pass, 0 fail, 0 xfail, 0 info, 0 skip, 0 xpass, 0 error)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_failure_fails_the_run() {
        let text = run(vec![failing()], &[], false);
        assert!(
            text.ends_with(
                "CONFORMANCE: FAILED (0 pass, 1 fail, 0 xfail, 0 info, 0 skip, 0 xpass, 0 error)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn colour_wraps_verdicts_in_ansi_codes_when_on() {
        let mut reporter = HumanReporter::new(Vec::new(), ColorChoice::Always, &suite());
        reporter.started(&target(), 1);
        reporter.finished_case(&result("hel.a", Level::Must, Verdict::Pass));
        let text = String::from_utf8(reporter.into_inner()).expect("utf-8");
        assert!(
            text.contains("[1/1] \x1b[32mpass\x1b[0m  hel.a (HEL-7)\n"),
            "{text:?}"
        );
    }

    #[test]
    fn colour_is_used_only_on_a_terminal_without_no_color() {
        let none = MapEnv::default();
        let no_color = MapEnv::from_pairs([("NO_COLOR", "1")]);
        let empty = MapEnv::from_pairs([("NO_COLOR", "")]);
        assert_eq!(ColorChoice::auto(&none, true), ColorChoice::Always);
        assert_eq!(ColorChoice::auto(&none, false), ColorChoice::Never);
        assert_eq!(ColorChoice::auto(&no_color, true), ColorChoice::Never);
        assert_eq!(ColorChoice::auto(&empty, true), ColorChoice::Always);
    }

    #[test]
    fn a_broken_writer_is_remembered_not_fatal() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("pipe closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut reporter = HumanReporter::new(Broken, ColorChoice::Never, &suite());
        reporter.started(&target(), 1);
        reporter.finished_case(&result("hel.a", Level::Must, Verdict::Pass));
        assert_eq!(
            reporter.io_error().map(ToString::to_string).as_deref(),
            Some("pipe closed")
        );
    }
}
