//! Admin verbs (ADM-1…ADM-10) as a pure function over a snapshot of broker
//! state. Side effects (the drain of SHUTDOWN, the bundle file of DIAGNOSE)
//! are returned as actions for the server to carry out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::snapshot::{AdminSnapshot, BackendView, EventLogView};
use crate::inspect::to_hex;
use crate::proto::v1::{AdminReply, AdminRequest, AdminVerb, EventKind, LifecycleEvent};
use crate::wire::DEFAULT_DRAIN_DEADLINE;
use crate::wire::frames::{admin_json, admin_openmetrics, admin_text};

/// `schema_version` of every JSON admin body (ADM-5).
pub(crate) const ADMIN_SCHEMA_VERSION: u32 = 1;

/// What the server must do for an admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminResponse {
    /// Send this reply.
    Reply(AdminReply),
    /// Send this reply, then drain and exit (ADM-7).
    Shutdown {
        /// The reply to send first.
        reply: AdminReply,
        /// How long in-flight work may take.
        drain_deadline: Duration,
    },
    /// Write `bundle` to `output_path` (when given), then reply with
    /// [`diagnose_reply`] (ADM-5).
    Diagnose {
        /// Where to write the bundle.
        output_path: Option<PathBuf>,
        /// The bundle's JSON.
        bundle: String,
    },
}

/// Answers one admin request (ADM-3…ADM-8).
pub(crate) fn respond(request: &AdminRequest, snapshot: &AdminSnapshot) -> AdminResponse {
    let Ok(verb) = AdminVerb::try_from(request.verb) else {
        return AdminResponse::Reply(unsupported());
    };
    let reply = match verb {
        AdminVerb::Unspecified => unsupported(),
        AdminVerb::Status if request.json => admin_json(status_json(snapshot).to_string(), 0),
        AdminVerb::Status => admin_text(
            format!(
                "broker_instance: {}\naccepting_hello: {}\n",
                snapshot.broker_instance,
                snapshot.accepting_hello()
            ),
            0,
        ),
        AdminVerb::Healthz => admin_text("ok\n", 0),
        AdminVerb::Readyz if snapshot.accepting_hello() => admin_text("ready\n", 0),
        AdminVerb::Readyz => admin_text("not ready\n", 1),
        AdminVerb::Dump => admin_json(dump_json(snapshot).to_string(), 0),
        AdminVerb::ListInstances => admin_json(list_instances_json(snapshot).to_string(), 0),
        AdminVerb::BackendHealth => admin_json(
            backend_health_json(snapshot, &request.service_name).to_string(),
            0,
        ),
        AdminVerb::Config => admin_json(config_json(snapshot).to_string(), 0),
        AdminVerb::Metrics => admin_openmetrics(snapshot.metrics.clone()),
        AdminVerb::Diagnose => {
            let output_path =
                (!request.output_path.is_empty()).then(|| PathBuf::from(&request.output_path));
            return AdminResponse::Diagnose {
                output_path,
                bundle: diagnostic_bundle(snapshot).to_string(),
            };
        }
        AdminVerb::Shutdown => {
            let drain_deadline = match request.drain_deadline_ms {
                0 => DEFAULT_DRAIN_DEADLINE,
                ms => Duration::from_millis(ms),
            };
            return AdminResponse::Shutdown {
                reply: admin_text("broker shutting down\n", 0),
                drain_deadline,
            };
        }
    };
    AdminResponse::Reply(reply)
}

/// ADM-8: UNSPECIFIED or an unknown verb.
fn unsupported() -> AdminReply {
    admin_text("unsupported admin verb\n", 2)
}

fn header(snapshot: &AdminSnapshot, command: &str) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("schema_version".into(), json!(ADMIN_SCHEMA_VERSION));
    map.insert("command".into(), json!(command));
    map.insert(
        "generated_at_unix_ms".into(),
        json!(snapshot.generated_at_unix_ms),
    );
    map
}

fn with_header(snapshot: &AdminSnapshot, command: &str, body: Value) -> Value {
    let mut map = header(snapshot, command);
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    Value::Object(map)
}

fn backend_json(b: &BackendView) -> Value {
    json!({
        "broker_instance": b.instance,
        "service_name": b.service,
        "service_version": b.version,
        "exe_blake3": to_hex(&b.exe_hash),
        "state": b.state,
        "pid": b.pid,
        "alive": b.alive,
        "backend_pipe": b.backend_pipe,
        "handoff_pipe": b.handoff_pipe,
        "started_at_unix_ms": b.started_at_unix_ms,
    })
}

fn event_json(e: &LifecycleEvent) -> Value {
    let extra: serde_json::Map<String, Value> = e
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != "chain_prev")
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "ts_ms": e.ts_ms,
        "kind": EventKind::try_from(e.kind).map_or_else(|_| e.kind.to_string(), |k| k.as_str_name().to_owned()),
        "severity": e.severity_text,
        "service_name": e.service_name,
        "reason": e.reason,
        "pid": e.pid,
        "connection_id": e.connection_id,
        "request_id": e.request_id,
        "extra": extra,
    })
}

fn event_log_json(log: &EventLogView) -> Value {
    json!({
        "path": log.path,
        "records": log.records,
        "head_blake3": log.head.map(|h| to_hex(&h)),
    })
}

fn fd_json(s: &AdminSnapshot) -> Value {
    let ratio = if s.fd_limit == 0 || s.fd_limit == u64::MAX {
        0.0
    } else {
        s.fd_open as f64 / s.fd_limit as f64
    };
    json!({ "open": s.fd_open, "limit": s.fd_limit, "usage_ratio": ratio, "pressure_demoted": s.fd_pressure })
}

fn status_json(s: &AdminSnapshot) -> Value {
    with_header(
        s,
        "status",
        json!({
            "broker_instance": s.broker_instance,
            "broker_pid": s.broker_pid,
            "uptime_seconds": s.uptime.as_secs_f64(),
            "accepting_hello": s.accepting_hello(),
            "draining": s.draining,
            "connections_open": s.connections_open,
            "fd": fd_json(s),
            "backends": s.backends.iter().map(backend_json).collect::<Vec<_>>(),
            "event_log": event_log_json(&s.event_log),
        }),
    )
}

fn dump_json(s: &AdminSnapshot) -> Value {
    with_header(
        s,
        "dump",
        json!({
            "broker_instance": s.broker_instance,
            "broker_pid": s.broker_pid,
            "socket": s.socket,
            "uptime_seconds": s.uptime.as_secs_f64(),
            "accepting_hello": s.accepting_hello(),
            "draining": s.draining,
            "connections_open": s.connections_open,
            "connections_total": s.connections_total,
            "fd": fd_json(s),
            "effective_config": s.config,
            "backend_table": s.backends.iter().map(backend_json).collect::<Vec<_>>(),
            "spawn_budgets": s.budgets.iter().map(|b| json!({
                "broker_instance": b.instance,
                "service_name": b.service,
                "service_version": b.version,
                "remaining": b.remaining,
                "retry_after_ms": b.retry_after_ms,
            })).collect::<Vec<_>>(),
            "event_log": event_log_json(&s.event_log),
            "recent_lifecycle_events": s.recent_events.iter().map(event_json).collect::<Vec<_>>(),
        }),
    )
}

fn list_instances_json(s: &AdminSnapshot) -> Value {
    let mut instances: std::collections::BTreeMap<&str, Vec<&BackendView>> = Default::default();
    for b in &s.backends {
        instances.entry(&b.instance).or_default().push(b);
    }
    with_header(
        s,
        "list-instances",
        json!({
            "broker_instance": s.broker_instance,
            "broker_pid": s.broker_pid,
            "socket": s.socket,
            "state": if s.accepting_hello() { "running" } else { "not-serving" },
            "instances": instances.iter().map(|(id, backends)| json!({
                "instance": id,
                "backends": backends.len(),
                "services": backends.iter().map(|b| b.service.as_str()).collect::<std::collections::BTreeSet<_>>(),
            })).collect::<Vec<_>>(),
        }),
    )
}

fn backend_health_json(s: &AdminSnapshot, service: &str) -> Value {
    let backends: Vec<&BackendView> = s.backends.iter().filter(|b| b.service == service).collect();
    let healthy = backends.iter().any(|b| b.state == "live" && b.alive);
    with_header(
        s,
        "backend-health",
        json!({
            "service_name": service,
            "healthy": healthy,
            "backends": backends.iter().map(|b| backend_json(b)).collect::<Vec<_>>(),
        }),
    )
}

fn config_json(s: &AdminSnapshot) -> Value {
    with_header(s, "config", json!({ "values": s.config }))
}

/// The DIAGNOSE bundle: the dump, the metrics and the recent events.
pub(crate) fn diagnostic_bundle(s: &AdminSnapshot) -> Value {
    with_header(
        s,
        "diagnose-bundle",
        json!({
            "dump": dump_json(s),
            "metrics": s.metrics,
        }),
    )
}

/// The DIAGNOSE reply once the bundle was (or was not) written (ADM-5).
pub(crate) fn diagnose_reply(
    s: &AdminSnapshot,
    output_path: Option<&Path>,
    written: Result<(), String>,
) -> AdminReply {
    let exit_code = u32::from(written.is_err());
    let body = with_header(
        s,
        "diagnose",
        json!({
            "output": output_path.map(|p| p.display().to_string()),
            "written": output_path.is_some() && written.is_ok(),
            "error": written.err(),
        }),
    );
    admin_json(body.to_string(), exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::AdminReplyKind;

    fn request(verb: i32, json: bool) -> AdminRequest {
        AdminRequest {
            verb,
            json,
            ..AdminRequest::default()
        }
    }

    fn reply(verb: i32, json: bool, s: &AdminSnapshot) -> AdminReply {
        match respond(&request(verb, json), s) {
            AdminResponse::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn snapshot() -> AdminSnapshot {
        AdminSnapshot {
            broker_instance: "shared".into(),
            metrics: "# EOF\n".into(),
            ..AdminSnapshot::default()
        }
    }

    #[test]
    fn text_verbs_have_the_exact_bodies() {
        let s = snapshot();
        let status = reply(AdminVerb::Status as i32, false, &s);
        assert_eq!(
            status.body,
            "broker_instance: shared\naccepting_hello: true\n"
        );
        assert_eq!(
            (status.kind, status.exit_code, status.content_type.as_str()),
            (0, 0, "text/plain")
        );
        assert_eq!(reply(AdminVerb::Healthz as i32, false, &s).body, "ok\n");
        assert_eq!(reply(AdminVerb::Readyz as i32, false, &s).body, "ready\n");
        let draining = AdminSnapshot {
            draining: true,
            ..snapshot()
        };
        let readyz = reply(AdminVerb::Readyz as i32, false, &draining);
        assert_eq!((readyz.body.as_str(), readyz.exit_code), ("not ready\n", 1));
        for verb in [0, 10, 20, 22, -1] {
            let r = reply(verb, false, &s);
            assert_eq!(
                (r.body.as_str(), r.exit_code),
                ("unsupported admin verb\n", 2),
                "verb {verb}"
            );
        }
    }

    #[test]
    fn json_verbs_carry_the_common_keys() {
        let s = snapshot();
        for (verb, command) in [
            (AdminVerb::Status, "status"),
            (AdminVerb::Dump, "dump"),
            (AdminVerb::ListInstances, "list-instances"),
            (AdminVerb::BackendHealth, "backend-health"),
            (AdminVerb::Config, "config"),
        ] {
            let r = reply(verb as i32, true, &s);
            assert_eq!(r.kind, AdminReplyKind::Json as i32);
            assert_eq!(r.content_type, "application/json");
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            assert_eq!(v["schema_version"], 1, "{command}");
            assert_eq!(v["command"], command);
            assert!(v["generated_at_unix_ms"].is_u64());
        }
        let metrics = reply(AdminVerb::Metrics as i32, false, &s);
        assert_eq!(metrics.content_type, "application/openmetrics-text");
    }

    #[test]
    fn shutdown_defaults_its_drain_to_five_seconds() {
        let AdminResponse::Shutdown {
            reply,
            drain_deadline,
        } = respond(&request(21, false), &snapshot())
        else {
            panic!("shutdown");
        };
        assert_eq!(reply.body, "broker shutting down\n");
        assert_eq!(drain_deadline, Duration::from_millis(5000));
        let req = AdminRequest {
            verb: 21,
            drain_deadline_ms: 250,
            ..AdminRequest::default()
        };
        assert!(
            matches!(respond(&req, &snapshot()), AdminResponse::Shutdown { drain_deadline, .. } if drain_deadline == Duration::from_millis(250))
        );
    }
}
