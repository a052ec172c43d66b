//! Fake backends in a developer's test: in-process and as the executable,
//! reached through the RUNNING_PROCESS_FAKE_BACKEND seam (CLI-1, CLI-2).

#![cfg(unix)]

mod support;

use std::process::Command;

use broker_conformance::client::{ClientError, ClientSettings, ConnectRequest, Route, connect};
use broker_conformance::env::MapEnv;
use broker_conformance::fake_backend::{Behavior, FakeBackend, Record};
use broker_conformance::proto::v1::Frame;
use broker_conformance::wire::MAX_FRAME_BYTES;
use broker_conformance::wire::env_vars;
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};

fn request() -> ConnectRequest {
    // No broker exists: the seam must skip discovery and Hello entirely.
    ConnectRequest::new("/nonexistent/broker.sock", "zccache", "1.11.20")
}

fn ping(fake: &FakeBackend) {
    let mut connection = connect(
        &request(),
        &ClientSettings::from_env(&fake.env()).expect("settings"),
    )
    .expect("connect");
    assert_eq!(connection.route, Route::FakeBackendSeam, "CLI-2");
    let frame = Frame {
        envelope_version: 1,
        payload_protocol: 0x7A63,
        payload: bytes::Bytes::from_static(b"get"),
        request_id: 5,
        ..Frame::default()
    };
    write_frame(&mut connection.stream, &frame).expect("send");
    let reply = read_frame(&mut connection.stream, MAX_FRAME_BYTES).expect("echo");
    assert_eq!(reply.payload.as_ref(), b"get");
}

#[test]
fn the_seam_routes_a_client_to_an_in_process_fake_backend() {
    let fake = FakeBackend::start(Behavior::Echo).expect("fake backend");
    ping(&fake);
    let frames = fake.received_frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].payload_protocol, 0x7A63);
}

#[test]
fn the_seam_routes_to_the_standalone_executable_and_disable_overrides_it() {
    let fake = FakeBackend::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_broker-conformance")),
        Behavior::Echo,
    )
    .expect("spawned");
    ping(&fake);
    assert!(
        fake.records()
            .iter()
            .any(|r| matches!(r, Record::Started { listener, .. } if listener == "bound"))
    );
    let mut env = fake.env();
    env.0.insert(env_vars::DISABLE.into(), "1".into());
    let settings = ClientSettings::from_env(&env).expect("settings");
    assert!(
        matches!(connect(&request(), &settings), Err(ClientError::Disabled)),
        "CLI-1 overrides CLI-2"
    );
}

#[test]
fn an_invalid_disable_value_is_a_clear_error() {
    let env = MapEnv::from_pairs([(env_vars::DISABLE, "yes")]);
    let err = ClientSettings::from_env(&env).expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains(env_vars::DISABLE) && text.contains("yes"),
        "CLI-1: {text}"
    );
}

#[test]
fn process_level_behaviours_must_be_spawned() {
    let err = FakeBackend::start(Behavior::CrashAtStart)
        .err()
        .expect("refused in-process");
    assert!(err.to_string().contains("FakeBackend::spawn"), "{err}");
}

/// The seam scoped to a child process: the `connect` subcommand, as an
/// application would, goes straight to the fake backend; DISABLE=1 wins;
/// a bad DISABLE value is an error naming it.
#[test]
fn apply_seam_scopes_the_seam_to_a_child_process() {
    let fake = FakeBackend::start(Behavior::Echo).expect("fake backend");
    let run = |disable: Option<&str>| {
        let mut cmd = Command::new(support::serve::binary());
        cmd.args([
            "connect",
            "--ping",
            "--service",
            "zccache",
            "--version",
            "1.0.0",
            "--socket",
            "/nonexistent/b.sock",
        ]);
        fake.apply_seam(&mut cmd);
        if let Some(value) = disable {
            cmd.env(env_vars::DISABLE, value);
        }
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(None);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("route: fake-backend-seam") && stdout.contains("ping: ok"),
        "{stdout}"
    );
    let (code, stdout, _) = run(Some("1"));
    assert_eq!((code, stdout.trim()), (Some(0), "route: disabled"));
    let (code, _, stderr) = run(Some("maybe"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("maybe"), "{stderr}");
}
