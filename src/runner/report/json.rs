//! The run report as JSON (`run --json`): written pretty, read back by
//! `report` to build matrices.

use std::io::Write;
use std::path::Path;

use super::ReportError;
use crate::runner::model::RunReport;

/// The `schema_version` this tool writes and the newest it reads.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Writes `report` as pretty JSON with a final newline.
pub(crate) fn write_json(report: &RunReport, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// Writes `report` as pretty JSON to a file (`-` is standard output).
pub fn write_json_file(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    super::write_output(path, |out| write_json(report, out))
}

/// Parses a run report; `origin` names it in errors. Reports newer than
/// [`REPORT_SCHEMA_VERSION`] are refused rather than misread.
pub(crate) fn read_json(origin: &Path, text: &str) -> Result<RunReport, ReportError> {
    let format = |message: String| ReportError::Format {
        path: origin.to_owned(),
        message,
    };
    let report: RunReport =
        serde_json::from_str(text).map_err(|e| format(format!("not a run report: {e}")))?;
    if report.schema_version > REPORT_SCHEMA_VERSION {
        return Err(format(format!(
            "schema_version {} is newer than this tool reads ({REPORT_SCHEMA_VERSION})",
            report.schema_version
        )));
    }
    Ok(report)
}

/// Reads a run report file.
pub fn read_json_file(path: &Path) -> Result<RunReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_json(path, &text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runner::model::{CaseResult, Level, TargetInfo, TraceEvent, Verdict};

    /// A small report with one case of each kind used by the renderers' tests.
    pub(crate) fn sample_report() -> RunReport {
        let case = |id: &str, verdict: Verdict| CaseResult {
            id: id.into(),
            clauses: vec!["FRM-4".into(), "FRM-11".into()],
            level: Level::Must,
            summary: format!("summary of {id}"),
            verdict,
            message: String::new(),
            detail: String::new(),
            duration_ms: 1500,
            trace: vec![],
        };
        let mut fail = case("frm.bad-first-byte", Verdict::Fail);
        fail.message = "refused.code: expected ERROR_VERSION_UNSUPPORTED".into();
        fail.detail = "expected: <1>\nactual: \"2\" & more".into();
        fail.trace = vec![TraceEvent {
            at_ms: 0,
            conn: "main".into(),
            what: "send".into(),
            hex: "02".into(),
            note: String::new(),
        }];
        let mut skip = case("hel.root-only", Verdict::Skip);
        skip.message = "needs root".into();
        let mut info = case("hel.ref-choice", Verdict::Info);
        info.level = Level::Ref;
        info.message = "reason text differs".into();
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: "0.1.0".into(),
            target: TargetInfo {
                kind: "command".into(),
                label: "upstream".into(),
                command: Some("broker --serve".into()),
                is_reference: false,
            },
            started_at_unix_ms: 1_700_000_000_000,
            duration_ms: 4200,
            cases: vec![case("frm.ok", Verdict::Pass), fail, skip, info],
        }
    }

    #[test]
    fn a_report_round_trips_through_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.json");
        let report = sample_report();
        write_json_file(&report, &path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(text.starts_with("{\n  \"schema_version\": 1,"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(read_json_file(&path).expect("parses"), report);
    }

    #[test]
    fn garbage_and_newer_schemas_are_refused_with_the_file_named() {
        let path = Path::new("x.json");
        let err = read_json(path, "{").expect_err("garbage");
        assert!(
            err.to_string().starts_with("x.json: not a run report"),
            "{err}"
        );
        let mut newer = serde_json::to_value(sample_report()).expect("value");
        newer["schema_version"] = 99.into();
        let err = read_json(path, &newer.to_string()).expect_err("newer");
        assert!(
            err.to_string().contains("schema_version 99 is newer"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let err = read_json_file(Path::new("/nonexistent/run.json")).expect_err("missing");
        assert!(matches!(err, ReportError::Io { .. }), "{err}");
    }
}
