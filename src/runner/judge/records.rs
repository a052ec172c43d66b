//! Judging what the fake backends of one service recorded against
//! `expect_records`: how many started, were offered a handoff or probed,
//! their listener and environment (LCH-2, LCH-3), the SIGTERMs they got,
//! the first offer, the first identity probe (PRB-1) and the first
//! BackendHttpReady report (V2K-7).

use std::collections::BTreeMap;

use super::{Binding, Failure, Judgement};
use crate::fake_backend::Record;
use crate::runner::matching::{Actual, Captures};
use crate::runner::model::{Matcher, RecordsSpec};

/// Judges the records of every backend process of `spec.service`
/// (pid → its records, as the provisioner reads them). `Err` when a check
/// needs a record that is not there.
pub(crate) fn judge_records(
    spec: &RecordsSpec,
    by_process: &[(u32, Vec<Record>)],
    captures: &Captures,
) -> Result<Judgement, Failure> {
    let mut started = Vec::new();
    let mut offers = Vec::new();
    let mut probes = Vec::new();
    let mut reports = Vec::new();
    let mut sigterms = 0;
    for (_, records) in by_process {
        let serves_version = records.iter().any(|r| {
            matches!(r, Record::Started { version, .. }
                if spec.version.as_ref().is_none_or(|v| v == version))
        });
        if !serves_version {
            continue;
        }
        for record in records {
            match record {
                Record::Started { .. } => started.push(record),
                Record::HandoffOffer { .. } => offers.push(record),
                Record::Probe { .. } => probes.push(record),
                Record::HttpReport { .. } => reports.push(record),
                Record::Sigterm => sigterms += 1,
                _ => {}
            }
        }
    }
    let mut out = Judgement::default();
    let count = |n: usize| Ok(Actual::Int(n as i128));
    for (what, expected, n, binding) in [
        (
            "backends started",
            &spec.started,
            started.len(),
            Binding::Must,
        ),
        ("handoff offers", &spec.offers, offers.len(), Binding::Must),
        (
            "handoff offers",
            &spec.ref_offers,
            offers.len(),
            Binding::RefOnly,
        ),
        ("identity probes", &spec.probes, probes.len(), Binding::Must),
        ("SIGTERMs received", &spec.sigterms, sigterms, Binding::Must),
        (
            "BackendHttpReady reports",
            &spec.http_reports,
            reports.len(),
            Binding::Must,
        ),
    ] {
        if let Some(expected) = expected {
            out.check(what, count(n), expected, binding, captures);
        }
    }
    let probe_checks = spec.probe.iter().map(|(f, m)| (f.name(), m));
    if let Some(probe) = first(&probes, probe_checks.len(), "identity probe", spec)? {
        check_fields(
            &mut out,
            "probe",
            &probe_fields(probe),
            probe_checks,
            captures,
        );
    }
    if spec.listener.is_some() || !spec.env.is_empty() || spec.env_only.is_some() {
        let Some(Record::Started {
            listener,
            environment,
            ..
        }) = started.first()
        else {
            return Err(Failure::new(format!(
                "no backend of {} recorded its start",
                spec.service
            )));
        };
        if let Some(expected) = &spec.listener {
            let actual = Ok(Actual::Str(listener.clone()));
            out.check("listener", actual, expected, Binding::Must, captures);
        }
        for (var, expected) in &spec.env {
            let value = environment
                .iter()
                .find(|(k, _)| k == var)
                .map_or(Actual::Absent, |(_, v)| Actual::Str(v.clone()));
            out.check(
                &format!("env {var}"),
                Ok(value),
                expected,
                Binding::Must,
                captures,
            );
        }
        if let Some(allowed) = &spec.env_only {
            let extra: Vec<&String> = environment
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !allowed.contains(k) && !k.starts_with("LC_"))
                .collect();
            if !extra.is_empty() {
                out.problems
                    .push(format!("variables outside the launch contract: {extra:?}"));
            }
        }
    }
    let offer_checks = spec.offer.iter().map(|(f, m)| (f.as_str(), m));
    if let Some(offer) = first(&offers, offer_checks.len(), "handoff offer", spec)? {
        check_fields(
            &mut out,
            "offer",
            &offer_fields(offer),
            offer_checks,
            captures,
        );
    }
    let report_checks = spec.http_report.iter().map(|(f, m)| (f.as_str(), m));
    if let Some(report) = first(
        &reports,
        report_checks.len(),
        "BackendHttpReady report",
        spec,
    )? {
        check_fields(
            &mut out,
            "http_report",
            &report_fields(report),
            report_checks,
            captures,
        );
    }
    Ok(out)
}

/// The first of `records` when `checks` fields are checked on it; `Err`
/// naming the missing `what` when there is none.
fn first<'r>(
    records: &[&'r Record],
    checks: usize,
    what: &str,
    spec: &RecordsSpec,
) -> Result<Option<&'r Record>, Failure> {
    if checks == 0 {
        return Ok(None);
    }
    match records.first() {
        Some(record) => Ok(Some(record)),
        None => Err(Failure::new(format!(
            "the backend of {} recorded no {what}",
            spec.service
        ))),
    }
}

/// A probe record's checkable fields (PRB-1).
fn probe_fields(record: &Record) -> BTreeMap<&'static str, Actual> {
    let Record::Probe {
        request_id,
        nonce_len,
        request_id_from_nonce,
        ..
    } = record
    else {
        return BTreeMap::new();
    };
    BTreeMap::from([
        ("request_id", Actual::Int(i128::from(*request_id))),
        ("nonce_len", Actual::Int(*nonce_len as i128)),
        (
            "request_id_from_nonce",
            Actual::Bool(*request_id_from_nonce),
        ),
    ])
}

/// A handoff offer record's checkable fields (HOF-2, HOF-3).
fn offer_fields(record: &Record) -> BTreeMap<&'static str, Actual> {
    let Record::HandoffOffer {
        token,
        correlation_id,
        request_id,
        service,
        with_fd,
        explicit_handle,
    } = record
    else {
        return BTreeMap::new();
    };
    BTreeMap::from([
        (
            "token",
            Actual::Bytes(crate::inspect::parse_hex(token).unwrap_or_default()),
        ),
        ("correlation_id", Actual::Int(i128::from(*correlation_id))),
        ("request_id", Actual::Int(i128::from(*request_id))),
        ("service", Actual::Str(service.clone())),
        ("with_fd", Actual::Bool(*with_fd)),
        ("explicit_handle", Actual::Bool(*explicit_handle)),
        (
            "request_id_is_correlation_id",
            Actual::Bool(request_id == correlation_id),
        ),
    ])
}

/// The checkable fields of a BackendHttpReady report record.
pub(crate) const HTTP_REPORT_FIELDS: [&str; 3] = ["serving", "reported", "outcome"];

/// A BackendHttpReady report record's checkable fields (V2K-7), named as
/// [`HTTP_REPORT_FIELDS`].
fn report_fields(record: &Record) -> BTreeMap<&'static str, Actual> {
    let Record::HttpReport {
        serving,
        reported,
        outcome,
    } = record
    else {
        return BTreeMap::new();
    };
    let [serving_name, reported_name, outcome_name] = HTTP_REPORT_FIELDS;
    BTreeMap::from([
        (serving_name, Actual::Int(i128::from(*serving))),
        (reported_name, Actual::Int(i128::from(*reported))),
        (outcome_name, Actual::Str(outcome.clone())),
    ])
}

/// Checks each expected field against a recorded one (absent when the
/// record has no such field), noting misses as `what.field`.
fn check_fields<'c>(
    out: &mut Judgement,
    what: &str,
    fields: &BTreeMap<&str, Actual>,
    checks: impl Iterator<Item = (&'c str, &'c Matcher)>,
    captures: &Captures,
) {
    for (field, expected) in checks {
        let actual = fields.get(field).cloned().unwrap_or(Actual::Absent);
        let what = format!("{what}.{field}");
        out.check(&what, Ok(actual), expected, Binding::Must, captures);
    }
}

#[cfg(test)]
mod tests;
