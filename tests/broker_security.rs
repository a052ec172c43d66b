//! Security on the reference broker's Hello path: the peer pid check
//! (HEL-11), auth tokens (HEL-12, SEC-5), definition directory permissions
//! for v1 and v2 files (SEC-3), and the uid policy (SEC-1).

#![cfg(unix)]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use broker_conformance::broker::EmbeddedBroker;
use broker_conformance::definitions::{ServiceDefinitionBuilder, write_service_definition_v2};
use broker_conformance::events::read_log;
use broker_conformance::proto::v1::{ErrorCode, EventKind};
use broker_conformance::sys::euid;
use support::broker::{define, hello, install_fake_backend, negotiate, refused, short_tempdir};

fn security_events(broker: &EmbeddedBroker) -> Vec<String> {
    read_log(broker.event_log().expect("log"))
        .expect("readable")
        .records
        .into_iter()
        .filter(|r| r.event.kind == EventKind::SecurityViolation as i32)
        .map(|r| r.event.reason)
        .collect()
}

#[test]
fn a_forged_peer_pid_is_refused_and_recorded() {
    let broker = EmbeddedBroker::start().expect("broker");
    let mut h = hello("nobody", "1.0.0");
    h.peer_pid = std::process::id() + 1;
    let r = refused(broker.endpoint(), &h);
    assert_eq!(r.code, ErrorCode::ErrorPeerRejected as i32, "HEL-11");
    assert_eq!(r.reason, "peer_pid does not match verified peer");
    h.peer_pid = std::process::id();
    assert_eq!(
        refused(broker.endpoint(), &h).code,
        ErrorCode::ErrorServiceUnknown as i32,
        "the true pid passes"
    );
    assert_eq!(security_events(&broker).len(), 1, "EVT-2: recorded once");
}

#[test]
fn auth_tokens_are_checked_before_any_service_lookup() {
    let broker = EmbeddedBroker::builder()
        .auth_token("s3cret")
        .start()
        .expect("broker");
    let root = short_tempdir();
    let (binary, dir) = install_fake_backend(root.path(), "auth");
    define(broker.service_def_dir(), "fake-echo", &binary, &dir);
    let mut known = hello("fake-echo", "1.0.0");
    let mut unknown = hello("nobody", "1.0.0");
    for token in [&b""[..], b"s3cre", b"s3cret\0", b"S3CRET"] {
        known.auth_token = bytes::Bytes::copy_from_slice(token);
        unknown.auth_token = known.auth_token.clone();
        let a = refused(broker.endpoint(), &known);
        let b = refused(broker.endpoint(), &unknown);
        assert_eq!(
            (a.code, a.reason.as_str()),
            (ErrorCode::ErrorPeerRejected as i32, "authentication failed"),
            "HEL-12"
        );
        assert_eq!(
            (a.code, &a.reason, a.retry_after_ms),
            (b.code, &b.reason, b.retry_after_ms),
            "nothing learnt about which services exist"
        );
    }
    known.auth_token = bytes::Bytes::from_static(b"s3cret");
    negotiate(broker.endpoint(), &known);
    assert_eq!(security_events(&broker).len(), 8);
}

#[test]
fn a_definition_directory_open_to_others_is_refused_for_v1_and_v2_files() {
    let broker = EmbeddedBroker::start().expect("broker");
    let root = short_tempdir();
    let (binary, dir) = install_fake_backend(root.path(), "perm");
    define(broker.service_def_dir(), "fake-echo", &binary, &dir);
    let v2 = ServiceDefinitionBuilder::new("fake-v2")
        .binary_path(&binary)
        .per_version_binary_dir(&dir)
        .build_v2(None)
        .expect("v2");
    write_service_definition_v2(broker.service_def_dir(), &v2).expect("write v2");
    negotiate(broker.endpoint(), &hello("fake-echo", "1.0.0"));
    fs::set_permissions(broker.service_def_dir(), fs::Permissions::from_mode(0o750))
        .expect("chmod");
    for service in ["fake-echo", "fake-v2"] {
        let r = refused(broker.endpoint(), &hello(service, "1.0.0"));
        assert_eq!(
            r.code,
            ErrorCode::ErrorServiceUnknown as i32,
            "SEC-3 / HEL-14 for {service}"
        );
        assert!(
            r.reason
                .starts_with("service definition could not be loaded: "),
            "{}",
            r.reason
        );
    }
    fs::set_permissions(broker.service_def_dir(), fs::Permissions::from_mode(0o700))
        .expect("chmod back");
    negotiate(broker.endpoint(), &hello("fake-v2", "1.0.0"));
}

#[test]
fn a_peer_with_another_uid_is_dropped_without_a_reply() {
    if euid() != 0 {
        eprintln!("skipped: SEC-1 needs root to start a peer with another uid (CI runs as root)");
        return;
    }
    let broker = EmbeddedBroker::start().expect("broker");
    // Let uid 65534 reach the socket at all; SEC-1 must then stop it.
    let dir = broker.endpoint().parent().expect("dir");
    fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).expect("chmod dir");
    fs::set_permissions(broker.endpoint(), fs::Permissions::from_mode(0o666))
        .expect("chmod socket");
    let mut peer = std::process::Command::new(support::serve::binary());
    peer.args([
        "hello",
        "--service",
        "nobody",
        "--version",
        "1.0.0",
        "--timeout-ms",
        "20000",
        "--socket",
    ])
    .arg(broker.endpoint())
    .uid(65534)
    .gid(65534);
    let (status, stderr) = support::serve::run_to_end(peer, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(2),
        "no reply at all, so a connection error: {stderr}"
    );
    let events = security_events(&broker);
    assert!(
        events.iter().any(|e| e.contains("uid 65534")),
        "EVT-2: {events:?}"
    );
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).expect("chmod back");
    assert_eq!(
        refused(broker.endpoint(), &hello("nobody", "1.0.0")).code,
        ErrorCode::ErrorServiceUnknown as i32
    );
}
