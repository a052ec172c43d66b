//! Each check of `expect_event_log` and each of its failure messages, on
//! records built in memory.

use super::*;
use crate::events::LifecycleEvent;

fn record(index: u64, kind: EventKind, len: usize) -> LogRecord {
    LogRecord {
        index,
        offset: 0,
        len,
        hash: [index as u8; 32],
        event: LifecycleEvent {
            kind: kind as i32,
            ..LifecycleEvent::default()
        },
    }
}

fn log() -> Vec<LogRecord> {
    vec![
        record(0, EventKind::Spawn, 40),
        record(1, EventKind::HelloRefused, 90),
    ]
}

fn spec(text: &str) -> EventLogSpec {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn problems(text: &str, verdict: Option<&LogVerdict>, captures: &Captures) -> Vec<String> {
    judge_event_log(&spec(text), &log(), verdict, captures).problems
}

const INTACT: LogVerdict = LogVerdict::Intact {
    records: 2,
    head: None,
};

#[test]
fn a_log_that_meets_everything_has_no_problems() {
    let head = Captures::from_iter([("head", Actual::Str(to_hex(&[1; 32])))]);
    let text = r#"intact = true
                  max_record_bytes = 100
                  kinds = ["SPAWN", "HELLO_REFUSED"]
                  min_records = 2
                  head_same_as = "head""#;
    assert_eq!(problems(text, Some(&INTACT), &head), Vec::<String>::new());
}

#[test]
fn a_chain_that_is_not_as_expected_says_the_verdict() {
    let none = Captures::default();
    assert_eq!(
        problems("intact = false", Some(&INTACT), &none),
        ["expected the chain not intact: intact: 2 records, head none"]
    );
    assert_eq!(
        problems("intact = true", None, &none),
        ["the chain was not verified"]
    );
}

#[test]
fn an_oversize_record_is_named_by_index() {
    assert_eq!(
        problems("max_record_bytes = 64", None, &Captures::default()),
        ["record 1 is 90 bytes, over 64 (EVT-1)"]
    );
}

#[test]
fn a_missing_kind_is_named() {
    assert_eq!(
        problems(r#"kinds = ["HELLO_ACCEPTED"]"#, None, &Captures::default()),
        ["no HELLO_ACCEPTED record in the log"]
    );
}

#[test]
fn a_kind_that_must_be_absent_is_named_when_present() {
    assert_eq!(
        problems(
            r#"absent_kinds = ["SPAWN", "HELLO_ACCEPTED"]"#,
            None,
            &Captures::default()
        ),
        ["a SPAWN record is in the log"]
    );
}

#[test]
fn too_few_records_are_counted() {
    assert_eq!(
        problems("min_records = 3", None, &Captures::default()),
        ["2 records, expected at least 3"]
    );
}

#[test]
fn a_head_that_differs_from_the_capture_shows_both() {
    let other = Captures::from_iter([("head", Actual::Str("00".into()))]);
    let found = problems(r#"head_same_as = "head""#, None, &other);
    assert_eq!(
        found,
        [format!(
            "the log's head {} differs from head (Some(Str(\"00\")))",
            to_hex(&[1; 32])
        )]
    );
}

#[test]
fn a_record_pattern_needs_its_kind_and_every_extra_entry() {
    let mut pressure = record(2, EventKind::ResourcePressure, 60);
    pressure
        .event
        .extra
        .insert("fd_pressure".into(), "true".into());
    let records = [log(), vec![pressure]].concat();
    let judge =
        |text: &str| judge_event_log(&spec(text), &records, None, &Captures::default()).problems;
    assert_eq!(
        judge(r#"records = [{ kind = "RESOURCE_PRESSURE", extra = { fd_pressure = "true" } }]"#),
        Vec::<String>::new()
    );
    assert_eq!(
        judge(r#"records = [{ kind = "SPAWN" }]"#),
        Vec::<String>::new(),
        "no extra: the kind alone"
    );
    assert_eq!(
        judge(r#"records = [{ kind = "RESOURCE_PRESSURE", extra = { fd_pressure = "false" } }]"#),
        ["no RESOURCE_PRESSURE record with fd_pressure=false in the log"]
    );
    assert_eq!(
        judge(r#"records = [{ kind = "SPAWN", extra = { fd_pressure = "true" } }]"#),
        ["no SPAWN record with fd_pressure=true in the log"],
        "the entry must be on a record of that kind"
    );
}

#[test]
fn a_missing_record_pattern_names_its_kind_and_entries() {
    assert_eq!(
        problems(
            r#"records = [{ kind = "SUPERSEDE" }]"#,
            None,
            &Captures::default()
        ),
        ["no SUPERSEDE record in the log"]
    );
    assert_eq!(
        problems(
            r#"records = [{ kind = "SPAWN", extra = { a = "1", b = "2" } }]"#,
            None,
            &Captures::default()
        ),
        ["no SPAWN record with a=1, b=2 in the log"]
    );
}
