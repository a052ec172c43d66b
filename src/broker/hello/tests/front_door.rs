//! The same machine in front-door mode (v2 spec §3-§5): every V2F, V2H and
//! V2G row the machine decides, and the v1 rows it keeps.

use super::*;
use crate::proto::v2::HttpServerCapability;
use crate::wire::{
    PAYLOAD_PROTOCOL_HTTP_ENDPOINT, PAYLOAD_PROTOCOL_HTTP_READY, PAYLOAD_PROTOCOL_V2_SESSION,
};

type FrameEdit = fn(&mut Frame);
type HelloEdit = fn(&mut Hello);

fn front() -> HelloPolicy {
    HelloPolicy {
        door: Door::Front,
        ..policy()
    }
}

/// The refusal a front door sends for `event` as its first frame, checked
/// against V2H-9 (protocol 1..1, no retry hint) and followed to the close.
fn front_refused(event: Event) -> (Refused, u64) {
    let policy = front();
    let mut exchange = ready(&policy);
    let (refused, request_id) = refused_of(exchange.handle(event));
    assert_eq!(refused.retry_after_ms, 0, "V2H-9");
    assert_eq!(exchange.handle(Event::Replied), Action::Close);
    (refused, request_id)
}

fn front_refused_hello(edit: impl FnOnce(&mut Hello)) -> Refused {
    let mut hello = valid_hello();
    edit(&mut hello);
    front_refused(frame_event(hello_frame(&hello))).0
}

fn code_and_reason(refused: &Refused) -> (ErrorCode, &str) {
    (
        ErrorCode::try_from(refused.code).unwrap_or(ErrorCode::Unspecified),
        refused.reason.as_str(),
    )
}

fn v2_loaded(definition: ServiceDefinition, http_server: bool) -> Event {
    Event::Definition {
        loaded: Ok(LoadedDefinition {
            definition,
            generation: Generation::V2,
            path: "/defs/svc.servicedef.v2".into(),
            http_server: http_server.then(HttpServerCapability::default),
            change: DefinitionChange::FirstLoad,
        }),
        draining: false,
    }
}

/// The refusal after the definition stage, for a Hello wanting `wanted`.
fn front_refused_by_definition(wanted: &str, definition: Event) -> Refused {
    let policy = front();
    let mut exchange = ready(&policy);
    let hello = Hello {
        wanted_version: wanted.into(),
        ..valid_hello()
    };
    assert_eq!(
        exchange.handle(frame_event(hello_frame(&hello))),
        Action::LoadDefinition("svc")
    );
    let (refused, request_id) = refused_of(exchange.handle(definition));
    assert_eq!(request_id, 77, "FRM-11");
    assert_eq!(
        refused.retry_after_ms, 0,
        "V2H-9: 0 for VERSION_BLOCKED too (REF)"
    );
    refused
}

#[test]
fn v2h1_every_non_zero_payload_protocol_fails_hel3_admin_included() {
    for protocol in [
        PAYLOAD_PROTOCOL_ADMIN,
        PAYLOAD_PROTOCOL_V2_SESSION,
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT,
        PAYLOAD_PROTOCOL_HTTP_READY,
        0x7A63,
    ] {
        let mut frame = admin_request(&AdminRequest::default(), 9);
        frame.payload_protocol = protocol;
        let (refused, request_id) = front_refused(frame_event(frame));
        assert_eq!(
            code_and_reason(&refused),
            (
                ErrorCode::ErrorPeerRejected,
                "Hello frame payload_protocol must be control-plane"
            ),
            "protocol {protocol:#x}: V2H-1, V2S-0, V2R-1"
        );
        assert_eq!(request_id, 9);
    }
}

#[test]
fn v2h1_hel1_hel2_hel4_keep_v1_codes_and_texts() {
    let cases: [(FrameEdit, Refusal); 3] = [
        (|f| f.envelope_version = 2, Refusal::EnvelopeVersion),
        (
            |f| f.kind = FrameKind::Response as i32,
            Refusal::FrameKindNotRequest,
        ),
        (
            |f| f.payload_encoding = PayloadEncoding::Zstd as i32,
            Refusal::PayloadCompressed,
        ),
    ];
    for (edit, expected) in cases {
        let mut frame = hello_frame(&valid_hello());
        edit(&mut frame);
        let (refused, _) = front_refused(frame_event(frame));
        assert_eq!(refused, expected.to_refused(), "{expected:?}");
    }
}

#[test]
fn v2f1_an_oversize_first_frame_is_refused_unread_and_v2f3_a_late_one_too() {
    let oversize = FramingError::Oversize {
        declared: u64::from(MAX_HELLO_BYTES) + 1,
        limit: MAX_HELLO_BYTES,
    };
    let (refused, request_id) = front_refused(Event::FramingFailed(oversize));
    assert_eq!(
        code_and_reason(&refused),
        (
            ErrorCode::ErrorPeerRejected,
            "initial Hello frame exceeds 64 KiB"
        )
    );
    assert_eq!(request_id, 0);
    let (refused, request_id) = front_refused(Event::DeadlineExpired);
    assert_eq!(
        code_and_reason(&refused),
        (ErrorCode::ErrorPeerRejected, "incomplete Hello frame"),
        "V2F-3 (REF): the refusal, not v1's silent close"
    );
    assert_eq!(request_id, 0);
}

#[test]
fn v2h2_to_v2h4_and_v2h10_refuse_before_any_file_is_looked_at() {
    let malformed = front_refused(frame_event(Frame {
        payload: vec![0xff].into(),
        ..hello_frame(&valid_hello())
    }))
    .0;
    assert_eq!(
        code_and_reason(&malformed),
        (ErrorCode::ErrorPeerRejected, "malformed Hello payload")
    );
    let empty = front_refused(frame_event(hello_frame(&Hello::default()))).0;
    assert_eq!(
        code_and_reason(&empty),
        (
            ErrorCode::ErrorVersionUnsupported,
            "client protocol range does not include the version this broker speaks"
        ),
        "V2H-3: an empty Hello"
    );
    for name in ["../x", "", "Zc", &"a".repeat(65)] {
        let refused = front_refused_hello(|h| h.service_name = name.into());
        assert_eq!(
            code_and_reason(&refused),
            (ErrorCode::ErrorServiceUnknown, "service name is invalid"),
            "V2H-4 (REF) for {name:?}; V2H-11: refused without a lookup"
        );
    }
    // V2H-10: HEL-8…HEL-11 with v1's codes and texts.
    let v1_rows: [(HelloEdit, Refusal); 4] = [
        (
            |h| h.wanted_version = "garbage".into(),
            Refusal::InvalidWantedVersion,
        ),
        (
            |h| h.client_version = "v".repeat(129),
            Refusal::ClientVersionTooLong,
        ),
        (
            |h| h.client_lib_name = "l".repeat(65),
            Refusal::ClientLibTooLong,
        ),
        (|h| h.peer_pid = PEER_PID + 1, Refusal::PeerPidMismatch),
    ];
    for (edit, expected) in v1_rows {
        assert_eq!(
            front_refused_hello(edit),
            expected.to_refused(),
            "{expected:?}"
        );
    }
}

#[test]
fn v2h5_v2h6_a_missing_or_unloadable_definition_is_service_unknown() {
    let refused = front_refused_by_definition("1.2.3", not_found());
    assert_eq!(
        code_and_reason(&refused),
        (
            ErrorCode::ErrorServiceUnknown,
            "service definition was not found"
        )
    );
    let unloadable = Event::Definition {
        loaded: Err(LoadError::Unloadable {
            path: "/defs/svc.servicedef.v2".into(),
            detail: "/defs/svc.servicedef.v2: boom".into(),
        }),
        draining: false,
    };
    let refused = front_refused_by_definition("1.2.3", unloadable);
    assert_eq!(
        code_and_reason(&refused),
        (
            ErrorCode::ErrorServiceUnknown,
            "service definition could not be loaded: /defs/svc.servicedef.v2: boom"
        )
    );
}

#[test]
fn v2h7_v2h8_versions_block_by_the_numeric_rule_with_quoted_texts() {
    let with = |min: &str, allow: &[&str]| {
        v2_loaded(
            ServiceDefinition {
                min_version: min.into(),
                version_allow_list: allow.iter().map(|v| (*v).to_owned()).collect(),
                ..definition()
            },
            false,
        )
    };
    let refused = front_refused_by_definition("1.2.3", with("2.0.0", &[]));
    assert_eq!(
        code_and_reason(&refused),
        (
            ErrorCode::ErrorVersionBlocked,
            r#"wanted_version "1.2.3" is below min_version "2.0.0""#
        )
    );
    let refused = front_refused_by_definition("1.2.3", with("", &["1.2.4"]));
    assert_eq!(
        code_and_reason(&refused),
        (
            ErrorCode::ErrorVersionBlocked,
            r#"wanted_version "1.2.3" is not in version_allow_list"#
        )
    );
    // V2H-7: numbers, not byte strings: 9.0.0 does not block 10.0.0.
    let policy = front();
    let mut exchange = ready(&policy);
    let hello = Hello {
        wanted_version: "10.0.0".into(),
        ..valid_hello()
    };
    let _ = exchange.handle(frame_event(hello_frame(&hello)));
    assert_eq!(
        exchange.handle(with("9.0.0", &["10.0.0"])),
        Action::LookUpDaemon("svc")
    );
}

/// A front door through its definition, at the daemon lookup.
fn front_looking_up<'p>(
    policy: &'p HelloPolicy,
    hello: &Hello,
    http_server: bool,
) -> HelloExchange<'p> {
    let mut exchange = ready(policy);
    assert_eq!(
        exchange.handle(frame_event(hello_frame(hello))),
        Action::LoadDefinition("svc")
    );
    assert_eq!(
        exchange.handle(v2_loaded(definition(), http_server)),
        Action::LookUpDaemon("svc"),
        "V2G-2: no binary, no launch"
    );
    exchange
}

#[test]
fn v2g1_to_v2g3_the_negotiated_fields_whatever_the_client_advertised() {
    let policy = front();
    let hello = Hello {
        client_capabilities: CAP_HANDLE_PASSING,
        client_keepalive_secs: 99,
        connection_id: 4711,
        ..valid_hello()
    };
    for (pipe, expected) in [
        (Some("/run/d/svc.sock".to_owned()), "/run/d/svc.sock"),
        (None, ""),
    ] {
        let mut exchange = front_looking_up(&policy, &hello, false);
        let action = exchange.handle(Event::Daemon(pipe));
        let Action::Reply(frame) = &action else {
            panic!("expected a reply, got {action:?}");
        };
        assert_eq!(frame.request_id, 77, "FRM-11");
        let negotiated = negotiated_of(action);
        assert_eq!(
            negotiated,
            Negotiated {
                negotiated_protocol: 1,
                daemon_version: env!("CARGO_PKG_VERSION").into(),
                backend_pipe: expected.into(),
                warnings: Vec::new(),
                server_capabilities: 0,
                keepalive_interval_secs: 0,
                handle_passed_token: Default::default(),
                connection_id: 4711,
            },
            "V2G-1, V2G-2 (an empty pipe is still a success), V2G-3 (echo)"
        );
    }
}

#[test]
fn v2w15_only_a_definition_declaring_http_server_is_listed_after_the_reply() {
    let policy = front();
    for http_server in [true, false] {
        let mut exchange = front_looking_up(&policy, &valid_hello(), http_server);
        let _ = effects(&mut exchange);
        assert!(matches!(
            exchange.handle(Event::Daemon(None)),
            Action::Reply(_)
        ));
        assert!(
            effects(&mut exchange).is_empty(),
            "nothing before the reply"
        );
        assert_eq!(exchange.handle(Event::Replied), Action::Close);
        let mut expected = vec![Effect::Outcome {
            service: "svc".into(),
            version: "1.2.3".into(),
            outcome: "negotiated",
        }];
        if http_server {
            expected.push(Effect::Listed("svc".into()));
        }
        assert_eq!(
            effects(&mut exchange),
            expected,
            "http_server={http_server}"
        );
    }
}

#[test]
fn a_launching_broker_keeps_v1_for_the_rows_a_front_door_changes() {
    assert_eq!(
        refusal_for_hello(|h| h.client_max_protocol = 0),
        Refusal::ProtocolRange
    );
    assert_eq!(
        refusal_for_hello(|h| h.service_name = "../x".into()),
        Refusal::InvalidServiceName
    );
    let policy = policy();
    let mut exchange = admitted(&policy);
    let blocked = ServiceDefinition {
        min_version: "2.0.0".into(),
        ..definition()
    };
    let (refused, _) = refused_of(exchange.handle(loaded(blocked, DefinitionChange::Unchanged)));
    assert_eq!(refused, Refusal::BelowMinVersion.to_refused());
    assert_eq!(refused.retry_after_ms, 30_000, "HEL-15");
}
