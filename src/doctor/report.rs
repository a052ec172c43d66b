//! Renderings of a [`Report`]: text for people (grouped by area, one line
//! per finding, the fix hint indented below it) and one JSON object for
//! tools.

use serde_json::{Value, json};

use super::{Area, Report, Severity};

/// The text report: a heading per area, one line per finding
/// (`[severity] id: message`), the hint indented below, and a summary line.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for area in Area::ALL {
        let mut findings = report
            .findings
            .iter()
            .filter(|f| f.check.area() == area)
            .peekable();
        if findings.peek().is_none() {
            continue;
        }
        out += area.as_str();
        out.push('\n');
        for f in findings {
            let marker = format!("[{}]", f.severity);
            out += &format!("  {marker:<9} {}: {}\n", f.check.id(), f.message);
            if let Some(hint) = &f.hint {
                out += &format!("  {:<9} fix: {hint}\n", "");
            }
        }
    }
    out += &summary(report);
    out.push('\n');
    out
}

fn summary(report: &Report) -> String {
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if report.healthy() {
        format!(
            "healthy: {}, {} (warnings do not fail doctor)",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    } else {
        format!(
            "unhealthy: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}

/// The JSON report: `schema_version` 1, `command`, `healthy`, `counts` per
/// severity and `findings` (`id`, `area`, `severity`, `subject`, `message`,
/// `hint` or null).
pub fn render_json(report: &Report) -> Value {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "id": f.check.id(),
                "area": f.check.area().as_str(),
                "severity": f.severity.as_str(),
                "subject": f.subject,
                "message": f.message,
                "hint": f.hint,
            })
        })
        .collect();
    json!({
        "schema_version": 1,
        "command": "doctor",
        "healthy": report.healthy(),
        "counts": {
            "ok": report.count(Severity::Ok),
            "info": report.count(Severity::Info),
            "warning": report.count(Severity::Warning),
            "error": report.count(Severity::Error),
        },
        "findings": findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Check, Finding};

    fn sample() -> Report {
        Report {
            findings: vec![
                Finding {
                    check: Check::SocketDirMode,
                    severity: Severity::Error,
                    subject: "/d".into(),
                    message: "/d has mode 0755".into(),
                    hint: Some("chmod 700 /d".into()),
                },
                Finding {
                    check: Check::FdLimit,
                    severity: Severity::Warning,
                    subject: "RLIMIT_NOFILE".into(),
                    message: "low".into(),
                    hint: None,
                },
            ],
        }
    }

    #[test]
    fn text_groups_by_area_and_indents_hints() {
        let text = render_text(&sample());
        assert_eq!(
            text,
            "socket\n  [error]   socket-dir.mode: /d has mode 0755\n            fix: chmod 700 /d\n\
             limits\n  [warning] fds.limit: low\nunhealthy: 1 error, 1 warning\n"
        );
    }

    #[test]
    fn json_carries_the_schema_and_every_finding() {
        let value = render_json(&sample());
        assert_eq!(value["schema_version"], 1);
        assert_eq!(value["command"], "doctor");
        assert_eq!(value["healthy"], false);
        assert_eq!(value["counts"]["error"], 1);
        assert_eq!(value["findings"][0]["id"], "socket-dir.mode");
        assert_eq!(value["findings"][0]["area"], "socket");
        assert_eq!(value["findings"][0]["hint"], "chmod 700 /d");
        assert_eq!(value["findings"][1]["hint"], serde_json::Value::Null);
    }
}
