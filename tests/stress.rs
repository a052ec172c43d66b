//! `broker-conformance stress` as users run it: a short storm against the
//! built-in reference broker is clean; one against a deliberately broken
//! double (a Refused without REF-1's daemon range for any mutated frame)
//! yields a finding that `--replay` reproduces.

#![cfg(unix)]

mod support;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use broker_conformance::wire::frames::refused_message_reply;
use broker_conformance::wire::framing::{decode_frame_body, encode_frame, split_frame};
use broker_conformance::wire::{
    FramingError, MAX_FRAME_BYTES, Refusal, ReplyContext, validate_hello,
};
use bytes::Bytes;
use serde_json::Value;
use support::broker::short_tempdir;

fn stress(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_broker-conformance"))
        .arg("stress")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running stress: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_short_storm_against_the_reference_broker_is_clean() {
    let dir = short_tempdir();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("r.xml");
    let out = stress(&[
        "--mutations",
        "3000",
        "--slow",
        "300",
        "--storm",
        "500",
        "--burst",
        "300",
        "--fault-rounds",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let phases = report["phases"].as_array().unwrap();
    let names: Vec<_> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mutations",
            "slow",
            "storms",
            "fd-exhaustion",
            "restart",
            "backend-faults"
        ]
    );
    assert_eq!(phases[0]["counts"]["sent"], 3000);
    assert!(
        phases[0]["counts"]["replies"].as_u64().unwrap() > 1000,
        "{report}"
    );
    assert_eq!(
        phases[1]["counts"]["closed_in_time"], 300,
        "FRM-9: {report}"
    );
    assert_eq!(
        phases[1]["counts"]["probes_answered"], 5,
        "FRM-13: {report}"
    );
    assert!(
        phases.iter().all(|p| p["liveness_ms"].is_number()),
        "{report}"
    );
    let fd = &phases[3]["counts"];
    assert!(fd["fd_pressure"].as_u64().unwrap() > 0, "ENV-3: {report}");
    assert!(fd["recovered_ms"].is_number(), "ENV-3 recovery: {report}");
    assert_eq!(phases[4]["counts"]["restarts"], 1, "SEC-6: {report}");
    let faults = &phases[5]["counts"];
    assert_eq!(faults["launches"], 9, "{report}");
    assert_eq!(faults["unanswered"], 0, "{report}");
    assert_eq!(faults["healthy_after"], true, "{report}");
    assert!(faults["refused"].as_u64().unwrap() >= 7, "HEL-19: {report}");
    // Accounting: every phase but the restart (a new process) measured, no zombie.
    for (i, p) in phases.iter().enumerate() {
        assert_eq!(p["resources"].is_object(), i != 4, "{p}");
    }
    assert_eq!(
        phases[5]["resources"]["after"]["zombies"], 0,
        "LCH-5: {report}"
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 0, "{report}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

/// Reads what a client sends until its first frame is decided (complete,
/// or its header already wrong), the client half-closes, or 500 ms pass.
fn read_first(stream: &mut UnixStream) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match split_frame(&Bytes::copy_from_slice(&got), MAX_FRAME_BYTES) {
            Err(FramingError::Truncated { .. }) => {}
            _ => return got,
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A broken broker: a valid Hello gets a correct ServiceUnknown refusal;
/// anything else a Refused whose daemon range is 1..0 (REF-1 broken).
fn serve_broken(listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        std::thread::spawn(move || {
            let got = read_first(&mut stream);
            let frame = split_frame(&Bytes::from(got), MAX_FRAME_BYTES)
                .ok()
                .and_then(|(body, _)| decode_frame_body(body).ok());
            let ctx = frame
                .as_ref()
                .map_or_else(ReplyContext::undecoded, ReplyContext::echo);
            let valid = frame.as_ref().is_some_and(|f| validate_hello(f, 0).is_ok());
            let mut refused = if valid {
                Refusal::ServiceUnknown.to_refused()
            } else {
                Refusal::MalformedFrame.to_refused()
            };
            if !valid {
                refused.daemon_max_protocol = 0;
            }
            let reply = encode_frame(&refused_message_reply(&ctx, refused)).unwrap();
            let _ = stream.write_all(&reply);
        });
    }
}

#[test]
fn a_broken_double_yields_a_ref_1_finding_that_replay_reproduces() {
    let dir = short_tempdir();
    let socket = dir.path().join("b.sock");
    let defs = dir.path().join("defs");
    std::fs::create_dir(&defs).unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || serve_broken(listener));
    let json = dir.path().join("r.json");
    let common = |extra: &[&str]| {
        let mut args = vec![
            "--socket",
            socket.to_str().unwrap(),
            "--service-def-dir",
            defs.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        stress(&args)
    };
    let out = common(&[
        "--phases",
        "mutations",
        "--mutations",
        "200",
        "--connections",
        "4",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("REF-1"), "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let first = &report["findings"][0];
    assert_eq!(first["clause"], "REF-1", "{first}");
    assert_eq!(first["seed"], 0x5eed, "{first}");
    assert!(!first["sent_hex"].as_str().unwrap().is_empty(), "{first}");
    assert!(
        first["received_annotated"]
            .as_str()
            .unwrap()
            .contains("daemon_min_protocol: 1"),
        "{first}"
    );
    // The finding alone, in a file of its own, replays too.
    let alone = dir.path().join("f.json");
    std::fs::write(&alone, first.to_string()).unwrap();
    for file in [&json, &alone] {
        let out = common(&["--replay", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("reproduced: "), "{}", text(&out));
    }
    // An expected-findings file listing it makes the storm clean.
    let expected = dir.path().join("e.toml");
    std::fs::write(
        &expected,
        "[[finding]]\nphase = \"mutations\"\nkind = \"reply-violation\"\nclause = \"REF-1\"\nreason = \"the double is broken on purpose\"\n",
    )
    .unwrap();
    let out = common(&[
        "--phases",
        "mutations",
        "--mutations",
        "50",
        "--expect-findings",
        expected.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The process phases need a broker this run started: skipped, with why.
    let out = common(&[
        "--phases",
        "fd-exhaustion,restart",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for phase in report["phases"].as_array().unwrap() {
        let why = phase["counts"]["skipped"].as_str().unwrap_or_default();
        assert!(why.contains("not a process this run started"), "{phase}");
    }
}

/// A reference broker broken on purpose: its start fails when a file
/// exists at the socket path, as if SEC-6's stale-socket take-over were
/// missing. The restart phase must catch it, and `--replay` reproduce it.
#[test]
fn a_broker_that_cannot_take_over_a_stale_socket_is_caught_and_replayed() {
    let dir = short_tempdir();
    let json = dir.path().join("r.json");
    let template = format!(
        "sh -c 'test -e \"$0\" && {{ echo \"socket path exists\" >&2; exit 1; }}; \
         exec \"$1\" serve --socket \"$0\" --service-def-dir \"$2\"' {{socket}} {} {{service_def_dir}}",
        env!("CARGO_BIN_EXE_broker-conformance")
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["--broker-cmd", &template, "--phases", "restart"];
        args.extend_from_slice(extra);
        stress(&args)
    };
    let out = run(&["--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let first = &report["findings"][0];
    assert_eq!(first["kind"], "restart", "{report}");
    assert_eq!(first["clause"], "SEC-6", "{report}");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("socket path exists"),
        "{first}"
    );
    // Brought back without the stale file, the broker answered the liveness Hello.
    assert!(report["phases"][0]["liveness_ms"].is_number(), "{report}");
    let out = run(&["--replay", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("reproduced: "), "{}", text(&out));
}

#[test]
fn a_missing_broker_is_a_run_that_could_not_happen() {
    let dir = short_tempdir();
    let out = stress(&[
        "--socket",
        Path::new("/tmp/no-such-broker.sock").to_str().unwrap(),
        "--service-def-dir",
        dir.path().to_str().unwrap(),
        "--liveness-ms",
        "200",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
