//! Admin verbs against the reference broker (ADM-1…ADM-10), the drain of
//! SHUTDOWN (ADM-7, HEL-20) and the event log head they expose (EVT-3).

#![cfg(unix)]

mod support;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use broker_conformance::broker::EmbeddedBroker;
use broker_conformance::events::{LogVerdict, verify_log};
use broker_conformance::inspect::to_hex;
use broker_conformance::proto::v1::{AdminReply, AdminRequest, AdminVerb, ErrorCode, Frame};
use broker_conformance::wire::frames::{admin_request, hello_request};
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
use broker_conformance::wire::{MAX_FRAME_BYTES, decode_payload};
use serde_json::Value;
use support::broker::{
    admin, connect, define, hello, install_fake_backend, negotiate, refused, short_tempdir,
};

fn verb(v: AdminVerb, json: bool) -> AdminRequest {
    AdminRequest {
        verb: v as i32,
        json,
        ..AdminRequest::default()
    }
}

fn json_of(reply: &AdminReply) -> Value {
    assert_eq!(reply.content_type, "application/json", "{reply:?}");
    serde_json::from_str(&reply.body).expect("JSON body")
}

/// ADM-1, ADM-2 (same uid: every verb allowed), ADM-3, ADM-4.
#[test]
fn status_healthz_and_readyz_have_their_exact_bodies() {
    let broker = EmbeddedBroker::start().expect("broker");
    let status = admin(broker.endpoint(), &verb(AdminVerb::Status, false));
    assert_eq!(
        status.body, "broker_instance: shared\naccepting_hello: true\n",
        "ADM-3"
    );
    assert_eq!(
        (status.exit_code, status.content_type.as_str()),
        (0, "text/plain")
    );
    assert_eq!(
        admin(broker.endpoint(), &verb(AdminVerb::Healthz, false)).body,
        "ok\n",
        "ADM-4"
    );
    let ready = admin(broker.endpoint(), &verb(AdminVerb::Readyz, false));
    assert_eq!(
        (ready.body.as_str(), ready.exit_code),
        ("ready\n", 0),
        "ADM-4"
    );
}

#[test]
fn unknown_verbs_get_unsupported_with_exit_code_2() {
    let broker = EmbeddedBroker::start().expect("broker");
    for raw in [0, 10, 15, 20, 22, 99] {
        let reply = admin(
            broker.endpoint(),
            &AdminRequest {
                verb: raw,
                ..AdminRequest::default()
            },
        );
        assert_eq!(
            (reply.body.as_str(), reply.exit_code),
            ("unsupported admin verb\n", 2),
            "ADM-8 verb {raw}"
        );
    }
}

#[test]
fn json_verbs_report_real_figures() {
    let broker = EmbeddedBroker::start().expect("broker");
    let root = short_tempdir();
    let (binary, dir) = install_fake_backend(root.path(), "admin");
    define(broker.service_def_dir(), "fake-echo", &binary, &dir);
    define(
        broker.service_def_dir(),
        "fake-crash-at-start",
        &binary,
        &dir,
    );
    let n = negotiate(broker.endpoint(), &hello("fake-echo", "1.0.0"));
    refused(broker.endpoint(), &hello("fake-crash-at-start", "1.0.0"));
    refused(broker.endpoint(), &hello("nobody", "1.0.0"));

    let dump = json_of(&admin(broker.endpoint(), &verb(AdminVerb::Dump, true)));
    assert_eq!(
        (dump["schema_version"].as_u64(), dump["command"].as_str()),
        (Some(1), Some("dump")),
        "ADM-5"
    );
    assert!(
        dump["generated_at_unix_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    let table = dump["backend_table"].as_array().expect("backend_table");
    let live = table
        .iter()
        .find(|b| b["service_name"] == "fake-echo")
        .expect("the echo backend");
    assert_eq!(live["backend_pipe"].as_str(), Some(n.backend_pipe.as_str()));
    assert_eq!(
        (live["state"].as_str(), live["alive"].as_bool()),
        (Some("live"), Some(true))
    );
    let budget = dump["spawn_budgets"]
        .as_array()
        .and_then(|b| {
            b.iter()
                .find(|b| b["service_name"] == "fake-crash-at-start")
                .cloned()
        })
        .expect("the failed key has a budget entry");
    assert_eq!(
        budget["remaining"].as_u64(),
        Some(2),
        "ADM-10: one of three attempts spent"
    );
    let events = dump["recent_lifecycle_events"].as_array().expect("events");
    for kind in [
        "SPAWN_ATTEMPT",
        "SPAWN",
        "HELLO_ACCEPTED",
        "HELLO_REFUSED",
        "SERVICE_DEF_LOADED",
    ] {
        assert!(
            events.iter().any(|e| e["kind"] == kind),
            "missing {kind} in {events:#?}"
        );
    }

    let health = json_of(&admin(
        broker.endpoint(),
        &AdminRequest {
            verb: AdminVerb::BackendHealth as i32,
            service_name: "fake-echo".into(),
            ..AdminRequest::default()
        },
    ));
    assert_eq!(
        (health["command"].as_str(), health["healthy"].as_bool()),
        (Some("backend-health"), Some(true))
    );

    let list = json_of(&admin(
        broker.endpoint(),
        &verb(AdminVerb::ListInstances, true),
    ));
    assert_eq!(list["command"], "list-instances");
    assert_eq!(list["instances"][0]["instance"], "private:fake-echo");

    let config = json_of(&admin(broker.endpoint(), &verb(AdminVerb::Config, true)));
    assert_eq!(config["values"]["hello_timeout_ms"].as_u64(), Some(30_000));

    let metrics = admin(broker.endpoint(), &verb(AdminVerb::Metrics, false));
    assert_eq!(
        metrics.content_type, "application/openmetrics-text",
        "ADM-6"
    );
    assert!(metrics.body.ends_with("# EOF\n"));
    let body = &metrics.body;
    assert!(
        body.contains(
            "running_process_broker_v1_hello_total{service=\"fake-echo\",version=\"1.0.0\",outcome=\"negotiated\"} 1\n"
        ),
        "{body}"
    );
    assert!(body.contains("outcome=\"service_unknown\"} 1\n"), "{body}");
    assert!(body.contains("running_process_broker_v1_spawn_attempts_total{service=\"fake-echo\",version=\"1.0.0\",outcome=\"success\"} 1\n"), "{body}");
    assert!(
        body.contains("running_process_broker_v1_active_backends{service=\"fake-echo\"} 1\n"),
        "{body}"
    );
    // The metrics request itself is open; earlier connections may still be
    // closing on the broker side, so only a lower bound is certain.
    let open: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("running_process_broker_v1_connections_open "))
        .and_then(|v| v.parse().ok())
        .expect("connections_open sample");
    assert!(
        open >= 1,
        "ADM-10: counts the metrics connection itself: {body}"
    );
    assert!(
        !body.contains("fd_usage_ratio 0\n"),
        "ADM-10: a real ratio: {body}"
    );
}

#[test]
fn status_and_dump_expose_the_event_log_head() {
    let broker = EmbeddedBroker::start().expect("broker");
    refused(broker.endpoint(), &hello("nobody", "1.0.0"));
    let status = json_of(&admin(broker.endpoint(), &verb(AdminVerb::Status, true)));
    let head = status["event_log"]["head_blake3"]
        .as_str()
        .expect("head")
        .to_owned();
    let LogVerdict::Intact {
        head: Some(file_head),
        records,
    } = verify_log(broker.event_log().expect("log")).expect("readable")
    else {
        panic!("the log verifies");
    };
    assert!(records >= 1);
    assert_eq!(
        head,
        to_hex(&file_head),
        "EVT-3: STATUS exposes the chain head"
    );
}

#[test]
fn diagnose_writes_its_bundle_and_reports_a_failure_to() {
    let broker = EmbeddedBroker::start().expect("broker");
    let dir = short_tempdir();
    let path = dir.path().join("bundle.json");
    let request = |p: &std::path::Path| AdminRequest {
        verb: AdminVerb::Diagnose as i32,
        json: true,
        output_path: p.display().to_string(),
        ..AdminRequest::default()
    };
    let reply = admin(broker.endpoint(), &request(&path));
    let body = json_of(&reply);
    assert_eq!(
        (reply.exit_code, body["written"].as_bool()),
        (0, Some(true)),
        "{body}"
    );
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("bundle")).expect("JSON bundle");
    assert_eq!(bundle["dump"]["command"], "dump");
    let reply = admin(
        broker.endpoint(),
        &request(&dir.path().join("missing/dir/bundle.json")),
    );
    assert_eq!(reply.exit_code, 1);
    assert!(json_of(&reply)["error"].is_string());
}

#[test]
fn malformed_admin_frames_get_no_reply_and_the_broker_keeps_serving() {
    let broker = EmbeddedBroker::start().expect("broker");
    let good = admin_request(&verb(AdminVerb::Healthz, false), 1);
    let bad_frames = [
        Frame {
            envelope_version: 0,
            ..good.clone()
        },
        Frame {
            kind: 2,
            ..good.clone()
        },
        Frame {
            payload_encoding: 1,
            ..good.clone()
        },
        Frame {
            payload: bytes::Bytes::from_static(&[0x08, 0xff]),
            ..good.clone()
        },
    ];
    for frame in bad_frames {
        let mut stream = connect(broker.endpoint());
        write_frame(&mut stream, &frame).expect("send");
        let mut rest = Vec::new();
        assert_eq!(
            stream.read_to_end(&mut rest).expect("closed"),
            0,
            "ADM-9: no reply to {frame:?}"
        );
    }
    assert_eq!(
        admin(broker.endpoint(), &verb(AdminVerb::Healthz, false)).body,
        "ok\n"
    );
}

#[test]
fn shutdown_replies_then_refuses_already_accepted_hellos_and_drains_within_its_deadline() {
    let broker = EmbeddedBroker::builder()
        .hello_timeout(Duration::from_secs(3600))
        .start()
        .expect("broker");
    let endpoint = broker.endpoint().to_path_buf();
    let root = short_tempdir();
    let (binary, dir) = install_fake_backend(root.path(), "drain");
    define(broker.service_def_dir(), "fake-echo", &binary, &dir);
    let mut early = connect(&endpoint);
    let mut silent = connect(&endpoint);
    let reply = admin(
        &endpoint,
        &AdminRequest {
            verb: AdminVerb::Shutdown as i32,
            drain_deadline_ms: 300,
            ..AdminRequest::default()
        },
    );
    assert_eq!(
        (reply.body.as_str(), reply.exit_code),
        ("broker shutting down\n", 0),
        "ADM-7"
    );
    // HEL-1…HEL-16 pass for this Hello, so the drain is what refuses it.
    write_frame(&mut early, &hello_request(&hello("fake-echo", "1.0.0"), 11)).expect("send");
    let answer = read_frame(&mut early, MAX_FRAME_BYTES).expect("a reply");
    let answer: broker_conformance::proto::v1::HelloReply =
        decode_payload(&answer).expect("HelloReply");
    let Some(broker_conformance::proto::v1::hello_reply::Result::Refused(r)) = answer.result else {
        panic!("expected SHUTTING_DOWN, got {answer:?}");
    };
    assert_eq!(r.code, ErrorCode::ErrorShuttingDown as i32, "HEL-20");
    // The drain is bounded: the silent connection (deadline one hour) does
    // not hold the broker up beyond drain_deadline_ms.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(broker.shutdown());
    });
    let result = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the drain ended without the silent client");
    assert!(result.is_ok(), "{result:?}");
    assert!(!endpoint.exists(), "ADM-7: the socket file is removed");
    let mut rest = Vec::new();
    assert_eq!(
        silent.read_to_end(&mut rest).unwrap_or(0),
        0,
        "abandoned connections are closed"
    );
}
