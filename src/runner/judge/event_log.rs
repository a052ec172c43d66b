//! Judging the broker's lifecycle event log against `expect_event_log`:
//! the chain verifies (EVT-3), no record is too long (EVT-1), the kinds
//! that must appear (EVT-2), records of a kind with given `extra` entries,
//! the record count and the head hash.

use super::Judgement;
use crate::events::{LogRecord, LogVerdict};
use crate::inspect::to_hex;
use crate::proto::v1::EventKind;
use crate::runner::matching::{Actual, Captures};
use crate::runner::model::EventLogSpec;

/// Judges the log's intact `records`; `verdict` is the chain's
/// verification, which the caller runs when `spec.intact` asks for it.
pub(crate) fn judge_event_log(
    spec: &EventLogSpec,
    records: &[LogRecord],
    verdict: Option<&LogVerdict>,
    captures: &Captures,
) -> Judgement {
    let mut out = Judgement::default();
    if let Some(want) = spec.intact {
        match verdict {
            Some(verdict) if matches!(verdict, LogVerdict::Intact { .. }) == want => {}
            Some(verdict) => out.problems.push(format!(
                "expected the chain {}intact: {verdict}",
                if want { "" } else { "not " }
            )),
            None => out.problems.push("the chain was not verified".into()),
        }
    }
    if let Some(max) = spec.max_record_bytes
        && let Some(big) = records.iter().find(|r| r.len > max)
    {
        out.problems.push(format!(
            "record {} is {} bytes, over {max} (EVT-1)",
            big.index, big.len
        ));
    }
    let present = |kind: &str| records.iter().any(|r| is_kind(r, kind));
    for kind in spec.kinds.iter().filter(|k| !present(k)) {
        out.problems.push(format!("no {kind} record in the log"));
    }
    for kind in spec.absent_kinds.iter().filter(|k| present(k)) {
        out.problems.push(format!("a {kind} record is in the log"));
    }
    for pattern in &spec.records {
        let matches = |r: &LogRecord| {
            is_kind(r, &pattern.kind)
                && pattern
                    .extra
                    .iter()
                    .all(|(k, v)| r.event.extra.get(k) == Some(v))
        };
        if !records.iter().any(matches) {
            let entries: Vec<String> = pattern
                .extra
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let with = if entries.is_empty() {
                String::new()
            } else {
                format!(" with {}", entries.join(", "))
            };
            out.problems
                .push(format!("no {} record{with} in the log", pattern.kind));
        }
    }
    if let Some(min) = spec.min_records
        && (records.len() as u64) < min
    {
        out.problems.push(format!(
            "{} records, expected at least {min}",
            records.len()
        ));
    }
    if let Some(name) = &spec.head_same_as {
        let head = records.last().map(|r| to_hex(&r.hash)).unwrap_or_default();
        match captures.get(name) {
            Some(Actual::Str(captured)) if *captured == head => {}
            other => out.problems.push(format!(
                "the log's head {head} differs from {name} ({other:?})"
            )),
        }
    }
    out
}

/// True when `record` is of the kind named `kind` (`SPAWN`, …).
fn is_kind(record: &LogRecord, kind: &str) -> bool {
    EventKind::try_from(record.event.kind).is_ok_and(|k| k.as_str_name() == kind)
}

#[cfg(test)]
mod tests;
