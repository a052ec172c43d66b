//! The lifecycle event log against real files: one write of at most 512
//! bytes per record (EVT-1), an intact hash chain across reopenings (EVT-3),
//! tampering and truncation found at the right record, and the `events`
//! subcommand's output and exit codes.

mod support;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use broker_conformance::events::{
    AppendedRecord, CHAIN_KEY, EventKind, EventLog, EventLogError, GENESIS_PREV, LifecycleEvent,
    LogVerdict, fit_to_floor, read_log, record_len, verify_log,
};
use broker_conformance::inspect::to_hex;
use broker_conformance::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR;
use prost::Message as _;
use support::Rng;

const FLOOR: usize = LIFECYCLE_EVENT_PIPE_BUF_FLOOR;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("evlog")
        .tempdir()
        .expect("temp dir")
}

/// A deterministic event: the same `i` always encodes to the same bytes.
fn event(i: u64) -> LifecycleEvent {
    let mut event = LifecycleEvent {
        ts_ms: 1_700_000_000_000 + i,
        pid: 4242,
        service_name: "zccache".into(),
        kind: EventKind::HelloAccepted as i32,
        reason: format!("event number {i}"),
        severity_number: 9,
        severity_text: "INFO".into(),
        ..LifecycleEvent::default()
    };
    event.extra.insert("version".into(), "1.11.20".into());
    event
}

/// Appends `events` to a fresh log at `path`; returns what each append reported.
fn write_log(path: &Path, events: impl IntoIterator<Item = LifecycleEvent>) -> Vec<AppendedRecord> {
    let log = EventLog::open(path).expect("open");
    events
        .into_iter()
        .map(|e| log.append(e).expect("append"))
        .collect()
}

/// Byte offset of every record, from the appended sizes.
fn offsets(records: &[AppendedRecord]) -> Vec<u64> {
    records
        .iter()
        .scan(0u64, |at, r| {
            let start = *at;
            *at += r.len as u64;
            Some(start)
        })
        .collect()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("metadata").len()
}

fn broken(verdict: LogVerdict) -> (u64, u64, String) {
    match verdict {
        LogVerdict::Broken {
            record,
            offset,
            problem,
        } => (record, offset, problem),
        intact => panic!("expected a broken log, got {intact}"),
    }
}

/// Runs the binary; returns its exit code, stdout and stderr.
fn cli(args: &[&str], path: &Path) -> (Option<i32>, String, String) {
    support::cli_output(support::cli_command().args(args).arg(path))
}

// ---------------------------------------------------------------- EVT-1

#[test]
fn every_append_grows_the_file_by_exactly_one_record_of_at_most_512_bytes() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let log = EventLog::open(&path).expect("open");

    let mut huge_reason = event(1);
    huge_reason.reason = "r".repeat(10_000);
    let mut huge_extras = event(2);
    for key in ["a", "b", "c"] {
        huge_extras.extra.insert(key.into(), key.repeat(2_000));
    }
    let mut multibyte = event(3);
    multibyte.reason = "€".repeat(1_000);
    let mut forged_chain = event(4);
    forged_chain.extra.insert(CHAIN_KEY.into(), "f".repeat(64));
    let cases = [event(0), huge_reason, huge_extras, multibyte, forged_chain];

    let mut expected_len = 0;
    for (i, e) in cases.iter().enumerate() {
        let appended = log.append(e.clone()).expect("append");
        assert!(appended.len <= FLOOR, "case {i}: {} bytes", appended.len);
        expected_len += appended.len as u64;
        assert_eq!(
            file_len(&path),
            expected_len,
            "case {i} grew the file by its record size"
        );
    }

    let scan = read_log(&path).expect("readable");
    assert_eq!(scan.broken, None);
    let back: Vec<_> = scan.records.iter().map(|r| &r.event).collect();
    // An ASCII overflow is cut to exactly the floor, from the end of the reason.
    assert_eq!(scan.records[1].len, FLOOR);
    assert!(cases[1].reason.starts_with(&back[1].reason));
    // Extras are cut after the reason is gone; the chain entry survives.
    assert_eq!(scan.records[2].len, FLOOR);
    assert_eq!(back[2].reason, "");
    assert_eq!(back[2].extra["version"], "1.11.20");
    assert_eq!(back[2].extra[CHAIN_KEY].len(), 64);
    // Multibyte text is cut between characters.
    assert!(back[3].reason.chars().all(|c| c == '€'));
    assert!(scan.records[3].len > FLOOR - 3);
    // A caller's chain value is replaced by the real link.
    assert_eq!(back[4].extra[CHAIN_KEY], to_hex(&scan.records[3].hash));
}

#[cfg(unix)]
#[test]
fn a_new_log_file_is_readable_and_writable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    EventLog::open(&path).expect("open");
    let mode = fs::metadata(&path).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_frozen_worst_case_golden_is_cut_by_exactly_its_two_prefix_bytes() {
    let golden =
        fs::read(support::golden_dir().join("v1/lifecycle_event_worst_case.bin")).expect("golden");
    assert_eq!(golden.len(), FLOOR, "the golden is a 512-byte message");
    let original = LifecycleEvent::decode(&golden[..]).expect("decodes");
    assert_eq!(
        record_len(&original),
        FLOOR + 2,
        "a 2-byte prefix puts it over"
    );

    let fitted = fit_to_floor(original.clone());

    assert_eq!(record_len(&fitted), FLOOR);
    assert_eq!(fitted.encode_length_delimited_to_vec().len(), FLOOR);
    assert_eq!(
        fitted.reason,
        original.reason[..original.reason.len() - 2],
        "only the reason loses its last two bytes"
    );
    assert_eq!(
        LifecycleEvent {
            reason: original.reason.clone(),
            ..fitted.clone()
        },
        original,
        "every other field, the chain entry included, is untouched"
    );
}

#[test]
fn fit_to_floor_always_fits_and_keeps_the_chain_entry() {
    const ALPHABET: [char; 5] = ['a', 'Z', 'é', '€', '𝄞'];
    fn text(rng: &mut Rng, max_chars: u64) -> String {
        let n = rng.below(max_chars + 1);
        (0..n)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
    fn is_prefix(short: &str, long: &str) -> bool {
        long.starts_with(short)
    }

    let mut rng = Rng::new(0x0e7e_57a1);
    // How many cases reached each step of the order: fits, reason, extras, others.
    let mut reached = [0u32; 4];
    for case in 0..3_000 {
        // Half the cases keep fields small, so fitting events are covered too.
        let scale = if case % 2 == 0 { 40 } else { 400 };
        let mut e = LifecycleEvent {
            ts_ms: rng.next_u64(),
            pid: rng.next_u64() as u32,
            service_name: text(&mut rng, scale),
            kind: rng.below(21) as i32,
            reason: text(&mut rng, scale * 2),
            severity_number: rng.below(25) as u32,
            severity_text: text(&mut rng, scale / 4),
            request_id: text(&mut rng, scale),
            connection_id: rng.next_u64(),
            broker_instance: text(&mut rng, scale),
            ..LifecycleEvent::default()
        };
        for _ in 0..rng.below(6) {
            let key = text(&mut rng, scale / 2);
            let value = text(&mut rng, scale);
            e.extra.insert(key, value);
        }
        let chain = to_hex(&rng.bytes(32));
        e.extra.insert(CHAIN_KEY.into(), chain.clone());

        let fitted = fit_to_floor(e.clone());

        let len = fitted.encode_length_delimited_to_vec().len();
        assert!(len <= FLOOR, "case {case}: {len} bytes");
        assert_eq!(fitted.extra.get(CHAIN_KEY), Some(&chain), "case {case}");
        assert_eq!(
            fit_to_floor(fitted.clone()),
            fitted,
            "case {case}: idempotent"
        );
        if record_len(&e) <= FLOOR {
            assert_eq!(fitted, e, "case {case}: an event that fits is untouched");
            reached[0] += 1;
            continue;
        }
        // Only cuts from the end, and only in the documented order.
        for (cut, whole) in [
            (&fitted.reason, &e.reason),
            (&fitted.service_name, &e.service_name),
            (&fitted.severity_text, &e.severity_text),
            (&fitted.request_id, &e.request_id),
            (&fitted.broker_instance, &e.broker_instance),
        ] {
            assert!(is_prefix(cut, whole), "case {case}");
        }
        for (k, v) in &fitted.extra {
            assert!(is_prefix(v, &e.extra[k]), "case {case}: extra {k:?}");
        }
        let extras_changed = fitted.extra != e.extra;
        let others_changed = (
            &fitted.service_name,
            &fitted.severity_text,
            &fitted.request_id,
            &fitted.broker_instance,
        ) != (
            &e.service_name,
            &e.severity_text,
            &e.request_id,
            &e.broker_instance,
        );
        if extras_changed {
            assert_eq!(fitted.reason, "", "case {case}: reason goes before extras");
        }
        if others_changed {
            assert_eq!(
                fitted.extra.len(),
                1,
                "case {case}: extras go before other fields"
            );
        }
        if !fitted.reason.is_empty() {
            assert!(
                len >= FLOOR - 4,
                "case {case}: cut {len} far below the floor"
            );
        }
        let deepest_step = match (extras_changed, others_changed) {
            (_, true) => 3,
            (true, false) => 2,
            (false, false) => 1,
        };
        reached[deepest_step] += 1;
    }
    eprintln!("steps reached: {reached:?}");
    assert!(
        reached.iter().all(|&n| n >= 100),
        "the generator must exercise every step: {reached:?}"
    );
}

// ---------------------------------------------------------------- EVT-3

#[test]
fn a_written_log_verifies_with_the_writers_head_hash() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let log = EventLog::open(&path).expect("open");
    for i in 0..5 {
        log.append(event(i)).expect("append");
    }
    assert_eq!(
        verify_log(&path).expect("readable"),
        LogVerdict::Intact {
            records: 5,
            head: log.head_hash()
        }
    );
    let scan = read_log(&path).expect("readable");
    assert_eq!(scan.records[0].event.extra[CHAIN_KEY], GENESIS_PREV);
}

#[test]
fn an_empty_file_is_an_intact_log_of_zero_records() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    File::create(&path).expect("create");
    assert_eq!(
        verify_log(&path).expect("readable"),
        LogVerdict::Intact {
            records: 0,
            head: None
        }
    );
    let log = EventLog::open(&path).expect("open");
    assert_eq!(log.head_hash(), None);
    assert!(log.opened_broken().is_none());
}

#[test]
fn in_memory_and_file_logs_chain_the_same_events_identically() {
    let dir = temp_dir();
    let on_disk = write_log(&dir.path().join("events.log"), (0..4).map(event));
    let memory = EventLog::in_memory();
    let in_memory: Vec<_> = (0..4)
        .map(|i| memory.append(event(i)).expect("append"))
        .collect();
    assert_eq!(on_disk, in_memory);
}

#[test]
fn reopening_a_log_continues_its_chain() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let first = write_log(&path, (0..3).map(event));

    let log = EventLog::open(&path).expect("reopen");
    assert!(log.opened_broken().is_none());
    assert_eq!(log.head_hash(), Some(first[2].hash));
    assert_eq!(log.chain_len(), 3);
    assert_eq!(log.records_written(), 0);
    assert_eq!(log.path(), Some(path.as_path()));
    let recent: Vec<_> = log.recent(10).into_iter().map(|e| e.reason).collect();
    assert_eq!(
        recent,
        ["event number 0", "event number 1", "event number 2"]
    );

    let next = log.append(event(3)).expect("append");
    log.append(event(4)).expect("append");
    assert_eq!(next.index, 3);
    assert_eq!(log.records_written(), 2);
    assert_eq!(
        verify_log(&path).expect("readable"),
        LogVerdict::Intact {
            records: 5,
            head: log.head_hash()
        }
    );
}

#[test]
fn reopening_a_log_with_a_torn_tail_continues_from_its_last_intact_record() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let records = write_log(&path, (0..4).map(event));
    let at = offsets(&records);
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(at[3] + 5).expect("truncate");

    let log = EventLog::open(&path).expect("a broken log still opens");
    let notice = log.opened_broken().expect("the tear is reported");
    assert_eq!((notice.record, notice.offset), (3, at[3]));
    assert_eq!(log.head_hash(), Some(records[2].hash));
    assert_eq!(log.chain_len(), 3);

    let appended = log.append(event(9)).expect("append");
    assert_eq!(appended.index, 3);
    let last = log.recent(1).remove(0);
    assert_eq!(last.extra[CHAIN_KEY], to_hex(&records[2].hash));
    // The torn bytes stay in the file as evidence, so the file stays broken.
    let (record, offset, _) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (3, at[3]));
}

#[test]
fn a_log_in_a_missing_directory_is_refused_and_not_created() {
    let dir = temp_dir();
    let missing = dir.path().join("no-such-dir");
    let err = EventLog::open(&missing.join("events.log")).expect_err("refused");
    match &err {
        EventLogError::MissingDirectory { dir, .. } => assert_eq!(dir, &missing),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn concurrent_appends_from_several_threads_form_one_intact_chain() {
    const THREADS: u64 = 8;
    const EACH: u64 = 40;
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let log = Arc::new(EventLog::open(&path).expect("open"));
    let appended: Vec<AppendedRecord> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = Arc::clone(&log);
                s.spawn(move || {
                    (0..EACH)
                        .map(|i| log.append(event(t * 1000 + i)).expect("append"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let indexes: BTreeSet<u64> = appended.iter().map(|r| r.index).collect();
    assert_eq!(indexes, (0..THREADS * EACH).collect());
    assert_eq!(
        file_len(&path),
        appended.iter().map(|r| r.len as u64).sum::<u64>()
    );
    assert_eq!(
        verify_log(&path).expect("readable"),
        LogVerdict::Intact {
            records: THREADS * EACH,
            head: log.head_hash()
        }
    );
}

// ------------------------------------------------------- tamper evidence

/// A six-record log; returns its path's directory guard, bytes, records.
fn six_records() -> (tempfile::TempDir, PathBuf, Vec<u8>, Vec<AppendedRecord>) {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let records = write_log(&path, (0..6).map(event));
    let bytes = fs::read(&path).expect("read");
    (dir, path, bytes, records)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> usize {
    from + haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

#[test]
fn flipping_any_byte_in_the_middle_breaks_the_log_at_that_record_or_the_next() {
    let (_dir, path, bytes, records) = six_records();
    let at = offsets(&records);
    // Records 1..=4: neither the first nor the last.
    for position in at[1] as usize..at[5] as usize {
        let k = at
            .iter()
            .rposition(|&o| o as usize <= position)
            .expect("record") as u64;
        for mask in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[position] ^= mask;
            fs::write(&path, &tampered).expect("write");
            let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
            assert!(
                record == k || record == k + 1,
                "byte {position} of record {k} ^ {mask:#x}: reported record {record}: {problem}"
            );
            assert!(offset >= at[k as usize], "byte {position}: offset {offset}");
        }
    }
}

#[test]
fn a_changed_chain_entry_is_reported_at_its_own_record() {
    let (_dir, path, mut bytes, records) = six_records();
    let at = offsets(&records);
    let hex = to_hex(&records[2].hash);
    let position = find(&bytes, hex.as_bytes(), at[3] as usize);
    bytes[position] = if bytes[position] == b'0' { b'1' } else { b'0' };
    fs::write(&path, &bytes).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (3, at[3]));
    assert!(problem.contains("chain_prev"), "{problem}");
}

#[test]
fn a_changed_reason_is_reported_at_the_record_that_vouches_for_it() {
    let (_dir, path, mut bytes, records) = six_records();
    let at = offsets(&records);
    let position = find(&bytes, b"event number 2", at[2] as usize) + 3;
    bytes[position] ^= 0x01; // still ASCII: record 2 decodes, its hash changes
    fs::write(&path, &bytes).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (3, at[3]));
    assert!(problem.contains("chain break"), "{problem}");
}

#[test]
fn a_reason_made_invalid_utf8_is_reported_as_undecodable_at_its_record() {
    let (_dir, path, mut bytes, records) = six_records();
    let at = offsets(&records);
    let position = find(&bytes, b"event number 2", at[2] as usize);
    bytes[position] ^= 0x80;
    fs::write(&path, &bytes).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (2, at[2]));
    assert!(problem.contains("undecodable"), "{problem}");
}

#[test]
fn a_file_cut_inside_a_record_is_reported_as_truncated() {
    let (_dir, path, bytes, records) = six_records();
    let at = offsets(&records);
    fs::write(&path, &bytes[..at[5] as usize + 7]).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (5, at[5]));
    assert!(problem.contains("truncated body"), "{problem}");
}

#[test]
fn a_file_cut_inside_a_length_prefix_is_reported_as_truncated() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let mut long = event(1);
    long.reason = "x".repeat(300); // a record over 127 bytes: a 2-byte prefix
    let records = write_log(&path, [event(0), long]);
    let at = offsets(&records);
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(at[1] + 1).expect("truncate");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (1, at[1]));
    assert!(problem.contains("truncated length prefix"), "{problem}");
}

#[test]
fn a_removed_middle_record_is_a_chain_break_where_it_was() {
    let (_dir, path, bytes, records) = six_records();
    let at = offsets(&records);
    let mut without_2 = bytes[..at[2] as usize].to_vec();
    without_2.extend_from_slice(&bytes[at[3] as usize..]);
    fs::write(&path, &without_2).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (2, at[2]));
    assert!(problem.contains("chain break"), "{problem}");
}

#[test]
fn a_removed_first_record_is_a_chain_break_at_the_start() {
    let (_dir, path, bytes, records) = six_records();
    fs::write(&path, &bytes[records[0].len..]).expect("write");
    let (record, offset, problem) = broken(verify_log(&path).expect("readable"));
    assert_eq!((record, offset), (0, 0));
    assert!(problem.contains("start of the log"), "{problem}");
}

#[test]
fn a_missing_file_is_unreadable_not_broken() {
    let dir = temp_dir();
    let err = verify_log(&dir.path().join("absent.log")).expect_err("unreadable");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

// ------------------------------------------------------------------ CLI

#[test]
fn events_verify_exits_0_for_an_intact_log_and_prints_its_head() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let records = write_log(&path, (0..3).map(event));
    let (code, out, _) = cli(&["events", "verify"], &path);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!("intact: 3 records, head {}\n", to_hex(&records[2].hash))
    );
}

#[test]
fn events_verify_exits_1_and_names_the_first_broken_record() {
    let (_dir, path, bytes, records) = six_records();
    let at = offsets(&records);
    fs::write(&path, &bytes[..at[4] as usize + 3]).expect("write");
    let (code, out, _) = cli(&["events", "verify"], &path);
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with(&format!(
            "broken at record 4 (byte offset {}): truncated body",
            at[4]
        )),
        "{out}"
    );
}

#[test]
fn events_verify_exits_2_when_the_log_cannot_be_read() {
    let dir = temp_dir();
    let (code, out, err) = cli(&["events", "verify"], &dir.path().join("absent.log"));
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert!(err.starts_with("error: "), "{err}");
    let (code, _, err) = cli(&["events", "verify"], dir.path());
    assert_eq!(code, Some(2), "a directory is unreadable as a log: {err}");
}

#[test]
fn events_tail_prints_the_last_records_one_line_each() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let mut refused = event(7);
    refused.kind = EventKind::HelloRefused as i32;
    refused.severity_text = "WARN".into();
    refused.reason = "version below floor".into();
    refused
        .extra
        .insert("code".into(), "ERROR_VERSION_BLOCKED".into());
    write_log(&path, [event(0), event(1), refused]);

    let (code, out, err) = cli(&["events", "tail", "-n", "2"], &path);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "2023-11-14T22:13:20.001Z INFO  HELLO_ACCEPTED zccache \"event number 1\" \
             version=\"1.11.20\"",
            "2023-11-14T22:13:20.007Z WARN  HELLO_REFUSED zccache \"version below floor\" \
             code=\"ERROR_VERSION_BLOCKED\" version=\"1.11.20\"",
        ]
    );
}

#[test]
fn events_tail_json_prints_one_object_per_record() {
    let dir = temp_dir();
    let path = dir.path().join("events.log");
    let records = write_log(&path, (0..4).map(event));
    let (code, out, _) = cli(&["events", "tail", "--json", "-n", "3"], &path);
    assert_eq!(code, Some(0));
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["index"], 1);
    assert_eq!(objects[2]["reason"], "event number 3");
    assert_eq!(objects[2]["kind"], "HELLO_ACCEPTED");
    assert_eq!(objects[2]["hash"], to_hex(&records[3].hash));
    assert_eq!(objects[2]["chain_prev"], to_hex(&records[2].hash));
    assert_eq!(
        objects[2]["extra"],
        serde_json::json!({"version": "1.11.20"})
    );
}

#[test]
fn events_tail_prints_the_intact_records_then_where_the_log_broke() {
    let (_dir, path, bytes, records) = six_records();
    let at = offsets(&records);
    fs::write(&path, &bytes[..at[5] as usize + 2]).expect("write");
    let (code, out, err) = cli(&["events", "tail", "-n", "2"], &path);
    assert_eq!(code, Some(1));
    let reasons: Vec<bool> = ["event number 3", "event number 4"]
        .iter()
        .map(|r| out.contains(r))
        .collect();
    assert_eq!(reasons, [true, true], "{out}");
    assert_eq!(out.lines().count(), 2);
    assert!(
        err.contains(&format!("broken at record 5 (byte offset {})", at[5])),
        "{err}"
    );
}

#[test]
fn events_tail_exits_2_when_the_log_cannot_be_read() {
    let dir = temp_dir();
    let (code, _, err) = cli(&["events", "tail"], &dir.path().join("absent.log"));
    assert_eq!(code, Some(2));
    assert!(err.starts_with("error: "), "{err}");
}
