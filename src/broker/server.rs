//! The socket shell of the reference broker: accepts connections, applies
//! the uid policy before reading a byte (SEC-1), reads one frame under the
//! Hello deadline (FRM-9), hands it to the pure decisions and writes the
//! one reply (ENV-5). It never exits on a per-connection error (FRM-10).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::os::unix::net::UnixListener;

use tokio::runtime::Handle;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;

use super::acceptor::Acceptor;
use super::admin::{AdminResponse, diagnose_reply, respond};
use super::backends::backend_for;
use super::conn::Connection;
use super::decide::{
    BackendEndpoint, FirstFrameRoute, admit_hello, check_version_policy, framing_refusal,
    negotiate, route_first_frame,
};
use super::handoff::{hand_off, handoff_pipe_for};
use super::metrics::OutcomeLabels;
use super::state::BrokerState;
use crate::definitions::{DefinitionChange, LoadError, write_atomic};
use crate::proto::v1::{AdminRequest, EventKind, Frame, FrameKind};
use crate::sys::terminate;
use crate::wire::frames::{admin_reply, negotiated_reply, refused_reply};
use crate::wire::framing::{decode_frame_body, encode_frame};
use crate::wire::{
    MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_ADMIN, Refusal, ReplyContext, check_envelope, decode_payload,
};

/// How long writing the one reply may take before the peer is dropped.
const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Spare descriptors that must open for fd-pressure demotion to end.
const FD_HEADROOM: usize = 16;

/// Serves `listener` until SHUTDOWN, then drains (ADM-7): stops accepting,
/// removes the socket, lets open connections and launches finish within
/// the drain deadline, and stops backends unless they outlive the broker.
/// Connections are accepted on a thread of their own (`Acceptor`).
pub async fn serve(state: Arc<BrokerState>, listener: UnixListener) -> io::Result<()> {
    let acceptor = Acceptor::start(Arc::clone(&state), listener, Handle::current())?;
    let mut shutdown = state.shutdown_requested();
    let drain_deadline = shutdown
        .wait_for(Option::is_some)
        .await
        .map(|d| d.unwrap_or_default())
        .unwrap_or_default();
    acceptor.stop().await;
    crate::broker::launch::remove_socket_file(&state.config.socket);
    tracing::info!(
        drain_ms = drain_deadline.as_millis() as u64,
        "stopped accepting; draining"
    );
    drain(&state, drain_deadline).await;
    Ok(())
}

/// Whether the broker is demoted right now (ENV-3). Demotion is looked at
/// again when a Hello is routed, not only when it was accepted: connections
/// that closed in between (the ones whose replies the client already read)
/// may have given the descriptors back.
fn under_fd_pressure(state: &BrokerState) -> bool {
    if state.in_fd_pressure() {
        try_leave_fd_pressure(state);
    }
    state.in_fd_pressure()
}

/// Leaves fd-pressure demotion once the reserve descriptor is back and
/// [`FD_HEADROOM`] more can be opened.
pub(super) fn try_leave_fd_pressure(state: &BrokerState) {
    let Ok(mut reserve) = state.fd_reserve.lock() else {
        return;
    };
    if reserve.is_none() {
        *reserve = std::fs::File::open("/dev/null").ok();
    }
    if reserve.is_none() {
        return;
    }
    let headroom: Vec<std::fs::File> = (0..FD_HEADROOM)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect();
    if headroom.len() == FD_HEADROOM {
        state.set_fd_pressure(false);
    }
}

/// ADM-7: wait for open connections (and the launches they drive) up to
/// the deadline, then stop backends unless they outlive the broker.
async fn drain(state: &Arc<BrokerState>, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    while state.connections_open() > 0 {
        if tokio::time::timeout_at(until, state.connection_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                open = state.connections_open(),
                "drain deadline reached; abandoning connections"
            );
            break;
        }
    }
    if state.config.backends_outlive_broker {
        return;
    }
    let backends = state.registry.live_backends();
    if let Ok(mut stopping) = state.stopping.lock() {
        stopping.extend(backends.iter().map(|b| b.pid));
    }
    for backend in &backends {
        let _ = terminate(backend.pid);
    }
    let until = tokio::time::Instant::now() + deadline.max(Duration::from_millis(500));
    while !state.registry.live_backends().is_empty() {
        if tokio::time::timeout_at(until, state.wait_backend_reaped())
            .await
            .is_err()
        {
            for backend in state.registry.live_backends() {
                let _ = crate::sys::kill(backend.pid);
            }
            break;
        }
    }
}

/// Writes the one reply frame, bounded in time; the caller then closes.
async fn reply(stream: &mut Connection, frame: &Frame) {
    let bytes = match encode_frame(frame) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the reply");
            return;
        }
    };
    match timeout(REPLY_WRITE_TIMEOUT, stream.write_all(&bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "reply not delivered"),
        Err(_) => tracing::debug!("reply write timed out"),
    }
}

/// One connection: SEC-1, FRM-9, then routing by ENV-3.
pub(super) async fn handle_connection(
    state: Arc<BrokerState>,
    mut stream: Connection,
    permit: OwnedSemaphorePermit,
) {
    let _guard = state.open_connection();
    let _permit = permit;
    let started = Instant::now();
    let Ok(peer) = stream.peer() else {
        return;
    };
    if peer.uid != state.euid {
        // SEC-1: dropped before a byte is read, without a reply.
        tracing::warn!(
            uid = peer.uid,
            pid = peer.pid,
            "connection from another uid dropped"
        );
        state.record(
            EventKind::SecurityViolation,
            "",
            &format!(
                "connection from uid {} refused (broker uid {})",
                peer.uid, state.euid
            ),
            &[
                ("peer_pid", peer.pid.to_string()),
                ("peer_uid", peer.uid.to_string()),
            ],
            0,
        );
        return;
    }
    let Ok(read) = timeout(
        state.config.hello_timeout,
        stream.read_frame_body(MAX_FRAME_BYTES),
    )
    .await
    else {
        // FRM-9: silent clients are closed without a reply.
        return;
    };
    // A frame that cannot be read or decoded is refused the same way
    // (FRM-3…FRM-8), unless the stream itself failed.
    let first = read.and_then(|body| {
        let body_len = body.len();
        decode_frame_body(body).map(|frame| (frame, body_len))
    });
    let (frame, body_len) = match first {
        Ok(first) => first,
        Err(error) => {
            if let Some(refusal) = framing_refusal(&error) {
                finish_refused(
                    &state,
                    &mut stream,
                    &ReplyContext::undecoded(),
                    &refusal,
                    None,
                    started,
                )
                .await;
            }
            return;
        }
    };
    match route_first_frame(&frame, body_len, under_fd_pressure(&state)) {
        // Boxed: the task of an idle connection (waiting for its first
        // frame) then holds only the small reading state, not the largest
        // path's (10 000 idle connections are a few bytes each cheaper).
        FirstFrameRoute::Admin => Box::pin(admin_path(&state, &mut stream, &frame)).await,
        FirstFrameRoute::Refuse(refusal) => {
            finish_refused(
                &state,
                &mut stream,
                &ReplyContext::echo(&frame),
                &refusal,
                None,
                started,
            )
            .await;
        }
        FirstFrameRoute::Hello => {
            Box::pin(hello_path(&state, &mut stream, &frame, peer.pid, started)).await
        }
    }
}

/// HEL-1…HEL-21 on one connection.
async fn hello_path(
    state: &Arc<BrokerState>,
    stream: &mut Connection,
    frame: &Frame,
    peer_pid: u32,
    started: Instant,
) {
    let ctx = ReplyContext::echo(frame);
    let hello = match admit_hello(frame, peer_pid, &state.config.auth) {
        Ok(hello) => hello,
        Err(refusal) => {
            if matches!(
                refusal,
                Refusal::PeerPidMismatch | Refusal::AuthenticationFailed
            ) {
                state.record(
                    EventKind::SecurityViolation,
                    "",
                    &format!("{} from pid {peer_pid}", refusal.reason()),
                    &[("clause", refusal.clause().to_owned())],
                    0,
                );
            }
            finish_refused(state, stream, &ctx, &refusal, None, started).await;
            return;
        }
    };
    let names = Some((hello.service_name.clone(), hello.wanted_version.clone()));
    let definition = match state.loader.load(&hello.service_name) {
        Ok(loaded) => {
            let kind = match loaded.change {
                DefinitionChange::FirstLoad => Some(EventKind::ServiceDefLoaded),
                DefinitionChange::Changed => Some(EventKind::ServiceDefChanged),
                DefinitionChange::Unchanged => None,
            };
            if let Some(kind) = kind {
                state.record(
                    kind,
                    &hello.service_name,
                    &loaded.path.display().to_string(),
                    &[],
                    0,
                );
            }
            loaded.definition
        }
        Err(LoadError::NotFound { .. }) => {
            finish_refused(
                state,
                stream,
                &ctx,
                &Refusal::ServiceUnknown,
                names,
                started,
            )
            .await;
            return;
        }
        Err(LoadError::Unloadable { detail, .. }) => {
            let refusal = Refusal::ServiceDefinitionUnloadable { detail };
            finish_refused(state, stream, &ctx, &refusal, names, started).await;
            return;
        }
    };
    if let Err(refusal) = check_version_policy(&hello.wanted_version, &definition) {
        finish_refused(state, stream, &ctx, &refusal, names, started).await;
        return;
    }
    if state.is_draining() {
        // HEL-20: accepted before the drain began; no new launch now.
        finish_refused(state, stream, &ctx, &Refusal::ShuttingDown, names, started).await;
        return;
    }
    let connection_id = state.next_connection_id();
    let backend = match backend_for(state, &hello, frame, &definition, connection_id).await {
        Ok(backend) => backend,
        Err(refusal) => {
            finish_refused(state, stream, &ctx, &refusal, names, started).await;
            return;
        }
    };
    let endpoint = BackendEndpoint {
        backend_pipe: backend.backend_pipe.clone(),
    };
    // NEG-8: a token only when a handoff will really be attempted.
    // Bytes the client sent past its Hello were dropped with the read: a
    // handoff would lose them, so such a client reconnects instead.
    let pipe = handoff_pipe_for(&hello, &backend).filter(|_| !stream.read_past_frame());
    let handoff =
        pipe.and_then(
            |pipe| match state.handoff_tokens.issue(connection_id, Instant::now()) {
                Ok(token) => Some((pipe.to_path_buf(), token)),
                Err(e) => {
                    tracing::warn!(error = %e, "no handoff: cannot make a token");
                    None
                }
            },
        );
    let negotiated = negotiate(
        &hello,
        &endpoint,
        connection_id,
        handoff.as_ref().map(|(_, t)| *t),
    );
    reply(stream, &negotiated_reply(&ctx, negotiated)).await;
    if let Some((pipe, token)) = handoff {
        let result = hand_off(
            stream,
            &pipe,
            &hello.service_name,
            token,
            connection_id,
            &state.handoff_tokens,
        )
        .await;
        match result {
            Ok(()) => tracing::debug!(connection_id, "connection handed off"),
            Err(e) => {
                // HOF-6: invisible to the client but for the missing EVENT.
                state.handoff_tokens.revoke(&token);
                tracing::info!(connection_id, error = %e, "handoff failed; the client falls back to backend_pipe");
            }
        }
    }
    let labels = OutcomeLabels {
        service: hello.service_name.clone(),
        version: hello.wanted_version.clone(),
        outcome: "negotiated".into(),
    };
    state.metrics.record_hello(labels, started.elapsed());
    state.record(
        EventKind::HelloAccepted,
        &hello.service_name,
        &format!("negotiated {}", backend.backend_pipe.display()),
        &[
            ("version", hello.wanted_version.clone()),
            ("pid", backend.pid.to_string()),
        ],
        connection_id,
    );
}

/// Replies with a refusal and records it (REF, EVT-2, ADM-6).
async fn finish_refused(
    state: &BrokerState,
    stream: &mut Connection,
    ctx: &ReplyContext,
    refusal: &Refusal,
    names: Option<(String, String)>,
    started: Instant,
) {
    reply(stream, &refused_reply(ctx, refusal)).await;
    let (service, version) = names.unwrap_or_default();
    let code = refusal
        .code()
        .as_str_name()
        .trim_start_matches("ERROR_")
        .to_ascii_lowercase();
    state.record(
        EventKind::HelloRefused,
        &service,
        &refusal.reason(),
        &[
            ("code", refusal.code().as_str_name().to_owned()),
            ("clause", refusal.clause().to_owned()),
        ],
        0,
    );
    state.metrics.record_hello(
        OutcomeLabels {
            service,
            version,
            outcome: code,
        },
        started.elapsed(),
    );
}

/// ADM-1…ADM-9. A malformed admin frame gets no reply (ADM-9).
async fn admin_path(state: &Arc<BrokerState>, stream: &mut Connection, frame: &Frame) {
    if check_envelope(frame, FrameKind::Request, PAYLOAD_PROTOCOL_ADMIN).is_err() {
        return;
    }
    let Ok(request) = decode_payload::<AdminRequest>(frame) else {
        return;
    };
    let ctx = ReplyContext::echo(frame);
    let snapshot = state.admin_snapshot();
    match respond(&request, &snapshot) {
        AdminResponse::Reply(r) => reply(stream, &admin_reply(&ctx, &r)).await,
        AdminResponse::Shutdown {
            reply: r,
            drain_deadline,
        } => {
            // Draining starts first, so anything the client does after
            // reading the reply already meets it (HEL-20); the reply still
            // goes out before anything is closed (ADM-7).
            tracing::info!("SHUTDOWN requested by admin");
            state.begin_shutdown(drain_deadline);
            reply(stream, &admin_reply(&ctx, &r)).await;
        }
        AdminResponse::Diagnose {
            output_path,
            bundle,
        } => {
            let written = match &output_path {
                Some(path) => write_atomic(path, bundle.as_bytes(), 0o600)
                    .map_err(|e| format!("{}: {e}", path.display())),
                None => Ok(()),
            };
            let r = diagnose_reply(&snapshot, output_path.as_deref(), written);
            reply(stream, &admin_reply(&ctx, &r)).await;
        }
    }
}
