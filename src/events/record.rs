//! One lifecycle record: building it, its severity, its encoding, and the
//! EVT-1 truncation that keeps every record within the `PIPE_BUF` floor.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message as _;

use super::chain::CHAIN_KEY;
use crate::proto::v1::{EventKind, LifecycleEvent};
use crate::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR;

/// OpenTelemetry severity `INFO` (9).
pub const SEVERITY_INFO: (u32, &str) = (9, "INFO");
/// OpenTelemetry severity `WARN` (13).
pub const SEVERITY_WARN: (u32, &str) = (13, "WARN");
/// OpenTelemetry severity `ERROR` (17).
pub const SEVERITY_ERROR: (u32, &str) = (17, "ERROR");

/// The OpenTelemetry severity (number, text) the reference broker gives each
/// event kind:
///
/// | severity | kinds |
/// |---|---|
/// | `INFO` 9 | SPAWN_ATTEMPT, SPAWN, DIED_IDLE, DIED_SHUTDOWN, REPLACED_BY_NEWER, HELLO_ACCEPTED, SERVICE_DEF_LOADED, SERVICE_DEF_CHANGED, BROADCAST_SENT, BROADCAST_ACK, MANIFEST_REWRITTEN |
/// | `WARN` 13 | EVENT_KIND_UNSPECIFIED, VERSION_MISMATCH, HELLO_REFUSED, BROADCAST_TIMEOUT, PROTOCOL_DOWNGRADE, RESOURCE_PRESSURE |
/// | `ERROR` 17 | DIED_CRASH, CACHE_CORRUPTION_DETECTED, SECURITY_VIOLATION, TEARDOWN_HOOK_FAILED |
///
/// Routine lifecycle steps are `INFO`; a refusal or a degraded but working
/// state is `WARN` (an unclassified event is itself a writer defect worth a
/// look); a crash, corruption, a peer breaking the security rules or a failed
/// teardown is `ERROR`. Nothing the broker records is `FATAL`: the broker
/// keeps running after every one of these.
pub fn severity_of(kind: EventKind) -> (u32, &'static str) {
    use EventKind as K;
    match kind {
        K::SpawnAttempt
        | K::Spawn
        | K::DiedIdle
        | K::DiedShutdown
        | K::ReplacedByNewer
        | K::HelloAccepted
        | K::ServiceDefLoaded
        | K::ServiceDefChanged
        | K::BroadcastSent
        | K::BroadcastAck
        | K::ManifestRewritten => SEVERITY_INFO,
        K::Unspecified
        | K::VersionMismatch
        | K::HelloRefused
        | K::BroadcastTimeout
        | K::ProtocolDowngrade
        | K::ResourcePressure => SEVERITY_WARN,
        K::DiedCrash
        | K::CacheCorruptionDetected
        | K::SecurityViolation
        | K::TeardownHookFailed => SEVERITY_ERROR,
    }
}

/// A new event stamped now by this process: `ts_ms` is the wall clock in
/// Unix milliseconds, `pid` this process, severity from [`severity_of`];
/// every other field is empty for the caller to fill.
pub fn new_event(kind: EventKind, service_name: &str, reason: impl Into<String>) -> LifecycleEvent {
    let (severity_number, severity_text) = severity_of(kind);
    LifecycleEvent {
        ts_ms: unix_ms_now(),
        pid: this_pid(),
        service_name: service_name.to_owned(),
        kind: kind as i32,
        reason: reason.into(),
        severity_number,
        severity_text: severity_text.to_owned(),
        ..LifecycleEvent::default()
    }
}

/// This process's id, asked of the kernel once (`getpid` is a syscall and
/// events are stamped on every Hello).
fn this_pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The wall clock in Unix milliseconds (0 for a clock before 1970).
fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The on-disk form of an event: its varint length prefix followed by the
/// message bytes (`prost::Message::encode_length_delimited`).
pub fn encode_record(event: &LifecycleEvent) -> Vec<u8> {
    event.encode_length_delimited_to_vec()
}

/// Size of an event's record, length prefix included.
pub fn record_len(event: &LifecycleEvent) -> usize {
    let body = event.encoded_len();
    prost::length_delimiter_len(body) + body
}

/// EVT-1: the event cut down so its record (prefix included) is at most
/// [`LIFECYCLE_EVENT_PIPE_BUF_FLOOR`] bytes. An event that already fits is
/// returned unchanged. Otherwise, in order, until it fits:
///
/// 1. `reason` is shortened from its end;
/// 2. `extra` values other than the chain entry are shortened, the longest
///    first;
/// 3. `extra` entries other than the chain entry are dropped, the longest
///    key first (only keys are left by then);
/// 4. the remaining strings (`broker_instance`, `request_id`,
///    `service_name`, `severity_text`) are shortened, the longest first.
///
/// Every cut falls on a UTF-8 character boundary. The chain entry is never
/// touched while anything else is left to cut; only a chain value far longer
/// than any hash (which is no valid chain entry anyway) is shortened as the
/// very last resort, so the 512-byte promise holds for every input. A record
/// is never split: the result is one whole event.
pub fn fit_to_floor(mut event: LifecycleEvent) -> LifecycleEvent {
    // Each cut removes at least the excess it measured, and the length
    // prefix never grows when the message shrinks, so every step below ends
    // with the record fitting or with its candidate strings exhausted.
    if let Some(excess) = excess_of(&event) {
        cut_end(&mut event.reason, excess);
    }
    while let Some(excess) = excess_of(&event) {
        let Some(value) = longest_value_except_chain(&mut event) else {
            break;
        };
        cut_end(value, excess);
    }
    while excess_of(&event).is_some() {
        let Some(key) = longest_key_except_chain(&event) else {
            break;
        };
        event.extra.remove(&key);
    }
    while let Some(excess) = excess_of(&event) {
        let LifecycleEvent {
            broker_instance,
            request_id,
            service_name,
            severity_text,
            ..
        } = &mut event;
        let candidates = [broker_instance, request_id, service_name, severity_text];
        let Some(longest) = candidates
            .into_iter()
            .filter(|s| !s.is_empty())
            .max_by_key(|s| s.len())
        else {
            break;
        };
        cut_end(longest, excess);
    }
    if let Some(excess) = excess_of(&event)
        && let Some(chain) = event.extra.get_mut(CHAIN_KEY)
    {
        cut_end(chain, excess);
    }
    event
}

/// How many bytes the event's record is over the floor, if it is over.
fn excess_of(event: &LifecycleEvent) -> Option<usize> {
    let len = record_len(event);
    (len > LIFECYCLE_EVENT_PIPE_BUF_FLOOR).then(|| len - LIFECYCLE_EVENT_PIPE_BUF_FLOOR)
}

/// The longest non-empty `extra` value other than the chain entry.
fn longest_value_except_chain(event: &mut LifecycleEvent) -> Option<&mut String> {
    event
        .extra
        .iter_mut()
        .filter(|(k, v)| k.as_str() != CHAIN_KEY && !v.is_empty())
        .max_by_key(|(_, v)| v.len())
        .map(|(_, v)| v)
}

/// The longest `extra` key other than the chain entry.
fn longest_key_except_chain(event: &LifecycleEvent) -> Option<String> {
    event
        .extra
        .keys()
        .filter(|k| k.as_str() != CHAIN_KEY)
        .max_by_key(|k| k.len())
        .cloned()
}

/// Removes at least `bytes` bytes from the end of `s` (all of it if it is
/// shorter), cutting on a character boundary.
fn cut_end(s: &mut String, bytes: usize) {
    let mut keep = s.len().saturating_sub(bytes);
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    s.truncate(keep);
}

/// The protocol name of an event's kind (`HELLO_REFUSED`), or
/// `EVENT_KIND_<n>` for a number this schema does not define.
pub fn kind_name(kind: i32) -> String {
    EventKind::try_from(kind).map_or_else(
        |_| format!("EVENT_KIND_{kind}"),
        |k| k.as_str_name().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::chain::GENESIS_PREV;

    fn chained(reason: &str) -> LifecycleEvent {
        let mut event = new_event(EventKind::HelloRefused, "zccache", reason);
        event.extra.insert(CHAIN_KEY.into(), GENESIS_PREV.into());
        event
    }

    #[test]
    fn every_kind_has_an_opentelemetry_severity_in_range() {
        for n in 0..=20 {
            let kind = EventKind::try_from(n).expect("kinds 0..=20 exist");
            let (number, text) = severity_of(kind);
            assert!((1..=24).contains(&number), "{kind:?} -> {number}");
            let expected_text = match number {
                9..=12 => "INFO",
                13..=16 => "WARN",
                17..=20 => "ERROR",
                _ => "unexpected",
            };
            assert_eq!(text, expected_text, "{kind:?}");
        }
        assert_eq!(severity_of(EventKind::HelloAccepted), SEVERITY_INFO);
        assert_eq!(severity_of(EventKind::HelloRefused), SEVERITY_WARN);
        assert_eq!(severity_of(EventKind::DiedCrash), SEVERITY_ERROR);
    }

    #[test]
    fn new_event_stamps_this_process_and_the_severity_of_its_kind() {
        let event = new_event(EventKind::DiedCrash, "svc", "exit 139");
        assert_eq!(event.pid, std::process::id());
        assert_eq!(event.kind(), EventKind::DiedCrash);
        assert_eq!(event.service_name, "svc");
        assert_eq!(event.reason, "exit 139");
        assert_eq!(
            (event.severity_number, event.severity_text.as_str()),
            SEVERITY_ERROR
        );
        assert!(event.ts_ms > 1_600_000_000_000, "{}", event.ts_ms);
    }

    #[test]
    fn record_len_counts_the_prefix_and_matches_the_encoding() {
        for reason_len in [0, 100, 126, 127, 128, 400] {
            let event = chained(&"r".repeat(reason_len));
            assert_eq!(record_len(&event), encode_record(&event).len());
        }
    }

    #[test]
    fn an_event_that_fits_is_left_alone() {
        let event = chained("short");
        assert_eq!(fit_to_floor(event.clone()), event);
    }

    #[test]
    fn a_long_reason_is_cut_to_exactly_the_floor() {
        let event = chained(&"x".repeat(5000));
        let fitted = fit_to_floor(event.clone());
        assert_eq!(record_len(&fitted), LIFECYCLE_EVENT_PIPE_BUF_FLOOR);
        assert!(event.reason.starts_with(&fitted.reason));
        assert_eq!(fitted.extra, event.extra);
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        // 4-byte characters: a cut may have to remove up to 3 bytes more.
        let fitted = fit_to_floor(chained(&"𝄞".repeat(300)));
        assert!(record_len(&fitted) <= LIFECYCLE_EVENT_PIPE_BUF_FLOOR);
        assert!(record_len(&fitted) > LIFECYCLE_EVENT_PIPE_BUF_FLOOR - 4);
        assert!(fitted.reason.chars().all(|c| c == '𝄞'));
    }

    #[test]
    fn extra_values_are_cut_longest_first_after_the_reason() {
        let mut event = chained(&"r".repeat(100));
        event.extra.insert("short".into(), "s".repeat(50));
        event.extra.insert("long".into(), "l".repeat(600));
        let fitted = fit_to_floor(event);
        assert_eq!(fitted.reason, "");
        assert_eq!(fitted.extra["short"], "s".repeat(50));
        assert!(fitted.extra["long"].len() < 600);
        assert_eq!(fitted.extra[CHAIN_KEY], GENESIS_PREV);
        assert_eq!(record_len(&fitted), LIFECYCLE_EVENT_PIPE_BUF_FLOOR);
    }

    #[test]
    fn huge_keys_are_dropped_but_the_chain_entry_stays() {
        let mut event = chained("");
        event.extra.insert("k".repeat(900), String::new());
        let fitted = fit_to_floor(event);
        assert_eq!(fitted.extra.len(), 1);
        assert_eq!(fitted.extra[CHAIN_KEY], GENESIS_PREV);
    }

    #[test]
    fn other_strings_are_cut_only_when_nothing_else_is_left() {
        let mut event = chained("reason");
        event.broker_instance = "b".repeat(700);
        event.service_name = "svc".into();
        let fitted = fit_to_floor(event);
        assert_eq!(fitted.reason, "");
        assert_eq!(fitted.service_name, "svc");
        assert!(fitted.broker_instance.len() < 700);
        assert_eq!(fitted.extra[CHAIN_KEY], GENESIS_PREV);
        assert!(record_len(&fitted) <= LIFECYCLE_EVENT_PIPE_BUF_FLOOR);
    }

    #[test]
    fn an_absurd_chain_value_is_the_last_thing_cut() {
        let mut event = chained("");
        event.extra.insert(CHAIN_KEY.into(), "0".repeat(2000));
        let fitted = fit_to_floor(event);
        assert!(record_len(&fitted) <= LIFECYCLE_EVENT_PIPE_BUF_FLOOR);
        assert_eq!(fitted.service_name, "");
        assert!(fitted.extra[CHAIN_KEY].len() < 2000);
    }

    #[test]
    fn kind_names_are_the_protocol_names() {
        assert_eq!(kind_name(EventKind::HelloRefused as i32), "HELLO_REFUSED");
        assert_eq!(kind_name(42), "EVENT_KIND_42");
    }
}
