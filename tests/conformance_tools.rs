//! The suite tools as a user runs them: `lint`, `coverage` and `report`,
//! their output and exit codes (0 ok, 1 problems or gaps, 2 unreadable).
#![cfg(unix)]

mod support;

use std::fs;
use std::path::Path;

use broker_conformance::runner::write_json_file;
use broker_conformance::runner::{CaseResult, Level, RunReport, TargetInfo, Verdict};

/// Runs the binary; returns exit code, stdout and stderr.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    cli_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Runs the CLI with `cwd` as its working directory (the default suite
/// is ./conformance when there is one, else the embedded copy).
fn cli_in(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    support::cli_output(support::cli_command().current_dir(cwd).args(args))
}

const CLAUSES: &str = r#"
[[clause]]
id = "FRM-4"
level = "MUST"
rule = "bad first byte"

[[clause]]
id = "FRM-12"
level = "MUST"
rule = "bounded buffer"
observable = false
why = "inside the broker; proved by tests/framing_alloc.rs"

[[clause]]
id = "HEL-20"
level = "SHOULD"
rule = "shutting down"
"#;

const FRM_CASE: &str = r#"
[[case]]
id = "frm.bad-first-byte"
clauses = ["FRM-4"]
level = "MUST"
summary = "A first byte other than 0x01 is refused"

[[case.step]]
send = { golden = "v1/wire_hello_minimal", patch = [{ at = 0, hex = "02" }] }

[[case.step]]
expect_reply = { result = "refused", fields = { "refused.code" = "ERROR_VERSION_UNSUPPORTED" } }
"#;

/// Writes a suite directory with these case files.
fn suite_dir(cases: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("cases")).expect("mkdir");
    fs::write(dir.path().join("clauses.toml"), CLAUSES).expect("write");
    fs::write(dir.path().join("retired.toml"), "").expect("write");
    for (name, text) in cases {
        fs::write(dir.path().join("cases").join(name), text).expect("write");
    }
    dir
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn lint_passes_a_clean_suite() {
    let dir = suite_dir(&[("frm.toml", FRM_CASE)]);
    let (code, stdout, stderr) = cli(&["lint", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("1 cases, no problems"), "{stderr}");
}

#[test]
fn lint_prints_one_line_per_problem_and_exits_1() {
    let bad = FRM_CASE
        .replace("[\"FRM-4\"]", "[\"FRM-99\"]")
        .replace("v1/wire_hello_minimal", "v1/no_such_golden");
    let dir = suite_dir(&[("frm.toml", &bad)]);
    let (code, stdout, _) = cli(&["lint", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(1), "{stdout}");
    let file = dir.path().join("cases/frm.toml");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0],
        format!(
            "{}: frm.bad-first-byte: cites FRM-99, which is not in clauses.toml",
            file.display()
        )
    );
    let golden = format!(
        "{}: frm.bad-first-byte: step 1: golden: no golden named \"v1/no_such_golden\"",
        file.display()
    );
    assert!(lines[1].starts_with(&golden), "{stdout}");
}

#[test]
fn lint_reports_a_malformed_step_with_its_case_step_and_field() {
    let bad = FRM_CASE.replace("refused\"", "rejected\"");
    let dir = suite_dir(&[("frm.toml", &bad)]);
    let (code, stdout, _) = cli(&["lint", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        format!(
            "{}: -: line 12: case frm.bad-first-byte: step 2: expect_reply.result: \
             unknown variant `rejected`, expected `negotiated` or `refused`\n",
            dir.path().join("cases/frm.toml").display()
        )
    );
}

#[test]
fn lint_reports_a_file_that_does_not_parse_as_a_problem() {
    let dir = suite_dir(&[("frm.toml", "[[case]]\nid = \"frm.x\"\nbogus = 1\n")]);
    let (code, stdout, _) = cli(&["lint", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "{}: -: ",
            dir.path().join("cases/frm.toml").display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("bogus"), "{stdout}");
}

#[test]
fn lint_exits_2_when_the_suite_is_unreadable() {
    let (code, _, stderr) = cli(&["lint", "--dir", "/nonexistent/suite"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/suite"), "{stderr}");
}

#[test]
fn lint_accepts_the_embedded_suite() {
    let (code, stdout, stderr) = cli(&["lint"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

#[test]
fn coverage_fails_naming_an_uncovered_must_clause() {
    let dir = suite_dir(&[]);
    let (code, stdout, _) = cli(&["coverage", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FRM-4   MUST    observable    (no case)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: observable SHOULD clause HEL-20 has no case\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("FAILED: 1 observable MUST clauses have no case: FRM-4\n"),
        "{stdout}"
    );
}

#[test]
fn coverage_passes_when_only_unobservable_must_clauses_lack_cases() {
    let dir = suite_dir(&[("frm.toml", FRM_CASE)]);
    let (code, stdout, _) = cli(&["coverage", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("FRM-4   MUST    observable    frm.bad-first-byte\n"),
        "{stdout}"
    );
    assert!(stdout.contains("FRM-12  MUST    unobservable  (no case)  (why: inside the broker; proved by tests/framing_alloc.rs)\n"), "{stdout}");
    let (code, stdout, _) = cli(&["coverage", "--json", "--dir", arg(dir.path())]);
    assert_eq!(code, Some(0), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(json["passed"], true);
    assert_eq!(
        json["clauses"][0]["cases"],
        serde_json::json!(["frm.bad-first-byte"])
    );
    assert_eq!(json["warnings"], serde_json::json!(["HEL-20"]));
}

#[test]
fn coverage_runs_on_the_embedded_suite_outside_a_checkout() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = cli_in(elsewhere.path(), &["coverage"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("coverage of the suite embedded in this binary\n"),
        "{stdout}"
    );
}

#[test]
fn the_checkout_suite_is_the_default_inside_a_checkout_and_is_clean() {
    let (code, stdout, stderr) = cli(&["coverage"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("coverage of conformance\n"), "{stdout}");
    let (code, stdout, stderr) = cli(&["lint"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("no problems"), "{stderr}");
}

#[test]
fn coverage_exits_2_when_the_suite_is_unreadable() {
    let (code, _, _) = cli(&["coverage", "--dir", "/nonexistent/suite"]);
    assert_eq!(code, Some(2));
}

fn run_report(label: &str, verdicts: &[(&str, Verdict)]) -> RunReport {
    RunReport {
        schema_version: 1,
        tool_version: "0.1.0".into(),
        target: TargetInfo {
            kind: "command".into(),
            label: label.into(),
            command: Some(format!("{label} --serve")),
            is_reference: false,
        },
        started_at_unix_ms: 0,
        duration_ms: 5,
        cases: verdicts
            .iter()
            .map(|(id, verdict)| CaseResult {
                id: (*id).into(),
                clauses: vec!["FRM-4".into()],
                level: Level::Must,
                summary: "s".into(),
                verdict: *verdict,
                message: "m".into(),
                detail: String::new(),
                duration_ms: 1,
                trace: vec![],
            })
            .collect(),
    }
}

fn write_runs(dir: &Path) -> (String, String) {
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    write_json_file(
        &run_report(
            "alpha",
            &[("frm.one", Verdict::Pass), ("frm.two", Verdict::Fail)],
        ),
        &a,
    )
    .expect("writes");
    write_json_file(
        &run_report("beta", &[("frm.one", Verdict::ExpectedFail)]),
        &b,
    )
    .expect("writes");
    (arg(&a).to_owned(), arg(&b).to_owned())
}

#[test]
fn report_prints_the_matrix_of_several_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = write_runs(dir.path());
    let (code, stdout, stderr) = cli(&["report", &a, &b]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("| alpha | 0.1.0 | command: `alpha --serve` | 1 | 1 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| case | level | clauses | alpha | beta |\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| `frm.one` | MUST | FRM-4 | ✅ | ⚠️ |\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| `frm.two` | MUST | FRM-4 | ❌ |  |\n"),
        "{stdout}"
    );
}

#[test]
fn report_writes_markdown_and_junit_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = write_runs(dir.path());
    let md = dir.path().join("matrix.md");
    let xml = dir.path().join("junit.xml");
    let (code, stdout, stderr) = cli(&[
        "report",
        &a,
        &b,
        "--markdown",
        arg(&md),
        "--junit",
        arg(&xml),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        fs::read_to_string(&md)
            .expect("md")
            .starts_with("# Conformance matrix\n")
    );
    let junit = fs::read_to_string(&xml).expect("xml");
    assert!(junit.contains("<testsuite name=\"alpha.frm\""), "{junit}");
    assert!(
        junit.contains("<failure message=\"m\" type=\"fail\">"),
        "{junit}"
    );
}

#[test]
fn report_exits_2_on_unreadable_or_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = cli(&["report", "/nonexistent/run.json"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/run.json"), "{stderr}");
    let garbage = dir.path().join("garbage.json");
    fs::write(&garbage, "{\"schema_version\": 1}").expect("write");
    let (code, stdout, stderr) = cli(&["report", arg(&garbage)]);
    assert_eq!(code, Some(2));
    assert_eq!(stdout, "", "nothing written when an input is bad");
    assert!(stderr.contains("not a run report"), "{stderr}");
}

#[test]
fn clauses_writes_the_catalogue_from_the_spec_keeping_why_and_check_spots_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("spec.md");
    let catalogue = dir.path().join("clauses.toml");
    let table = "| ID | Level | Rule |\n|---|---|---|\n";
    fs::write(
        &spec,
        format!("{table}| FRM-12 | REF | A **bounded** `buffer`. |\n"),
    )
    .expect("write");
    fs::write(
        &catalogue,
        "[[clause]]\nid = \"FRM-12\"\nlevel = \"MUST\"\nrule = \"cut...\"\nobservable = false\nwhy = \"inside\"\n",
    )
    .expect("write");
    let check = [
        "clauses",
        "--spec",
        arg(&spec),
        "--catalogue",
        arg(&catalogue),
        "--check",
    ];
    let (code, stdout, _) = cli(&check);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("out of date"), "{stdout}");
    let (code, _, stderr) = cli(&check[..5]);
    assert_eq!(code, Some(0), "{stderr}");
    let written = fs::read_to_string(&catalogue).expect("read");
    assert!(
        written.ends_with(
            "\n[[clause]]\nid = \"FRM-12\"\nlevel = \"REF\"\nrule = \"A bounded buffer.\"\n\
             observable = false\nwhy = \"inside\"\n"
        ),
        "{written}"
    );
    assert_eq!(cli(&check).0, Some(0), "up to date after writing");
    let (code, _, stderr) = cli(&[
        "clauses",
        "--spec",
        "/nonexistent/spec.md",
        "--catalogue",
        arg(&catalogue),
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/spec.md"), "{stderr}");
}

#[test]
fn fail_fast_stops_the_harness_at_its_first_failing_case() {
    use broker_conformance::harness::Harness;
    // Against the reference broker the first case fails (it expects the
    // wrong refusal code) and the second passes.
    let failing = FRM_CASE
        .replace("frm.bad-first-byte", "frm.a-fails")
        .replace("ERROR_VERSION_UNSUPPORTED", "ERROR_SERVICE_UNKNOWN");
    let passing = FRM_CASE.replace("frm.bad-first-byte", "frm.b-passes");
    let dir = suite_dir(&[("frm.toml", &format!("{failing}\n{passing}"))]);
    let log = dir.path().join("libtest.log");
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        logfile: Some(log.to_string_lossy().into_owned()),
        ..libtest_mimic::Arguments::default()
    };
    for (fail_fast, failed) in [(false, 1), (true, 2)] {
        let conclusion = Harness::built_in()
            .suite_dir(dir.path())
            .fail_fast(fail_fast)
            .run_with(&args)
            .expect("the harness runs");
        assert_eq!(
            (conclusion.num_failed, conclusion.num_passed),
            (failed, 2 - failed),
            "fail_fast = {fail_fast}"
        );
        let log = fs::read_to_string(&log).expect("the libtest log");
        assert_eq!(
            log.contains("not run: an earlier case failed"),
            fail_fast,
            "{log}"
        );
    }
}
