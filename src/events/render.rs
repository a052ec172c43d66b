//! Rendering records for people (one text line) and for tools (one JSON
//! object), as `events tail` prints them. Pure.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::chain::CHAIN_KEY;
use super::record::kind_name;
use super::verify::LogRecord;
use crate::inspect::to_hex;

const MS_PER_DAY: u64 = 86_400_000;

/// `ts_ms` as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.123Z`),
/// or `None` past year 9999, which RFC 3339 cannot write.
pub fn rfc3339_utc(ts_ms: u64) -> Option<String> {
    let days = ts_ms / MS_PER_DAY;
    let ms_of_day = ts_ms % MS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    let (secs, ms) = (ms_of_day / 1000, ms_of_day % 1000);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the
/// era-based conversion of Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// One line for people: time, severity, kind, service, the quoted reason,
/// then `request_id`, `connection_id`, `broker_instance` when set and every
/// `extra` entry but the chain, as `key="value"`. Quoting escapes line
/// breaks, so a record is always one line.
pub fn render_line(record: &LogRecord) -> String {
    let e = &record.event;
    let time = rfc3339_utc(e.ts_ms).unwrap_or_else(|| format!("ts_ms={}", e.ts_ms));
    let severity = if e.severity_text.is_empty() {
        "-"
    } else {
        &e.severity_text
    };
    let service = if e.service_name.is_empty() {
        "-"
    } else {
        &e.service_name
    };
    let mut line = format!(
        "{time} {severity:<5} {} {} {:?}",
        kind_name(e.kind),
        service.escape_debug(),
        e.reason
    );
    if !e.request_id.is_empty() {
        let _ = write!(line, " request_id={:?}", e.request_id);
    }
    if e.connection_id != 0 {
        let _ = write!(line, " connection_id={}", e.connection_id);
    }
    if !e.broker_instance.is_empty() {
        let _ = write!(line, " broker_instance={:?}", e.broker_instance);
    }
    for (key, value) in e.extra.iter().filter(|(k, _)| k.as_str() != CHAIN_KEY) {
        let _ = write!(line, " {}={value:?}", key.escape_debug());
    }
    line
}

/// One JSON object for tools: every field of the event (`kind` by name,
/// `time` in RFC 3339 or null), the record's `index`, `offset`, `len` and
/// `hash`, its `chain_prev`, and `extra` without the chain entry.
pub fn render_json(record: &LogRecord) -> Value {
    let e = &record.event;
    let extra: Map<String, Value> = e
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != CHAIN_KEY)
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "index": record.index,
        "offset": record.offset,
        "len": record.len,
        "hash": to_hex(&record.hash),
        "chain_prev": e.extra.get(CHAIN_KEY),
        "ts_ms": e.ts_ms,
        "time": rfc3339_utc(e.ts_ms),
        "pid": e.pid,
        "service_name": e.service_name,
        "kind": kind_name(e.kind),
        "reason": e.reason,
        "extra": extra,
        "severity_number": e.severity_number,
        "severity_text": e.severity_text,
        "request_id": e.request_id,
        "connection_id": e.connection_id,
        "broker_instance": e.broker_instance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{EventKind, LifecycleEvent};

    fn record(event: LifecycleEvent) -> LogRecord {
        LogRecord {
            index: 4,
            offset: 300,
            len: 80,
            hash: [0x11; 32],
            event,
        }
    }

    #[test]
    fn times_render_as_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            rfc3339_utc(1_709_251_199_999).as_deref(),
            Some("2024-02-29T23:59:59.999Z")
        );
        assert_eq!(
            rfc3339_utc(951_782_400_000).as_deref(),
            Some("2000-02-29T00:00:00.000Z")
        );
        assert_eq!(
            rfc3339_utc(253_402_300_799_999).as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(rfc3339_utc(253_402_300_800_000), None);
        assert_eq!(rfc3339_utc(u64::MAX), None);
    }

    #[test]
    fn a_line_shows_the_fields_and_hides_the_chain() {
        let mut event = LifecycleEvent {
            ts_ms: 1_700_000_000_123,
            kind: EventKind::HelloRefused as i32,
            service_name: "zccache".into(),
            reason: "below floor\nsecond line".into(),
            severity_text: "WARN".into(),
            connection_id: 7,
            ..LifecycleEvent::default()
        };
        event.extra.insert(CHAIN_KEY.into(), "00".repeat(32));
        event
            .extra
            .insert("code".into(), "ERROR_VERSION_BLOCKED".into());
        assert_eq!(
            render_line(&record(event)),
            "2023-11-14T22:13:20.123Z WARN  HELLO_REFUSED zccache \"below floor\\nsecond line\" \
             connection_id=7 code=\"ERROR_VERSION_BLOCKED\""
        );
    }

    #[test]
    fn a_time_past_rfc3339_falls_back_to_milliseconds() {
        let line = render_line(&record(LifecycleEvent {
            ts_ms: u64::MAX,
            kind: 99,
            ..LifecycleEvent::default()
        }));
        assert_eq!(
            line,
            format!("ts_ms={} -     EVENT_KIND_99 - \"\"", u64::MAX)
        );
    }

    #[test]
    fn json_carries_every_field_and_the_chain_apart() {
        let mut event = LifecycleEvent {
            ts_ms: 0,
            kind: EventKind::Spawn as i32,
            pid: 12,
            ..LifecycleEvent::default()
        };
        event.extra.insert(CHAIN_KEY.into(), "ab".repeat(32));
        event.extra.insert("exe".into(), "/bin/x".into());
        let v = render_json(&record(event));
        assert_eq!(v["kind"], "SPAWN");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["pid"], 12);
        assert_eq!(v["index"], 4);
        assert_eq!(v["hash"], "11".repeat(32));
        assert_eq!(v["chain_prev"], "ab".repeat(32));
        assert_eq!(v["extra"], json!({"exe": "/bin/x"}));
    }
}
