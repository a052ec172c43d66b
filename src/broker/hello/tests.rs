//! The Hello machine driven event by event: every row of spec §4 and its
//! order, ENV-3's routing, NEG-8, the drain and ADM-9 — no sockets, no
//! processes, no clock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use super::*;
use crate::definitions::Generation;
use crate::policy::ContainmentError;
use crate::proto::v1::{AdminVerb, HelloReply, Negotiated, PayloadEncoding, Refused, hello_reply};
use crate::wire::frames::{admin_request, hello_request};

const EUID: u32 = 1000;
const PEER_PID: u32 = 4242;

fn policy() -> HelloPolicy {
    HelloPolicy {
        euid: EUID,
        auth: AuthTokens::default(),
        door: Door::Launching,
    }
}

fn peer(uid: u32) -> Event {
    Event::Peer(PeerCredentials {
        pid: PEER_PID,
        uid,
        gid: uid,
    })
}

fn valid_hello() -> Hello {
    Hello {
        service_name: "svc".into(),
        wanted_version: "1.2.3".into(),
        client_min_protocol: 1,
        client_max_protocol: 1,
        peer_pid: PEER_PID,
        ..Hello::default()
    }
}

fn frame_event(frame: Frame) -> Event {
    frame_event_with(frame, false, false)
}

fn frame_event_with(frame: Frame, read_past_frame: bool, fd_pressure: bool) -> Event {
    let body_len = frame.encoded_len();
    Event::Frame {
        frame,
        body_len,
        read_past_frame,
        fd_pressure,
    }
}

fn hello_frame(hello: &Hello) -> Frame {
    let mut frame = hello_request(hello, 77);
    frame.traceparent = "00-trace-01".into();
    frame
}

fn definition() -> ServiceDefinition {
    ServiceDefinition {
        service_name: "svc".into(),
        binary_path: "/opt/svc/1/svc".into(),
        per_version_binary_dir: "/opt/svc/1".into(),
        ..ServiceDefinition::default()
    }
}

fn loaded(definition: ServiceDefinition, change: DefinitionChange) -> Event {
    Event::Definition {
        loaded: Ok(LoadedDefinition {
            definition,
            generation: Generation::V1,
            path: "/defs/svc.servicedef".into(),
            http_server: None,
            change,
        }),
        draining: false,
    }
}

fn not_found() -> Event {
    Event::Definition {
        loaded: Err(LoadError::NotFound {
            service: "svc".into(),
            dir: "/defs".into(),
        }),
        draining: false,
    }
}

fn binary() -> Event {
    Event::Binary(Ok(ResolvedBinary {
        path: "/opt/svc/1/svc".into(),
        hash: [7; 32],
    }))
}

fn backend(handoff_pipe: Option<&str>) -> Arc<LiveBackend> {
    Arc::new(LiveBackend {
        key: BackendKey {
            instance: "private:svc".into(),
            service: "svc".into(),
            version: "1.2.3".into(),
            exe_hash: [7; 32],
        },
        pid: 31337,
        start_time: 1,
        backend_pipe: "/run/b/svc.sock".into(),
        handoff_pipe: handoff_pipe.map(PathBuf::from),
        started_at_unix_ms: 0,
        process: None,
    })
}

fn acquired(backend: Arc<LiveBackend>) -> Event {
    Event::Backend {
        connection_id: 5,
        acquired: Ok(backend),
    }
}

/// The `HelloReply` inside a reply frame, after checking ENV-4's envelope.
fn hello_reply_of(frame: &Frame) -> hello_reply::Result {
    assert_eq!(frame.envelope_version, 1, "ENV-4");
    assert_eq!(frame.kind, FrameKind::Response as i32, "ENV-4");
    assert_eq!(frame.payload_protocol, 0, "ENV-4");
    assert_eq!(
        frame.payload_encoding,
        PayloadEncoding::None as i32,
        "ENV-4"
    );
    assert_eq!(frame.deadline_unix_ms, 0, "ENV-4");
    HelloReply::decode(frame.payload.as_ref())
        .unwrap_or_else(|e| panic!("reply payload: {e}"))
        .result
        .unwrap_or_else(|| panic!("reply without a result"))
}

fn refused_of(action: Action<'_>) -> (Refused, u64) {
    let Action::Reply(frame) = action else {
        panic!("expected a reply, got {action:?}");
    };
    match hello_reply_of(frame) {
        hello_reply::Result::Refused(refused) => {
            assert_eq!(
                (refused.daemon_min_protocol, refused.daemon_max_protocol),
                (1, 1),
                "REF-1"
            );
            (refused, frame.request_id)
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

fn negotiated_of(action: Action<'_>) -> Negotiated {
    let Action::Reply(frame) = action else {
        panic!("expected a reply, got {action:?}");
    };
    match hello_reply_of(frame) {
        hello_reply::Result::Negotiated(negotiated) => negotiated,
        other => panic!("expected Negotiated, got {other:?}"),
    }
}

/// A machine fed its peer, ready for the first frame: up to 16 MiB, or
/// 64 KiB on a front door (FRM-2, V2F-1).
fn ready(policy: &HelloPolicy) -> HelloExchange<'_> {
    let limit = match policy.door {
        Door::Launching => MAX_FRAME_BYTES,
        Door::Front => MAX_HELLO_BYTES,
    };
    let mut exchange = HelloExchange::new(policy);
    assert_eq!(exchange.handle(peer(EUID)), Action::ReadFrame { limit });
    exchange
}

/// Feeds a valid Hello; the machine asks for its definition.
fn admitted(policy: &HelloPolicy) -> HelloExchange<'_> {
    let mut exchange = ready(policy);
    assert_eq!(
        exchange.handle(frame_event(hello_frame(&valid_hello()))),
        Action::LoadDefinition("svc")
    );
    exchange
}

/// Through the definition and the binary: the machine asks for a backend.
fn planned(policy: &HelloPolicy) -> HelloExchange<'_> {
    let mut exchange = admitted(policy);
    assert!(matches!(
        exchange.handle(loaded(definition(), DefinitionChange::Unchanged)),
        Action::ResolveBinary(_)
    ));
    assert!(matches!(
        exchange.handle(binary()),
        Action::AcquireBackend(_)
    ));
    exchange
}

fn effects(exchange: &mut HelloExchange<'_>) -> Vec<Effect> {
    exchange.take_effects().collect()
}

fn refused_events(effects: &[Effect]) -> Vec<Refusal> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(BrokerEvent::HelloRefused { refusal, .. }) => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

/// The refusal a Hello with `edit` applied gets, with no definition ever asked for.
fn refusal_for_hello(edit: impl FnOnce(&mut Hello)) -> Refusal {
    refusal_for_frame(|frame| {
        let mut hello = valid_hello();
        edit(&mut hello);
        *frame = hello_frame(&hello);
    })
}

fn refusal_for_frame(edit: impl FnOnce(&mut Frame)) -> Refusal {
    let policy = policy();
    let mut exchange = ready(&policy);
    let mut frame = hello_frame(&valid_hello());
    edit(&mut frame);
    let action = exchange.handle(frame_event(frame));
    assert!(
        matches!(action, Action::Reply(_)),
        "refused before any definition is loaded: {action:?}"
    );
    let effects = effects(&mut exchange);
    let refusals = refused_events(&effects);
    assert_eq!(refusals.len(), 1, "{effects:?}");
    refusals[0].clone()
}

#[test]
fn sec1_a_peer_of_another_uid_is_dropped_unread_and_logged() {
    let policy = policy();
    let mut exchange = HelloExchange::new(&policy);
    assert_eq!(exchange.handle(peer(EUID + 1)), Action::Close);
    assert_eq!(
        effects(&mut exchange),
        [Effect::Event(BrokerEvent::ForeignPeer {
            peer_uid: EUID + 1,
            peer_pid: PEER_PID,
            broker_uid: EUID,
        })]
    );
}

#[test]
fn framing_failures_are_refused_with_an_undecoded_context_and_io_just_closes() {
    use crate::wire::framing::FrameSection;
    let cases = [
        (
            FramingError::BadFramingByte { found: 2 },
            Some(Refusal::UnsupportedFramingVersion),
        ),
        (
            FramingError::Oversize {
                declared: 1 << 25,
                limit: 1 << 24,
            },
            Some(Refusal::OversizeLength),
        ),
        (
            FramingError::Malformed(Frame::decode(&[0xffu8][..]).unwrap_err()),
            Some(Refusal::MalformedFrame),
        ),
        (
            FramingError::Truncated {
                section: FrameSection::Body,
                received: 1,
                expected: 9,
            },
            Some(Refusal::IncompleteFrame),
        ),
        (FramingError::Io(std::io::Error::other("reset")), None),
    ];
    for (error, expected) in cases {
        let policy = policy();
        let mut exchange = ready(&policy);
        let action = exchange.handle(Event::FramingFailed(error));
        match expected {
            Some(refusal) => {
                let (refused, request_id) = refused_of(action);
                assert_eq!(refused.code, refusal.code() as i32);
                assert_eq!(request_id, 0, "FRM-11: nothing decoded, nothing echoed");
                assert_eq!(exchange.handle(Event::Replied), Action::Close);
                assert_eq!(refused_events(&effects(&mut exchange)), [refusal]);
            }
            None => {
                assert_eq!(action, Action::Close);
                assert!(effects(&mut exchange).is_empty());
            }
        }
    }
}

#[test]
fn frm5_refusal_is_logged_under_its_own_clause() {
    assert_eq!(Refusal::OversizeLength.clause(), "FRM-5");
    assert_eq!(
        Refusal::OversizeLength.code(),
        Refusal::HelloTooLarge.code(),
        "same code as FRM-3"
    );
}

#[test]
fn frm9_a_silent_client_is_closed_without_a_reply() {
    let policy = policy();
    let mut exchange = ready(&policy);
    assert_eq!(exchange.handle(Event::DeadlineExpired), Action::Close);
    assert!(effects(&mut exchange).is_empty());
}

#[test]
fn env3_admin_goes_first_whatever_its_size_and_the_fd_pressure() {
    let policy = policy();
    let mut exchange = ready(&policy);
    let request = AdminRequest {
        verb: AdminVerb::Status as i32,
        ..AdminRequest::default()
    };
    let mut frame = admin_request(&request, 9);
    frame.payload_encoding = PayloadEncoding::None as i32;
    let event = Event::Frame {
        frame,
        body_len: MAX_HELLO_BYTES as usize * 4,
        read_past_frame: false,
        fd_pressure: true,
    };
    let Action::Admin(asked, ctx) = exchange.handle(event) else {
        panic!("admin path");
    };
    assert_eq!(asked, &request);
    assert_eq!(ctx.request_id, 9, "ADM-1 echoes request_id");
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    assert!(effects(&mut exchange).is_empty());
}

#[test]
fn adm9_a_malformed_admin_frame_gets_no_reply() {
    let policy = policy();
    let request = AdminRequest::default();
    let mut bad_kind = admin_request(&request, 1);
    bad_kind.kind = FrameKind::Event as i32;
    let mut bad_payload = admin_request(&request, 1);
    bad_payload.payload = vec![0xff, 0xff, 0xff].into();
    for frame in [bad_kind, bad_payload] {
        let mut exchange = ready(&policy);
        assert_eq!(exchange.handle(frame_event(frame)), Action::Close);
        assert!(effects(&mut exchange).is_empty());
    }
}

#[test]
fn env3_an_oversize_hello_is_refused_before_fd_pressure_and_pressure_before_hello_checks() {
    let policy = policy();
    let mut exchange = ready(&policy);
    let event = Event::Frame {
        frame: hello_frame(&valid_hello()),
        body_len: MAX_HELLO_BYTES as usize + 1,
        read_past_frame: false,
        fd_pressure: true,
    };
    let (refused, _) = refused_of(exchange.handle(event));
    assert_eq!(refused.code, ErrorCode::ErrorPeerRejected as i32, "FRM-3");
    // Exactly 64 KiB is legal (FRM-3).
    let mut exchange = ready(&policy);
    let event = Event::Frame {
        frame: hello_frame(&valid_hello()),
        body_len: MAX_HELLO_BYTES as usize,
        read_past_frame: false,
        fd_pressure: false,
    };
    assert_eq!(exchange.handle(event), Action::LoadDefinition("svc"));
    // Under pressure even an invalid Hello gets FD_PRESSURE (ENV-3 before HEL).
    let mut exchange = ready(&policy);
    let mut invalid = valid_hello();
    invalid.service_name = "Bad".into();
    let (refused, _) =
        refused_of(exchange.handle(frame_event_with(hello_frame(&invalid), false, true)));
    assert_eq!(refused.code, ErrorCode::ErrorFdPressure as i32);
    assert_eq!(refused.retry_after_ms, 1000);
}

#[test]
fn hel1_to_hel10_each_failure_is_refused_in_order_before_any_lookup() {
    type Edit = Box<dyn FnOnce(&mut Frame)>;
    let rows: Vec<(Edit, Refusal)> = vec![
        (
            Box::new(|f| f.envelope_version = 2),
            Refusal::EnvelopeVersion,
        ),
        (Box::new(|f| f.kind = 99), Refusal::FrameKindNotRequest),
        (
            Box::new(|f| f.payload_protocol = 0x7A63),
            Refusal::PayloadProtocolNotControl,
        ),
        (
            Box::new(|f| f.payload_encoding = 1),
            Refusal::PayloadCompressed,
        ),
        (
            Box::new(|f| f.payload = vec![0xff; 3].into()),
            Refusal::MalformedHello,
        ),
        // HEL-1 wins over HEL-2 (first failure wins).
        (
            Box::new(|f| {
                f.envelope_version = 0;
                f.kind = 99;
            }),
            Refusal::EnvelopeVersion,
        ),
    ];
    for (edit, expected) in rows {
        assert_eq!(refusal_for_frame(edit), expected);
    }
    type HelloEdit = Box<dyn FnOnce(&mut Hello)>;
    let rows: Vec<(HelloEdit, Refusal)> = vec![
        (
            Box::new(|h| h.client_min_protocol = 2),
            Refusal::ProtocolRange,
        ),
        (
            Box::new(|h| h.service_name = "Foo".into()),
            Refusal::InvalidServiceName,
        ),
        (
            Box::new(|h| h.wanted_version = "v1.0.0".into()),
            Refusal::InvalidWantedVersion,
        ),
        (
            Box::new(|h| h.client_version = "x".repeat(129)),
            Refusal::ClientVersionTooLong,
        ),
        (
            Box::new(|h| h.client_lib_name = "x".repeat(65)),
            Refusal::ClientLibTooLong,
        ),
        // HEL-6 before HEL-7, HEL-7 before HEL-8.
        (
            Box::new(|h| {
                h.client_max_protocol = 0;
                h.service_name = "Foo".into();
            }),
            Refusal::ProtocolRange,
        ),
        (
            Box::new(|h| {
                h.service_name = "Foo".into();
                h.wanted_version = "1.0".into();
            }),
            Refusal::InvalidServiceName,
        ),
    ];
    for (edit, expected) in rows {
        assert_eq!(refusal_for_hello(edit), expected);
    }
}

#[test]
fn hel7_an_invalid_name_is_refused_as_hel7_not_as_an_unknown_service() {
    // The definition is never asked for, so a missing one cannot win.
    let refusal = refusal_for_hello(|h| h.service_name = "no/such".into());
    assert_eq!(refusal, Refusal::InvalidServiceName);
    assert_eq!(refusal.clause(), "HEL-7");
}

#[test]
fn hel11_a_claimed_pid_that_differs_is_a_security_violation() {
    let policy = policy();
    let mut exchange = ready(&policy);
    let mut hello = valid_hello();
    hello.peer_pid = PEER_PID + 1;
    let (refused, request_id) = refused_of(exchange.handle(frame_event(hello_frame(&hello))));
    assert_eq!(refused.code, ErrorCode::ErrorPeerRejected as i32);
    assert_eq!(
        request_id, 77,
        "FRM-11: a decoded frame's request_id is echoed"
    );
    let effects = effects(&mut exchange);
    assert!(
        effects.contains(&Effect::Event(BrokerEvent::HelloViolation {
            refusal: Refusal::PeerPidMismatch,
            peer_pid: PEER_PID,
        }))
    );
    // peer_pid 0 means "not claimed".
    assert_eq!(
        refusal_for_hello(|h| {
            h.peer_pid = 0;
            h.service_name = "Bad".into();
        }),
        Refusal::InvalidServiceName
    );
}

#[test]
fn hel12_a_wrong_token_reveals_nothing_about_which_services_exist() {
    let policy = HelloPolicy {
        euid: EUID,
        auth: AuthTokens::new(["s3cret"]),
        door: Door::Launching,
    };
    let mut replies = Vec::new();
    for service in ["svc", "no-such-service"] {
        let mut exchange = ready(&policy);
        let mut hello = valid_hello();
        hello.service_name = service.into();
        hello.auth_token = b"wrong".to_vec().into();
        let action = exchange.handle(frame_event(hello_frame(&hello)));
        // Refused before the definition is looked up: no LoadDefinition.
        let (refused, _) = refused_of(action);
        replies.push((refused.code, refused.reason.clone(), refused.retry_after_ms));
        let effects = effects(&mut exchange);
        assert!(
            effects.contains(&Effect::Event(BrokerEvent::HelloViolation {
                refusal: Refusal::AuthenticationFailed,
                peer_pid: PEER_PID,
            }))
        );
    }
    assert_eq!(
        replies[0], replies[1],
        "one generic answer for every service"
    );
    let mut exchange = ready(&policy);
    let mut hello = valid_hello();
    hello.auth_token = b"s3cret".to_vec().into();
    assert_eq!(
        exchange.handle(frame_event(hello_frame(&hello))),
        Action::LoadDefinition("svc")
    );
}

#[test]
fn hel13_and_hel14_load_errors_map_to_service_unknown_with_their_reasons() {
    let policy = policy();
    let mut exchange = admitted(&policy);
    let not_found = not_found();
    let (refused, _) = refused_of(exchange.handle(not_found));
    assert_eq!(refused.code, ErrorCode::ErrorServiceUnknown as i32);
    assert_eq!(refused.reason, "service definition was not found");
    assert_eq!(refused.retry_after_ms, 0, "REF-2: permanent");
    let mut exchange = admitted(&policy);
    let unloadable = Event::Definition {
        loaded: Err(LoadError::Unloadable {
            path: "/defs/svc.servicedef".into(),
            detail: "/defs/svc.servicedef: decode error".into(),
        }),
        draining: false,
    };
    let (refused, _) = refused_of(exchange.handle(unloadable));
    assert_eq!(refused.code, ErrorCode::ErrorServiceUnknown as i32);
    assert_eq!(
        refused.reason,
        "service definition could not be loaded: /defs/svc.servicedef: decode error"
    );
    let refusals = refused_events(&effects(&mut exchange));
    assert_eq!(refusals[0].clause(), "HEL-14");
}

#[test]
fn hel15_hel16_version_policy_floor_first_then_allow_list() {
    let policy = policy();
    let cases = [
        ("2.0.0", vec![], Some(Refusal::BelowMinVersion)),
        (
            "2.0.0",
            vec!["1.2.3".to_owned()],
            Some(Refusal::BelowMinVersion),
        ),
        ("", vec!["1.2.4".to_owned()], Some(Refusal::NotInAllowList)),
        ("", vec!["1.2.3".to_owned()], None),
        ("1.2.3-rc.1", vec![], None),
    ];
    for (min_version, allow, expected) in cases {
        let mut exchange = admitted(&policy);
        let def = ServiceDefinition {
            min_version: min_version.into(),
            version_allow_list: allow,
            ..definition()
        };
        let action = exchange.handle(loaded(def, DefinitionChange::Unchanged));
        match expected {
            Some(refusal) => {
                let (refused, _) = refused_of(action);
                assert_eq!(refused.code, ErrorCode::ErrorVersionBlocked as i32);
                assert_eq!(refused.reason, refusal.reason());
                assert_eq!(refused.retry_after_ms, 30_000);
            }
            None => assert!(matches!(action, Action::ResolveBinary(_)), "{min_version}"),
        }
    }
}

#[test]
fn hel20_a_draining_broker_refuses_after_the_version_policy_and_launches_nothing() {
    let policy = policy();
    let mut exchange = admitted(&policy);
    let draining = |definition| Event::Definition {
        loaded: Ok(LoadedDefinition {
            definition,
            generation: Generation::V1,
            path: "/defs/svc.servicedef".into(),
            http_server: None,
            change: DefinitionChange::Unchanged,
        }),
        draining: true,
    };
    let (refused, _) = refused_of(exchange.handle(draining(definition())));
    assert_eq!(refused.code, ErrorCode::ErrorShuttingDown as i32);
    assert_ne!(refused.retry_after_ms, 0, "REF-2: retryable");
    // HEL-16 comes before HEL-20.
    let mut exchange = admitted(&policy);
    let blocked = ServiceDefinition {
        version_allow_list: vec!["9.9.9".into()],
        ..definition()
    };
    let (refused, _) = refused_of(exchange.handle(draining(blocked)));
    assert_eq!(refused.code, ErrorCode::ErrorVersionBlocked as i32);
}

#[test]
fn a_first_load_and_a_change_are_logged_an_unchanged_definition_is_not() {
    let policy = policy();
    for (change, expected) in [
        (DefinitionChange::FirstLoad, Some(false)),
        (DefinitionChange::Changed, Some(true)),
        (DefinitionChange::Unchanged, None),
    ] {
        let mut exchange = admitted(&policy);
        exchange.handle(loaded(definition(), change));
        let logged: Vec<bool> = effects(&mut exchange)
            .into_iter()
            .filter_map(|e| match e {
                Effect::Event(BrokerEvent::DefinitionLoaded { changed, .. }) => Some(changed),
                _ => None,
            })
            .collect();
        assert_eq!(logged, expected.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn the_plan_names_the_backend_key_the_handoff_opt_in_and_the_trace() {
    let policy = policy();
    let mut exchange = admitted(&policy);
    let def = ServiceDefinition {
        labels: BTreeMap::from([(HANDOFF_LABEL_KEY.to_owned(), HANDOFF_LABEL_VALUE.to_owned())]),
        ..definition()
    };
    exchange.handle(loaded(def, DefinitionChange::Unchanged));
    let Action::AcquireBackend(plan) = exchange.handle(binary()) else {
        panic!("acquire");
    };
    assert_eq!(
        plan.key,
        BackendKey {
            instance: "private:svc".into(),
            service: "svc".into(),
            version: "1.2.3".into(),
            exe_hash: [7; 32],
        }
    );
    assert!(plan.handoff, "LCH-6 label");
    assert_eq!(plan.trace.traceparent, "00-trace-01");
    let mut exchange = admitted(&policy);
    exchange.handle(loaded(definition(), DefinitionChange::Unchanged));
    let Action::AcquireBackend(plan) = exchange.handle(binary()) else {
        panic!("acquire");
    };
    assert!(!plan.handoff, "no label, no handoff socket");
}

#[test]
fn hel19_a_binary_or_launch_failure_names_the_clause_that_failed() {
    let policy = policy();
    let mut exchange = admitted(&policy);
    exchange.handle(loaded(definition(), DefinitionChange::Unchanged));
    let failed = Event::Binary(Err(LaunchError::Containment(ContainmentError::DirNotSet)));
    let (refused, _) = refused_of(exchange.handle(failed));
    assert_eq!(refused.code, ErrorCode::ErrorBackendSpawnFailed as i32);
    assert!(refused.reason.starts_with("backend spawn failed: "));
    assert!(refused.reason.contains("LCH-1"), "{}", refused.reason);
    assert_eq!(refused.retry_after_ms, 1000);
    let mut exchange = planned(&policy);
    let mismatch = LaunchError::IdentityMismatch {
        field: "pid",
        claimed: "1".into(),
        expected: "2".into(),
    };
    let failed = Event::Backend {
        connection_id: 3,
        acquired: Err(AcquireError::Failed(Arc::new(mismatch))),
    };
    let (refused, _) = refused_of(exchange.handle(failed));
    assert!(refused.reason.contains("PRB-3"), "{}", refused.reason);
}

#[test]
fn hel18_an_exhausted_budget_reports_the_wait_rounded_up_and_at_least_one_ms() {
    let policy = policy();
    for (retry_after, expected_ms) in [
        (Duration::from_micros(1_500), 2),
        (Duration::ZERO, 1),
        (Duration::from_secs(29), 29_000),
    ] {
        let mut exchange = planned(&policy);
        let exhausted = Event::Backend {
            connection_id: 3,
            acquired: Err(AcquireError::Exhausted { retry_after }),
        };
        let (refused, _) = refused_of(exchange.handle(exhausted));
        assert_eq!(refused.code, ErrorCode::ErrorRateLimited as i32);
        assert_eq!(refused.retry_after_ms, expected_ms);
    }
}

#[test]
fn hel21_negotiated_fields_and_the_accept_logged_after_the_reply() {
    let policy = policy();
    let mut exchange = planned(&policy);
    let _ = effects(&mut exchange);
    let negotiated = negotiated_of(exchange.handle(acquired(backend(None))));
    assert_eq!(negotiated.negotiated_protocol, 1, "NEG-1");
    assert_eq!(negotiated.backend_pipe, "/run/b/svc.sock", "NEG-2");
    assert_eq!(negotiated.daemon_version, "1.2.3", "NEG-3");
    assert_eq!(negotiated.keepalive_interval_secs, 1800, "NEG-4");
    assert_eq!(negotiated.connection_id, 5, "NEG-5");
    assert!(negotiated.warnings.is_empty(), "NEG-6");
    assert!(negotiated.handle_passed_token.is_empty(), "NEG-7");
    assert!(
        effects(&mut exchange).is_empty(),
        "nothing logged before the reply"
    );
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    assert_eq!(
        effects(&mut exchange),
        [
            Effect::Outcome {
                service: "svc".into(),
                version: "1.2.3".into(),
                outcome: "negotiated",
            },
            Effect::Event(BrokerEvent::HelloAccepted {
                service: "svc".into(),
                version: "1.2.3".into(),
                backend_pipe: "/run/b/svc.sock".into(),
                pid: 31337,
                connection_id: 5,
            }),
        ]
    );
}

fn capable_hello_through_plan(policy: &HelloPolicy, read_past_frame: bool) -> HelloExchange<'_> {
    let mut exchange = ready(policy);
    let mut hello = valid_hello();
    hello.client_capabilities = CAP_HANDLE_PASSING | 0b1000;
    exchange.handle(frame_event_with(
        hello_frame(&hello),
        read_past_frame,
        false,
    ));
    exchange.handle(loaded(definition(), DefinitionChange::Unchanged));
    exchange.handle(binary());
    exchange
}

#[test]
fn neg8_a_token_only_when_a_handoff_will_really_be_attempted() {
    let policy = policy();
    // Capable client, handoff backend, nothing past the Hello: a token.
    let mut exchange = capable_hello_through_plan(&policy, false);
    assert_eq!(
        exchange.handle(acquired(backend(Some("/run/b/svc.handoff")))),
        Action::IssueToken
    );
    let token = [9u8; HANDOFF_TOKEN_LEN];
    let negotiated = negotiated_of(exchange.handle(Event::Token(Some(token))));
    assert_eq!(negotiated.handle_passed_token.as_ref(), token, "NEG-7");
    assert_eq!(negotiated.server_capabilities & CAP_HANDLE_PASSING, 1);
    let Action::HandOff(handoff) = exchange.handle(Event::Replied) else {
        panic!("the handoff follows the reply");
    };
    assert_eq!(
        handoff,
        &Handoff {
            pipe: "/run/b/svc.handoff".into(),
            token,
            service: "svc".into(),
            connection_id: 5,
        }
    );
    assert!(
        effects(&mut exchange).is_empty(),
        "accepted is logged after the handoff"
    );
    assert_eq!(exchange.handle(Event::HandedOff), Action::Close);
    assert_eq!(effects(&mut exchange).len(), 2);

    // No token without the client's bit, without a handoff socket, or when
    // the client sent bytes past its Hello; none when none could be made.
    let mut without_bit = planned(&policy);
    let n = negotiated_of(without_bit.handle(acquired(backend(Some("/run/b/h")))));
    assert!(n.handle_passed_token.is_empty() && n.server_capabilities == 0);
    let mut without_socket = capable_hello_through_plan(&policy, false);
    let n = negotiated_of(without_socket.handle(acquired(backend(None))));
    assert!(n.handle_passed_token.is_empty() && n.server_capabilities == 0);
    let mut read_past = capable_hello_through_plan(&policy, true);
    let n = negotiated_of(read_past.handle(acquired(backend(Some("/run/b/h")))));
    assert!(n.handle_passed_token.is_empty() && n.server_capabilities == 0);
    let mut no_token = capable_hello_through_plan(&policy, false);
    assert!(matches!(
        no_token.handle(acquired(backend(Some("/run/b/h")))),
        Action::IssueToken
    ));
    let n = negotiated_of(no_token.handle(Event::Token(None)));
    assert!(n.handle_passed_token.is_empty() && n.server_capabilities == 0);
    assert_eq!(no_token.handle(Event::Replied), Action::Close, "no handoff");
}

#[test]
fn refusals_are_logged_and_counted_after_the_reply_under_valid_names_only() {
    let policy = policy();
    let mut exchange = admitted(&policy);
    let not_found = not_found();
    exchange.handle(not_found);
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    assert_eq!(
        effects(&mut exchange),
        [
            Effect::Event(BrokerEvent::HelloRefused {
                service: "svc".into(),
                refusal: Refusal::ServiceUnknown,
            }),
            Effect::Outcome {
                service: "svc".into(),
                version: "1.2.3".into(),
                outcome: "service_unknown",
            },
        ]
    );
    // Refused before the names were valid: counted without them.
    let mut exchange = ready(&policy);
    exchange.handle(Event::FramingFailed(FramingError::BadFramingByte {
        found: 9,
    }));
    let effects = effects(&mut exchange);
    assert!(effects.contains(&Effect::Outcome {
        service: String::new(),
        version: String::new(),
        outcome: "version_unsupported",
    }));
}

#[test]
fn every_outcome_label_is_the_code_name_without_its_prefix() {
    for value in 0..=9 {
        let Ok(code) = ErrorCode::try_from(value) else {
            continue;
        };
        let expected = code
            .as_str_name()
            .trim_start_matches("ERROR_CODE_")
            .trim_start_matches("ERROR_")
            .to_ascii_lowercase();
        assert_eq!(outcome_label(code), expected);
    }
}

#[test]
fn at_most_one_reply_and_unexpected_events_end_the_exchange() {
    let policy = policy();
    // After the reply, nothing can produce a second one.
    let mut exchange = ready(&policy);
    exchange.handle(Event::FramingFailed(FramingError::BadFramingByte {
        found: 0,
    }));
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    assert_eq!(
        exchange.handle(frame_event(hello_frame(&valid_hello()))),
        Action::Close
    );
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    // An event out of turn closes instead of panicking.
    let mut exchange = HelloExchange::new(&policy);
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    let mut exchange = admitted(&policy);
    assert_eq!(exchange.handle(binary()), Action::Close);
}

#[test]
fn v2r2_control_rpcs_route_after_admin_and_the_cap_before_fd_pressure_and_hello() {
    use crate::broker::control_rpc::ControlRequest;
    use crate::wire::frames::{http_endpoint_request, http_ready_request};
    let policy = policy();
    // FRM-3's cap comes first: an oversize control frame is refused as a Hello.
    let mut exchange = ready(&policy);
    let event = Event::Frame {
        frame: http_ready_request(8080, 3),
        body_len: MAX_HELLO_BYTES as usize + 1,
        read_past_frame: false,
        fd_pressure: false,
    };
    let (refused, _) = refused_of(exchange.handle(event));
    assert_eq!(refused.code, ErrorCode::ErrorPeerRejected as i32, "FRM-3");
    // Then the control path, even under fd pressure, with the kernel pid.
    for (frame, request) in [
        (http_endpoint_request(1), ControlRequest::GetEndpoint),
        (
            http_ready_request(8080, 7),
            ControlRequest::Ready { port: 8080 },
        ),
    ] {
        let mut exchange = ready(&policy);
        let Action::ControlRpc(rpc) = exchange.handle(frame_event_with(frame, false, true)) else {
            panic!("control-RPC path");
        };
        assert_eq!((&rpc.request, rpc.peer_pid), (&request, PEER_PID));
        assert_eq!(exchange.handle(Event::Replied), Action::Close);
        assert!(
            effects(&mut exchange).is_empty(),
            "no Hello outcome is counted"
        );
    }
}

#[test]
fn v2r6_a_bad_control_frame_closes_without_a_reply_or_an_effect() {
    use crate::wire::frames::http_ready_request;
    let policy = policy();
    let mut wrong_kind = http_ready_request(8080, 1);
    wrong_kind.kind = FrameKind::Event as i32;
    for frame in [
        http_ready_request(0, 1),
        http_ready_request(70_000, 1),
        wrong_kind,
    ] {
        let mut exchange = ready(&policy);
        assert_eq!(exchange.handle(frame_event(frame)), Action::Close);
        assert!(effects(&mut exchange).is_empty());
    }
}

#[test]
fn v2r7_the_plan_says_whether_the_definition_declares_http_server() {
    let policy = policy();
    for (http_server, expected) in [(None, false), (Some(Default::default()), true)] {
        let mut exchange = admitted(&policy);
        let event = Event::Definition {
            loaded: Ok(LoadedDefinition {
                definition: definition(),
                generation: Generation::V2,
                path: "/defs/svc.servicedef.v2".into(),
                http_server,
                change: DefinitionChange::Unchanged,
            }),
            draining: false,
        };
        exchange.handle(event);
        let Action::AcquireBackend(plan) = exchange.handle(binary()) else {
            panic!("acquire");
        };
        assert_eq!(plan.http_server, expected);
    }
}

mod front_door;
