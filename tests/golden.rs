//! The golden corpus: intact, round-tripping, covering every message of both
//! schemas, append-only in history, and loud about any changed byte.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use broker_conformance::golden::typed_message_names;
use broker_conformance::golden::{Corpus, GoldenError, add_golden, verify};
use broker_conformance::golden::{HistoryOutcome, check_history};
use broker_conformance::proto::descriptor_pool;
use broker_conformance::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR;
use prost_reflect::{DynamicMessage, ReflectMessage, Value};

/// Runs the `broker-conformance` binary; returns its exit code, stdout and stderr.
fn cli(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    support::cli_output(support::cli_command().args(args))
}

fn corpus() -> Corpus {
    Corpus::load_dir(&support::golden_dir()).expect("golden/ loads")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn the_corpus_verifies_clean() {
    let report = verify(&corpus());
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        report.is_ok(),
        "golden corpus problems:\n{}",
        findings.join("\n")
    );
    assert!(report.pairs_checked >= 59, "{} pairs", report.pairs_checked);
    assert_eq!(report.files_checked, 2 * report.pairs_checked);
}

#[test]
fn the_embedded_corpus_is_the_one_on_disk() {
    assert_eq!(
        Corpus::embedded().files,
        corpus().files,
        "rebuild: build.rs embeds golden/"
    );
}

/// Collects the full names of every message set anywhere inside `message`.
fn message_types(message: &DynamicMessage, out: &mut BTreeSet<String>) {
    out.insert(message.descriptor().full_name().to_owned());
    for (_, value) in message.fields() {
        let mut visit = |v: &Value| {
            if let Value::Message(m) = v {
                message_types(m, out);
            }
        };
        match value {
            Value::List(items) => items.iter().for_each(&mut visit),
            Value::Map(entries) => entries.values().for_each(&mut visit),
            v => visit(v),
        }
    }
}

#[test]
fn every_message_of_both_schemas_has_a_sample() {
    let corpus = corpus();
    let mut sampled = BTreeSet::new();
    for name in corpus.names() {
        let golden = corpus.golden(&name).expect("pair parses");
        message_types(&golden.companion.sample, &mut sampled);
    }
    let all: BTreeSet<String> = descriptor_pool()
        .all_messages()
        .filter(|m| !m.is_map_entry())
        .map(|m| m.full_name().to_owned())
        .collect();
    let missing: Vec<&String> = all.difference(&sampled).collect();
    assert!(
        missing.is_empty(),
        "messages without a golden sample: {missing:?}"
    );
    let typed: BTreeSet<String> = typed_message_names().into_iter().collect();
    assert_eq!(
        typed, all,
        "golden::codec must register every generated type"
    );
}

#[test]
fn the_worst_case_lifecycle_event_sits_exactly_at_the_pipe_buf_floor() {
    let bytes = corpus()
        .bytes("v1/lifecycle_event_worst_case")
        .expect("golden")
        .len();
    assert_eq!(bytes, LIFECYCLE_EVENT_PIPE_BUF_FLOOR, "EVT-1");
}

#[test]
fn maps_in_samples_hold_at_most_one_entry() {
    let corpus = corpus();
    fn check(m: &DynamicMessage, name: &str) {
        for (_, value) in m.fields() {
            match value {
                Value::Map(entries) => assert!(
                    entries.len() <= 1,
                    "{name}: a map with {} entries",
                    entries.len()
                ),
                Value::Message(inner) => check(inner, name),
                Value::List(items) => items
                    .iter()
                    .filter_map(Value::as_message)
                    .for_each(|i| check(i, name)),
                _ => {}
            }
        }
    }
    for name in corpus.names() {
        check(
            &corpus.golden(&name).expect("parses").companion.sample,
            &name,
        );
    }
}

#[test]
fn changing_one_byte_of_any_frozen_file_is_caught_and_named() {
    let original = corpus();
    let manifest = original.manifest().expect("manifest");
    let scratch = tempfile::tempdir().expect("tempdir");
    copy_tree(&support::golden_dir(), scratch.path());
    let mut corpus = Corpus::load_dir(scratch.path()).expect("copy loads");
    for entry in &manifest.entries {
        let pristine = corpus.files[&entry.path].clone();
        let mut tampered = pristine.clone();
        match tampered.len() / 2 {
            _ if tampered.is_empty() => tampered.push(0),
            mid => tampered[mid] ^= 0x01,
        }
        corpus.files.insert(entry.path.clone(), tampered);
        let report = verify(&corpus);
        let named: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.path.ends_with(&entry.path) && f.problem.contains("content changed")),
            "changing {} went unnoticed: {named:?}",
            entry.path
        );
        if entry.path.ends_with(".bin") && !pristine.is_empty() {
            assert!(
                report
                    .findings
                    .iter()
                    .any(|f| f.problem.contains("hex diff")),
                "no hex diff for {}",
                entry.path
            );
        }
        corpus.files.insert(entry.path.clone(), pristine);
    }
    assert!(verify(&corpus).is_ok(), "restored copy verifies");
}

#[test]
fn a_deleted_or_unlisted_file_is_caught() {
    let mut corpus = corpus();
    corpus.files.remove("v1/hello_minimal.bin");
    corpus.files.insert("v1/stray.bin".into(), vec![1, 2, 3]);
    let report = verify(&corpus);
    let text: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|f| f.contains("v1/hello_minimal.bin") && f.contains("missing")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|f| f.contains("v1/stray.bin") && f.contains("not listed")),
        "{text:#?}"
    );
}

#[test]
fn cli_verify_fails_naming_the_file_with_a_hex_diff() {
    let scratch = tempfile::tempdir().expect("tempdir");
    copy_tree(&support::golden_dir(), scratch.path());
    let target = scratch.path().join("v1/wire_hello_minimal.bin");
    let mut bytes = fs::read(&target).expect("read");
    bytes[20] ^= 0x01;
    fs::write(&target, bytes).expect("write");
    let args = ["golden", "verify", "--history", "skip", "--dir"].map(std::ffi::OsStr::new);
    let (code, stdout, _) = cli(&[&args[..], &[scratch.path().as_os_str()]].concat());
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("v1/wire_hello_minimal.bin: content changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hex diff") && stdout.contains("^^"),
        "{stdout}"
    );
    assert!(stdout.contains("spec §2 test vector"), "{stdout}");
}

#[test]
fn cli_verify_passes_on_the_real_corpus() {
    let dir = support::golden_dir();
    let (code, stdout, _) = cli(&[
        "golden".as_ref(),
        "verify".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("golden corpus: OK"));
}

#[test]
fn history_shows_goldens_were_only_ever_added() {
    match check_history(&support::golden_dir()) {
        HistoryOutcome::Checked { findings, .. } => {
            let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
            assert!(
                findings.is_empty(),
                "append-only promise broken:\n{}",
                text.join("\n")
            );
        }
        HistoryOutcome::Unavailable(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must check golden history: {reason}"
            );
            eprintln!("history not checked: {reason}");
        }
    }
}

/// Runs git in `dir`, failing the test on error.
fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn history_check_catches_an_edited_golden_and_a_removed_manifest_line() {
    let repo = tempfile::tempdir().expect("tempdir");
    let dir = repo.path().join("golden");
    copy_tree(&support::golden_dir(), &dir);
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "land goldens"]);
    let clean = check_history(&dir);
    assert!(
        matches!(&clean, HistoryOutcome::Checked { findings, .. } if findings.is_empty()),
        "{clean:?}"
    );

    fs::write(dir.join("v1/hello_minimal.txtpb"), "# edited\n").expect("edit");
    let manifest = fs::read_to_string(dir.join("MANIFEST")).expect("manifest");
    let first_line_dropped: String = manifest.lines().skip(1).map(|l| format!("{l}\n")).collect();
    fs::write(dir.join("MANIFEST"), first_line_dropped).expect("rewrite");
    git(repo.path(), &["commit", "-q", "-am", "edit a golden"]);
    let HistoryOutcome::Checked { findings, .. } = check_history(&dir) else {
        panic!("history readable");
    };
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|f| f.contains("hello_minimal.txtpb") && f.contains("modified")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|f| f.contains("MANIFEST") && f.contains("only grows")),
        "{text:#?}"
    );
}

#[test]
fn add_freezes_a_new_golden_and_refuses_to_replace_one() {
    let scratch = tempfile::tempdir().expect("tempdir");
    copy_tree(&support::golden_dir(), scratch.path());
    let err = add_golden(scratch.path(), "v1/hello_minimal").expect_err("already frozen");
    assert!(matches!(err, GoldenError::Frozen(_)), "{err}");

    fs::write(
        scratch.path().join("v1/hello_new.txtpb"),
        "# proto-message: running_process.broker.v1.Hello\n# golden-encoding: message\n# New.\nservice_name: \"new\"\n",
    )
    .expect("write companion");
    let added = add_golden(scratch.path(), "v1/hello_new").expect("adds");
    assert_eq!(added.len, 5);
    let corpus = Corpus::load_dir(scratch.path()).expect("loads");
    assert!(verify(&corpus).is_ok(), "the grown corpus verifies");
    let manifest = fs::read_to_string(scratch.path().join("MANIFEST")).expect("manifest");
    let last: Vec<&str> = manifest.lines().rev().take(2).collect();
    assert!(
        last[1].ends_with("  v1/hello_new.txtpb") && last[0].ends_with("  v1/hello_new.bin"),
        "{last:?}"
    );
}

#[test]
fn cli_show_annotates_fields_beside_the_bytes() {
    let (code, stdout, _) =
        cli(&["golden", "show", "wire_hello_minimal"].map(std::ffi::OsStr::new));
    assert_eq!(code, Some(0), "{stdout}");
    for expected in [
        "000000  01",
        "framing version 0x01",
        "body length 28",
        "payload: Hello (22 bytes)",
        "1a 07 7a 63 63 61 63 68 65",
        "service_name: \"zccache\"",
        "request_id: 1",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let (code, _, stderr) = cli(&["golden", "show", "no_such_golden"].map(std::ffi::OsStr::new));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no golden named"), "{stderr}");
}
