//! `hello_frame` and `admin_request`: a connection's first frame body
//! through the Hello checks (HEL-1…HEL-11) or the admin path (ADM-1…ADM-9),
//! and the reply each one sends.

use std::borrow::Cow;

use bytes::Bytes;

use super::{assert_reply_envelope, over_the_wire};
use crate::proto::v1::{ErrorCode, Frame, Hello, HelloReply, hello_reply};
use crate::stress::invariants::check_refused;
use crate::wire::frames::{hello_request, negotiated, negotiated_reply, refused_reply};
use crate::wire::framing::decode_frame_body;
use crate::wire::{
    PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CONTROL, Refusal, ReplyContext, decode_payload,
    validate_hello,
};

/// The kernel-verified peer pid the Hello checks run with (and 0: a
/// platform that reports none).
const KERNEL_PEER_PID: u32 = 4242;

/// A first frame's body through `Frame` decoding and `validate_hello`.
/// Invariants: never panics; a refusal's reply frame re-decodes and obeys
/// ENV-4, REF-1 and REF-2, also for the refusals carrying peer-controlled
/// text or numbers (HEL-14, HEL-18, HEL-19); an accepted Hello re-encoded
/// by this crate is accepted again, unchanged, and its Negotiated reply
/// obeys ENV-4.
pub fn hello_frame(data: &[u8]) {
    let frame = match decode_frame_body(Bytes::copy_from_slice(data)) {
        Ok(frame) => frame,
        Err(_) => {
            return assert_refusal_reply(&ReplyContext::undecoded(), &Refusal::MalformedFrame);
        }
    };
    if frame.payload_protocol == PAYLOAD_PROTOCOL_ADMIN {
        return; // ENV-3: the admin path, fuzzed by `admin_request`.
    }
    let ctx = ReplyContext::echo(&frame);
    for kernel_peer_pid in [0, KERNEL_PEER_PID] {
        match validate_hello(&frame, kernel_peer_pid) {
            Ok(hello) => assert_accepted_again(&frame, &hello, kernel_peer_pid, &ctx),
            Err(refusal) => assert_refusal_reply(&ctx, &refusal),
        }
    }
    let detail = String::from_utf8_lossy(data).into_owned();
    let retry_after_ms = data
        .iter()
        .fold(0u64, |n, b| n.rotate_left(8) ^ u64::from(*b));
    for refusal in [
        Refusal::ServiceDefinitionUnloadable {
            detail: detail.clone(),
        },
        Refusal::SpawnBudgetExhausted { retry_after_ms },
        Refusal::SpawnFailed { detail },
    ] {
        assert_refusal_reply(&ctx, &refusal);
    }
}

fn assert_accepted_again(frame: &Frame, hello: &Hello, kernel_peer_pid: u32, ctx: &ReplyContext) {
    let again = over_the_wire(&hello_request(hello, frame.request_id));
    assert_eq!(
        validate_hello(&again, kernel_peer_pid).as_ref(),
        Ok(hello),
        "an accepted Hello, re-encoded, is accepted unchanged"
    );
    let reply = over_the_wire(&negotiated_reply(ctx, negotiated(hello, "/b", 7, None)));
    assert_reply_envelope(&reply, PAYLOAD_PROTOCOL_CONTROL, ctx);
}

/// The refusal's reply frame re-decodes and obeys ENV-4, REF-1 and REF-2.
fn assert_refusal_reply(ctx: &ReplyContext, refusal: &Refusal) {
    let reply = over_the_wire(&refused_reply(ctx, refusal));
    assert_reply_envelope(&reply, PAYLOAD_PROTOCOL_CONTROL, ctx);
    let decoded: HelloReply = decode_payload(&reply)
        .unwrap_or_else(|e| panic!("{refusal:?}: payload is not a HelloReply (ENV-4): {e}"));
    let Some(hello_reply::Result::Refused(refused)) = decoded.result else {
        panic!("{refusal:?}: the reply is not a Refused");
    };
    if let Err(v) = check_refused(&refused) {
        panic!("{refusal:?}: {v}");
    }
    let code = ErrorCode::try_from(refused.code)
        .unwrap_or_else(|_| panic!("{refusal:?}: unknown code {}", refused.code));
    assert_eq!(code, refusal.code(), "{refusal:?}: code");
    assert_eq!(
        Cow::Owned::<str>(refused.reason),
        refusal.reason(),
        "{refusal:?}: reason"
    );
    assert!(refused.details.is_empty(), "{refusal:?}: REF-3");
}

#[cfg(unix)]
pub use admin::admin_request;

#[cfg(unix)]
mod admin {
    use std::sync::OnceLock;
    use std::time::Duration;

    use bytes::Bytes;

    use super::super::{assert_reply_envelope, over_the_wire};
    use crate::broker::admin::{
        AdminResponse, AdminSnapshot, BackendView, BudgetView, EventLogView, diagnose_reply,
        respond,
    };
    use crate::events::{EventKind, LifecycleEvent, new_event};
    use crate::proto::v1::{AdminReply, AdminReplyKind, AdminRequest, AdminVerb, FrameKind};
    use crate::wire::frames::admin_reply;
    use crate::wire::framing::decode_frame_body;
    use crate::wire::{
        CONTENT_TYPE_JSON, PAYLOAD_PROTOCOL_ADMIN, ReplyContext, check_envelope, decode_payload,
    };

    /// A first frame's body through the admin envelope check, the
    /// `AdminRequest` decode and `broker::admin::respond` over a fixed
    /// snapshot. Invariants: never panics; a malformed frame gets no reply
    /// (ADM-9); every reply re-decodes with its envelope (ADM-1); JSON
    /// bodies parse with `schema_version` 1 (ADM-5); exactly UNSPECIFIED
    /// and unknown verbs get `unsupported admin verb`, exit 2 (ADM-8).
    pub fn admin_request(data: &[u8]) {
        let Ok(frame) = decode_frame_body(Bytes::copy_from_slice(data)) else {
            return;
        };
        if check_envelope(&frame, FrameKind::Request, PAYLOAD_PROTOCOL_ADMIN).is_err() {
            return; // ADM-9: no reply.
        }
        let Ok(request) = decode_payload::<AdminRequest>(&frame) else {
            return; // ADM-9: no reply.
        };
        let snapshot = snapshot();
        let reply = match respond(&request, snapshot) {
            AdminResponse::Reply(reply) => reply,
            AdminResponse::Shutdown {
                reply,
                drain_deadline,
            } => {
                assert_eq!(
                    request.verb,
                    AdminVerb::Shutdown as i32,
                    "only SHUTDOWN drains"
                );
                assert!(
                    drain_deadline > Duration::ZERO,
                    "a zero drain deadline (ADM-7)"
                );
                reply
            }
            AdminResponse::Diagnose {
                output_path,
                bundle,
            } => {
                assert_eq!(
                    request.verb,
                    AdminVerb::Diagnose as i32,
                    "only DIAGNOSE bundles"
                );
                assert_json_body(&bundle);
                diagnose_reply(snapshot, output_path.as_deref(), Ok(()))
            }
        };
        let known = AdminVerb::try_from(request.verb).is_ok_and(|v| v != AdminVerb::Unspecified);
        let unsupported = (reply.body.as_str(), reply.exit_code) == ("unsupported admin verb\n", 2);
        assert_eq!(known, !unsupported, "verb {}: ADM-8", request.verb);
        assert_eq!(
            known,
            reply.exit_code != 2,
            "verb {}: exit 2 only for ADM-8",
            request.verb
        );
        if reply.kind == AdminReplyKind::Json as i32 {
            assert_eq!(reply.content_type, CONTENT_TYPE_JSON);
            assert_json_body(&reply.body);
        }
        let ctx = ReplyContext::echo(&frame);
        let wire = over_the_wire(&admin_reply(&ctx, &reply));
        assert_reply_envelope(&wire, PAYLOAD_PROTOCOL_ADMIN, &ctx);
        let decoded: AdminReply =
            decode_payload(&wire).unwrap_or_else(|e| panic!("reply payload (ADM-1): {e}"));
        assert_eq!(decoded, reply, "the reply re-decodes unchanged");
    }

    /// ADM-5: a JSON object with `schema_version` 1 and a `command`.
    fn assert_json_body(body: &str) {
        let value: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body (ADM-5): {e}"));
        assert_eq!(value["schema_version"], 1, "ADM-5 schema_version");
        assert!(value["command"].is_string(), "ADM-5 command");
    }

    /// A broker with one live and one launching backend, a spent budget and
    /// a few events: every admin body has something in it.
    fn snapshot() -> &'static AdminSnapshot {
        static SNAPSHOT: OnceLock<AdminSnapshot> = OnceLock::new();
        SNAPSHOT.get_or_init(|| {
            let backend = |service: &str, state, pid| BackendView {
                instance: "shared".into(),
                service: service.into(),
                version: "1.11.20".into(),
                exe_hash: [0x5a; 32],
                state,
                pid,
                backend_pipe: pid.map(|p| format!("/run/b-{p}.sock")),
                handoff_pipe: None,
                started_at_unix_ms: pid.map(|_| 1_700_000_000_000),
                alive: pid.is_some(),
            };
            AdminSnapshot {
                generated_at_unix_ms: 1_700_000_000_123,
                broker_instance: "shared".into(),
                broker_pid: 100,
                socket: "/run/broker.sock".into(),
                uptime: Duration::from_millis(12_345),
                connections_open: 2,
                connections_total: 9,
                fd_open: 40,
                fd_limit: 1024,
                backends: vec![
                    backend("zccache", "live", Some(200)),
                    backend("clud", "launching", None),
                ],
                budgets: vec![BudgetView {
                    instance: "shared".into(),
                    service: "clud".into(),
                    version: "0.1.0".into(),
                    remaining: 0,
                    retry_after_ms: Some(2_500),
                }],
                event_log: EventLogView {
                    path: Some("/var/log/broker.events".into()),
                    records: 2,
                    head: Some([0xab; 32]),
                },
                recent_events: vec![
                    event(EventKind::Spawn, "zccache", "spawned"),
                    event(EventKind::HelloRefused, "nope", "service unknown"),
                ],
                config: serde_json::json!({ "service_def_dir": "/etc/defs", "auth_tokens": 0 }),
                metrics: "# TYPE broker_hello_total counter\nbroker_hello_total 3\n# EOF\n".into(),
                ..AdminSnapshot::default()
            }
        })
    }

    /// An event with a fixed time and pid, so every run sees the same bodies.
    fn event(kind: EventKind, service: &str, reason: &str) -> LifecycleEvent {
        LifecycleEvent {
            ts_ms: 1_700_000_000_000,
            pid: 200,
            ..new_event(kind, service, reason)
        }
    }
}
