//! The reference broker's Hello path over real sockets with real backend
//! processes: negotiation (NEG), refusals (HEL-13…HEL-19), service
//! definitions (SVC, V2), the registry (REG) and the launch contract (LCH).

#![cfg(unix)]

mod support;

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use broker_conformance::broker::EmbeddedBroker;
use broker_conformance::definitions::{
    ServiceDefinitionBuilder, write_service_definition, write_service_definition_v2,
};
use broker_conformance::fake_backend::{Behavior, Record, read_records};
use broker_conformance::proto::v1::{ErrorCode, Frame, FrameKind};
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
use broker_conformance::wire::{MAX_FRAME_BYTES, env_vars};
use support::broker::{define, hello, install_fake_backend, negotiate, refused, short_tempdir};

/// A broker plus a fake-backend installation to point definitions at.
struct Fixture {
    broker: EmbeddedBroker,
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self::with(EmbeddedBroker::builder())
    }

    fn with(builder: broker_conformance::broker::EmbeddedBrokerBuilder) -> Self {
        Self {
            broker: builder.start().expect("broker starts"),
            root: short_tempdir(),
        }
    }

    /// Defines `service` served by a fresh fake-backend install named `install`.
    fn define(&self, service: &str, install: &str) -> std::path::PathBuf {
        let (binary, dir) = install_fake_backend(self.root.path(), install);
        define(self.broker.service_def_dir(), service, &binary, &dir);
        binary
    }

    fn records(&self, install: &str) -> Vec<(u32, Vec<Record>)> {
        read_records(
            &self
                .root
                .path()
                .join("bin")
                .join(install)
                .join("fake-backend-records"),
        )
        .expect("records")
    }
}

/// Sends one echo request to a backend socket and returns the reply.
fn echo(pipe: &str, payload: &'static [u8]) -> Frame {
    let mut stream = UnixStream::connect(pipe).expect("backend accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = Frame {
        envelope_version: 1,
        payload_protocol: 0xF00D,
        payload: bytes::Bytes::from_static(payload),
        request_id: 99,
        ..Frame::default()
    };
    write_frame(&mut stream, &request).expect("send");
    read_frame(&mut stream, MAX_FRAME_BYTES).expect("echo reply")
}

/// HEL-21, NEG-1…NEG-8, REG-1, CAP-1.
#[test]
fn negotiated_points_at_a_live_backend_that_serves_the_client() {
    let f = Fixture::new();
    f.define("fake-echo", "echo");
    let mut h = hello("fake-echo", "1.2.3");
    h.client_keepalive_secs = 45;
    // A client that can take a handoff, plus bits no one has defined (CAP-1).
    h.client_capabilities = u64::MAX;
    let n = negotiate(f.broker.endpoint(), &h);
    assert_eq!(n.negotiated_protocol, 1, "NEG-1");
    assert_eq!(n.daemon_version, "1.2.3", "NEG-3");
    assert_eq!(n.keepalive_interval_secs, 45, "NEG-4");
    assert!(n.warnings.is_empty(), "NEG-6");
    assert!(
        n.handle_passed_token.is_empty() && n.server_capabilities == 0,
        "NEG-7/NEG-8: no handoff, no token"
    );
    assert_eq!(n.connection_id, 1, "NEG-5: counts from 1");
    assert!(std::path::Path::new(&n.backend_pipe).is_absolute(), "NEG-2");
    let reply = echo(&n.backend_pipe, b"ping");
    assert_eq!(reply.kind, FrameKind::Response as i32);
    assert_eq!(reply.payload.as_ref(), b"ping");
    let second = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.2.3"));
    assert_eq!(
        second.backend_pipe, n.backend_pipe,
        "REG-1: the same key reuses the backend"
    );
    assert_eq!(second.connection_id, 2, "NEG-5: never reused");
    assert_eq!(second.keepalive_interval_secs, 1800, "NEG-4 default");
    let other = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.2.4"));
    assert_ne!(
        other.backend_pipe, n.backend_pipe,
        "REG-1: another version, another backend"
    );
    let started: usize = f
        .records("echo")
        .iter()
        .filter(|(_, r)| matches!(r.first(), Some(Record::Started { .. })))
        .count();
    assert_eq!(started, 2);
}

/// LCH-2, LCH-3, FRM-11.
#[test]
fn the_launch_contract_environment_is_exact_and_the_listener_is_inherited() {
    let f = Fixture::new();
    let binary = f.define("fake-echo", "env");
    let mut request =
        broker_conformance::wire::frames::hello_request(&hello("fake-echo", "2.0.0"), 5);
    request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
    let reply = support::broker::exchange(f.broker.endpoint(), &request);
    assert_eq!(reply.traceparent, request.traceparent, "FRM-11 echo");
    let records = f.records("env");
    let Some(Record::Started {
        environment,
        listener,
        args,
        ..
    }) = records.first().and_then(|(_, r)| r.first().cloned())
    else {
        panic!("the backend recorded its start: {records:?}");
    };
    assert_eq!(
        listener, "inherited",
        "LCH-3: the broker-bound fd really arrived"
    );
    assert!(args.is_empty(), "LCH-2: no arguments");
    let names: BTreeSet<&str> = environment.iter().map(|(k, _)| k.as_str()).collect();
    let allowed: BTreeSet<&str> = [
        "USER",
        "LOGNAME",
        "HOME",
        "SHELL",
        "PATH",
        "LANG",
        "TZ",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
        env_vars::BACKEND_SERVICE_NAME,
        env_vars::BACKEND_SERVICE_VERSION,
        env_vars::BACKEND_PIPE,
        env_vars::BACKEND_NAMESPACE,
        env_vars::BACKEND_INSTANCE,
        env_vars::BACKEND_TRACEPARENT,
        env_vars::IS_DAEMON,
        env_vars::LISTENER_FD,
    ]
    .into();
    let unexpected: Vec<&&str> = names
        .iter()
        .filter(|n| !allowed.contains(*n) && !n.starts_with("LC_"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "LCH-2: unexpected variables {unexpected:?}"
    );
    let get = |k: &str| {
        environment
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get(env_vars::BACKEND_SERVICE_VERSION), Some("2.0.0"));
    assert_eq!(get(env_vars::BACKEND_INSTANCE), Some("private:fake-echo"));
    assert_eq!(
        get(env_vars::BACKEND_TRACEPARENT),
        Some(request.traceparent.as_str())
    );
    assert_eq!(
        get(env_vars::BACKEND_TRACESTATE),
        None,
        "only when the Hello had one"
    );
    assert_eq!(get(env_vars::IS_DAEMON), Some("1"));
    assert_eq!(get(env_vars::LISTENER_FD), Some("3"));
    let pid = records[0].0;
    let fd0 = std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("fd 0");
    assert_eq!(
        fd0,
        std::path::Path::new("/dev/null"),
        "LCH-2: stdio on /dev/null"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let session: u32 = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().nth(3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert_eq!(session, pid, "LCH-2: its own session");
    assert!(binary.exists());
}

/// LCH-3.
#[test]
fn without_owned_bind_the_backend_binds_its_pipe_itself() {
    let f = Fixture::with(EmbeddedBroker::builder().owned_bind(false));
    f.define("fake-echo", "selfbind");
    let n = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    assert_eq!(echo(&n.backend_pipe, b"x").payload.as_ref(), b"x");
    let records = f.records("selfbind");
    assert!(
        matches!(records[0].1.first(), Some(Record::Started { listener, .. }) if listener == "bound")
    );
}

#[test]
fn unknown_and_unloadable_definitions_are_refused_as_service_unknown() {
    let f = Fixture::new();
    let r = refused(f.broker.endpoint(), &hello("nobody", "1.0.0"));
    assert_eq!(
        (r.code, r.retry_after_ms),
        (ErrorCode::ErrorServiceUnknown as i32, 0),
        "HEL-13"
    );
    assert_eq!(r.reason, "service definition was not found");
    std::fs::write(
        f.broker.service_def_dir().join("broken.servicedef"),
        b"\x0a\x05ab",
    )
    .expect("write garbage");
    let r = refused(f.broker.endpoint(), &hello("broken", "1.0.0"));
    assert_eq!(r.code, ErrorCode::ErrorServiceUnknown as i32, "HEL-14");
    assert!(
        r.reason
            .starts_with("service definition could not be loaded: "),
        "{}",
        r.reason
    );
}

#[test]
fn version_policy_blocks_with_a_thirty_second_retry() {
    let f = Fixture::new();
    let (binary, dir) = install_fake_backend(f.root.path(), "policy");
    let def = ServiceDefinitionBuilder::new("fake-echo")
        .binary_path(&binary)
        .per_version_binary_dir(&dir)
        .min_version("2.0.0")
        .allow_version("2.1.0")
        .build()
        .expect("definition");
    write_service_definition(f.broker.service_def_dir(), &def).expect("write");
    let below = refused(f.broker.endpoint(), &hello("fake-echo", "1.9.9-rc.1"));
    assert_eq!(
        (below.code, below.retry_after_ms),
        (ErrorCode::ErrorVersionBlocked as i32, 30_000),
        "HEL-15"
    );
    assert_eq!(below.reason, "wanted_version is below min_version");
    let outside = refused(f.broker.endpoint(), &hello("fake-echo", "2.0.5"));
    assert_eq!(
        outside.reason, "wanted_version is not in version_allow_list",
        "HEL-16"
    );
    negotiate(f.broker.endpoint(), &hello("fake-echo", "2.1.0"));
}

/// SVC-2, V2-1.
#[test]
fn a_v2_definition_is_consulted_before_the_v1_one() {
    let f = Fixture::new();
    let (binary, dir) = install_fake_backend(f.root.path(), "v2");
    let v1_only = ServiceDefinitionBuilder::new("fake-echo")
        .binary_path(&binary)
        .per_version_binary_dir(&dir)
        .min_version("9.0.0")
        .build()
        .expect("v1");
    write_service_definition(f.broker.service_def_dir(), &v1_only).expect("write v1");
    assert_eq!(
        refused(f.broker.endpoint(), &hello("fake-echo", "1.0.0")).code,
        ErrorCode::ErrorVersionBlocked as i32
    );
    let v2 = ServiceDefinitionBuilder::new("fake-echo")
        .binary_path(&binary)
        .per_version_binary_dir(&dir)
        .build_v2(None)
        .expect("v2");
    write_service_definition_v2(f.broker.service_def_dir(), &v2).expect("write v2");
    negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
}

#[test]
fn a_binary_outside_its_version_dir_fails_the_launch() {
    let f = Fixture::new();
    let (binary, _) = install_fake_backend(f.root.path(), "outside");
    let elsewhere = f.root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    define(f.broker.service_def_dir(), "fake-echo", &binary, &elsewhere);
    let r = refused(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    assert_eq!(
        (r.code, r.retry_after_ms),
        (ErrorCode::ErrorBackendSpawnFailed as i32, 1000),
        "LCH-1 / HEL-19"
    );
    assert!(r.reason.contains("not inside"), "{}", r.reason);
}

/// HEL-19, PRB-2, PRB-3, PRB-4, LCH-4, LCH-5, REF-2.
#[test]
fn every_failing_launch_behaviour_is_refused_as_spawn_failed() {
    let f = Fixture::new();
    let cases = [
        (Behavior::CrashAtStart, "identity probe"),
        (Behavior::NeverBind, "timed out"),
        (Behavior::BindLate, "timed out"),
        (Behavior::LiePid, "pid"),
        (Behavior::LieHash, "exe_hash"),
        (Behavior::LieBootId, "boot_id"),
        (Behavior::LieEndpoint, "ipc_endpoint.path"),
    ];
    for (behavior, detail) in cases {
        f.define(&behavior.service_name(), behavior.name());
        let r = refused(
            f.broker.endpoint(),
            &hello(&behavior.service_name(), "1.0.0"),
        );
        assert_eq!(
            r.code,
            ErrorCode::ErrorBackendSpawnFailed as i32,
            "{behavior}: {r:?}"
        );
        assert_eq!(r.retry_after_ms, 1000, "{behavior}");
        assert!(
            r.reason.starts_with("backend spawn failed: ") && r.reason.contains(detail),
            "{behavior}: {}",
            r.reason
        );
    }
    for (behavior, _) in cases {
        support::broker::assert_all_reaped(
            &f.root
                .path()
                .join("bin")
                .join(behavior.name())
                .join("fake-backend-records"),
        );
    }
}

#[test]
fn three_failed_launches_exhaust_the_budget_for_thirty_seconds() {
    let f = Fixture::new();
    f.define("fake-crash-at-start", "budget");
    for attempt in 0..3 {
        let r = refused(f.broker.endpoint(), &hello("fake-crash-at-start", "1.0.0"));
        assert_eq!(
            r.code,
            ErrorCode::ErrorBackendSpawnFailed as i32,
            "attempt {attempt}"
        );
    }
    let r = refused(f.broker.endpoint(), &hello("fake-crash-at-start", "1.0.0"));
    assert_eq!(r.code, ErrorCode::ErrorRateLimited as i32, "HEL-18");
    assert_eq!(r.reason, "backend spawn budget exhausted");
    assert!(
        (1..=30_000).contains(&r.retry_after_ms),
        "{}",
        r.retry_after_ms
    );
    let launched = f.records("budget").len();
    assert_eq!(launched, 3, "REG-3: no launch once the budget is spent");
    let other = refused(f.broker.endpoint(), &hello("fake-crash-at-start", "1.0.1"));
    assert_eq!(
        other.code,
        ErrorCode::ErrorBackendSpawnFailed as i32,
        "budgets are per key"
    );
}

#[test]
fn concurrent_hellos_for_one_key_share_one_launch() {
    let f = Fixture::new();
    f.define("fake-echo", "coalesce");
    let endpoint = f.broker.endpoint().to_path_buf();
    let pipes: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| negotiate(&endpoint, &hello("fake-echo", "3.0.0")).backend_pipe))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        pipes.windows(2).all(|w| w[0] == w[1]),
        "all got the same backend: {pipes:?}"
    );
    assert_eq!(
        f.records("coalesce").len(),
        1,
        "REG-3 / HEL-17 REF: exactly one launch"
    );
}

#[test]
fn a_killed_backend_is_relaunched_and_reaped() {
    let f = Fixture::new();
    f.define("fake-echo", "relaunch");
    let first = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    let pid = f.records("relaunch")[0].0;
    broker_conformance::sys::kill(pid).expect("kill the backend");
    assert!(
        f.broker.wait_backend_gone(pid, Duration::from_secs(10)),
        "LCH-5: the broker reaped the killed backend"
    );
    let second = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    assert_ne!(
        second.backend_pipe, first.backend_pipe,
        "REG-2: a new backend"
    );
    assert_eq!(
        echo(&second.backend_pipe, b"again").payload.as_ref(),
        b"again"
    );
    assert_eq!(f.records("relaunch").len(), 2);
}

#[test]
fn a_rebuilt_binary_is_a_new_key_and_supersedes_the_old_backend() {
    let f = Fixture::new();
    let binary = f.define("fake-echo", "rebuild");
    let first = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    // Rebuild: same path, different bytes (appending keeps it executable).
    let mut bytes = std::fs::read(&binary).expect("read");
    std::fs::remove_file(&binary).expect("unlink");
    bytes.extend_from_slice(b"rebuilt");
    std::fs::write(&binary, &bytes).expect("write");
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let second = negotiate(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    assert_ne!(
        second.backend_pipe, first.backend_pipe,
        "REG-1: a rebuilt binary is a new key"
    );
    let dump = support::broker::admin(
        f.broker.endpoint(),
        &broker_conformance::proto::v1::AdminRequest {
            verb: 2,
            json: true,
            ..Default::default()
        },
    );
    assert!(dump.body.contains("\"superseded\""), "REG-5: {}", dump.body);
    let events = std::fs::read(f.broker.event_log().expect("event log")).expect("log");
    assert!(
        String::from_utf8_lossy(&events).contains("replaced by a rebuilt binary"),
        "REG-5 event"
    );
}

#[test]
fn dropping_the_embedded_broker_stops_and_reaps_its_backends() {
    let root = short_tempdir();
    let pid = {
        let broker = EmbeddedBroker::start().expect("broker");
        let (binary, dir) = install_fake_backend(root.path(), "drop");
        define(broker.service_def_dir(), "fake-echo", &binary, &dir);
        negotiate(broker.endpoint(), &hello("fake-echo", "1.0.0"));
        let records = read_records(&dir.join("fake-backend-records")).expect("records");
        records[0].0
    };
    assert!(
        !broker_conformance::sys::process_exists(pid),
        "the backend was stopped and reaped with the broker"
    );
}

/// LCH-4, PRB-3: a `#!` script is not a native executable; once it execs
/// the real backend, the process's executable is no longer `binary_path`.
#[test]
fn a_script_wrapper_fails_the_identity_probe() {
    let f = Fixture::new();
    let (real, dir) = install_fake_backend(f.root.path(), "script");
    let script = dir.join("wrapper.sh");
    std::fs::write(&script, format!("#!/bin/sh\nexec {}\n", real.display())).expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    define(f.broker.service_def_dir(), "fake-echo", &script, &dir);
    let r = refused(f.broker.endpoint(), &hello("fake-echo", "1.0.0"));
    assert_eq!(r.code, ErrorCode::ErrorBackendSpawnFailed as i32);
    assert!(r.reason.contains("exe_path"), "{}", r.reason);
}
