//! One broker connection's exchange as a state machine: pure — no sockets,
//! no processes, no clock. It owns the whole order of spec §4 with ENV-3
//! before it: which check runs when, which failure becomes which refusal,
//! which refusals are security violations, whether a handoff is attempted
//! (NEG-8), the drain (HEL-20), admin routing and ADM-9, and the metric
//! outcome labels.
//!
//! The socket shell around it is a short loop: read what [`Action`] asks
//! for, feed the result back as an [`Event`], apply the [`Effect`]s.
//!
//! The same machine answers for a v2 front door ([`Door::Front`], v2 spec
//! §3-§5): no admin path (V2H-1), a 64 KiB read cap for every first frame
//! (V2F-1), a refusal at the Hello deadline (V2F-3), the front door's
//! refusal texts (V2H-3, V2H-4, V2H-7, V2H-8), and, instead of a launch,
//! the lookup of a published daemon (V2G-2) and a `Negotiated` of its own
//! (V2G-1, V2G-3).
//!
//! ```text
//!  Peer ──uid≠euid (SEC-1)──────────────────────────────────────────▶ Done
//!   │
//!  Frame ──framing error (FRM-4…8) / ENV-3 refusal / HEL-1…12 ──▶ Reply ─▶ Done
//!   │ └──admin 0xAD01 (ENV-3) ──▶ Admin ─▶ Done   (malformed: ADM-9 ─▶ Done)
//!  Definition ──HEL-13, HEL-14, HEL-15, HEL-16, HEL-20 ─────────▶ Reply ─▶ Done
//!   │
//!  Binary ──LCH-1, REG-1 (HEL-19) ──────────────────────────────▶ Reply ─▶ Done
//!   │
//!  Backend ──HEL-18, HEL-19 ────────────────────────────────────▶ Reply ─▶ Done
//!   │ └──NEG-8: handoff ──▶ Token ──▶ Reply(Negotiated) ─▶ HandOff ─▶ Done
//!   └──────────────────────────────▶ Reply(Negotiated) ──────────────▶ Done
//!
//!  front door: Frame ─(no admin)─▶ Definition ──V2H-5…V2H-8─▶ Reply ─▶ Done
//!               └──▶ Daemon (V2G-2, V2G-4) ──▶ Reply(Negotiated) ──▶ Done
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::auth::AuthTokens;
use super::control_rpc::{self, ControlRpc};
use super::launcher::{AcquireError, LaunchError, LaunchPlan, ResolvedBinary, TraceContext};
use super::launcher::{BackendKey, LiveBackend};
use crate::definitions::{DefinitionChange, LoadError, LoadedDefinition, instance_id};
use crate::events::BrokerEvent;
use crate::proto::v1::{
    AdminRequest, ErrorCode, Frame, FrameKind, Hello, Negotiated, ServiceDefinition,
};
use crate::sys::PeerCredentials;
use crate::wire::frames::{negotiated, negotiated_reply, refused_reply};
use crate::wire::framing::FramingError;
use crate::wire::grammar::is_below_version_floor;
use crate::wire::{
    CAP_HANDLE_PASSING, HANDOFF_LABEL_KEY, HANDOFF_LABEL_VALUE, HANDOFF_TOKEN_LEN, MAX_FRAME_BYTES,
    MAX_HELLO_BYTES, PAYLOAD_PROTOCOL_ADMIN, PROTOCOL_VERSION, Refusal, ReplyContext,
    check_envelope, decode_payload, validate_hello,
};

/// A one-time handoff token (HOF-1).
pub(crate) type HandoffToken = [u8; HANDOFF_TOKEN_LEN];

/// The `daemon_version` a front door reports: its own version (V2G-1).
pub(crate) const FRONT_DOOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which kind of broker the machine answers for (v2 spec §0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Door {
    /// A v1 launch-mode broker: admin, launches, handoff (v1 spec §4).
    #[default]
    Launching,
    /// A v2 front door: Hello only, the backend a daemon published (v2 §3-§5).
    Front,
}

/// What the broker's configuration says about Hellos.
#[derive(Debug, Clone, Default)]
pub(crate) struct HelloPolicy {
    /// The broker's effective uid: the only peer uid served (SEC-1).
    pub(crate) euid: u32,
    /// Configured auth tokens (HEL-12).
    pub(crate) auth: AuthTokens,
    /// The kind of broker.
    pub(crate) door: Door,
}

/// What the shell learned, fed to [`HelloExchange::handle`].
#[derive(Debug)]
pub(crate) enum Event {
    /// The peer's kernel-verified credentials (SO_PEERCRED).
    Peer(PeerCredentials),
    /// The first frame decoded.
    Frame {
        /// The frame.
        frame: Frame,
        /// Its body length (FRM-3).
        body_len: usize,
        /// The client had sent bytes past it (ENV-5; no handoff then).
        read_past_frame: bool,
        /// The broker is in fd-pressure demotion now (ENV-3).
        fd_pressure: bool,
    },
    /// The first frame could not be read or decoded.
    FramingFailed(FramingError),
    /// No complete frame arrived before the Hello deadline (FRM-9).
    DeadlineExpired,
    /// The service definition as loaded, and whether the broker is
    /// draining now (HEL-20).
    Definition {
        /// The loader's answer.
        loaded: Result<LoadedDefinition, LoadError>,
        /// SHUTDOWN began.
        draining: bool,
    },
    /// The service's binary, resolved (LCH-1) and hashed (REG-1).
    Binary(Result<ResolvedBinary, LaunchError>),
    /// The backend, and the connection id the shell assigned (NEG-5).
    Backend {
        /// The connection id.
        connection_id: u64,
        /// The registry's or the launch's answer.
        acquired: Result<Arc<LiveBackend>, AcquireError>,
    },
    /// A fresh handoff token, or none if none could be made.
    Token(Option<HandoffToken>),
    /// The reply asked for was written, or could not be: either way it is done.
    Replied,
    /// The handoff ended, completed or not (HOF-6: a failure shows to the
    /// client only as the missing EVENT).
    HandedOff,
    /// Front door: the `ipc_endpoint.path` of a live published daemon, or
    /// `None` when there is none (V2G-2, V2G-4, V2P-1).
    Daemon(Option<String>),
}

/// What the shell must do next.
#[derive(Debug, PartialEq)]
pub(crate) enum Action<'m> {
    /// Read the first frame, under the Hello deadline (FRM-9), refusing a
    /// declared body length above `limit` unread (FRM-2, V2F-1).
    ReadFrame {
        /// The largest body read.
        limit: u32,
    },
    /// Load the definition of this service (SVC-2).
    LoadDefinition(&'m str),
    /// Resolve and hash this definition's binary (LCH-1, REG-1).
    ResolveBinary(&'m ServiceDefinition),
    /// Assign a connection id and acquire a backend for this plan.
    AcquireBackend(&'m LaunchPlan),
    /// Make a fresh handoff token for this connection's handoff (HOF-1).
    IssueToken,
    /// Write this one reply frame (ENV-5).
    Reply(&'m Frame),
    /// Answer this admin request, echoing this context (ADM-1…ADM-8).
    Admin(&'m AdminRequest, &'m ReplyContext),
    /// Answer this control RPC, or close without a byte (V2R-4…V2R-6);
    /// then feed [`Event::Replied`].
    ControlRpc(&'m ControlRpc),
    /// Hand the client's socket to the backend (HOF-2…HOF-5).
    HandOff(&'m Handoff),
    /// Front door: look up the daemon this service published (V2G-2, V2G-4).
    LookUpDaemon(&'m str),
    /// Close the connection: the exchange is over.
    Close,
}

/// A handoff to attempt after `Negotiated` went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handoff {
    /// The backend's handoff socket (LCH-6).
    pub(crate) pipe: std::path::PathBuf,
    /// The token the client was given.
    pub(crate) token: HandoffToken,
    /// The service, for the offer.
    pub(crate) service: String,
    /// The connection id, the offer's correlation id.
    pub(crate) connection_id: u64,
}

/// A side effect the shell applies after performing the action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// A lifecycle event (EVT-2).
    Event(BrokerEvent),
    /// A Hello's outcome for the metrics (ADM-6): counted, with its duration.
    Outcome {
        /// The service (empty when refused before its name was valid).
        service: String,
        /// The wanted version, likewise.
        version: String,
        /// `negotiated` or the refusal code's label.
        outcome: &'static str,
    },
    /// Front door: a service whose definition declares `http_server` was
    /// negotiated, so the HTTP page lists it (V2W-15).
    Listed(String),
}

/// A Hello that passed HEL-1…HEL-12.
#[derive(Debug)]
struct Admitted {
    hello: Hello,
    ctx: ReplyContext,
    read_past_frame: bool,
    /// Its definition declares `http_server` (V2R-7, V2W-16); known once loaded.
    http_server: bool,
}

/// A Negotiated reply on its way, with what is logged once it is done.
#[derive(Debug)]
struct Accepted {
    hello: Hello,
    backend: Arc<LiveBackend>,
    connection_id: u64,
}

/// A front door's `Negotiated` on its way (V2G): what is counted, and
/// listed (V2W-15), once it is done.
#[derive(Debug)]
struct FrontAccepted {
    hello: Hello,
    listed: bool,
}

/// What follows the one reply.
#[derive(Debug)]
enum AfterReply {
    Close,
    Accept(Box<Accepted>),
    HandOff(Box<Handoff>, Box<Accepted>),
    FrontAccept(Box<FrontAccepted>),
}

#[derive(Debug)]
enum Stage {
    Peer,
    FirstFrame { peer_pid: u32 },
    Definition(Box<Admitted>),
    Binary(Box<Admitted>, Box<ServiceDefinition>),
    Backend(Box<Admitted>, Box<LaunchPlan>),
    Token(Box<Admitted>, Arc<LiveBackend>, u64),
    Admin(Box<AdminRequest>, ReplyContext),
    Control(Box<ControlRpc>),
    Replying(Box<Frame>, AfterReply),
    HandingOff(Box<Handoff>, Box<Accepted>),
    Daemon(Box<Admitted>, bool),
    Done,
}

/// One connection's exchange, from its credentials to its close.
#[derive(Debug)]
pub(crate) struct HelloExchange<'p> {
    policy: &'p HelloPolicy,
    stage: Stage,
    effects: Vec<Effect>,
}

impl<'p> HelloExchange<'p> {
    /// A fresh connection; feed it [`Event::Peer`] first.
    pub(crate) fn new(policy: &'p HelloPolicy) -> Self {
        Self {
            policy,
            stage: Stage::Peer,
            effects: Vec::new(),
        }
    }

    /// Takes the effects decided so far, oldest first.
    pub(crate) fn take_effects(&mut self) -> std::vec::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// Feeds one event and returns the next action. An event the current
    /// stage does not expect ends the exchange (the shell never sends one).
    pub(crate) fn handle(&mut self, event: Event) -> Action<'_> {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, event) {
            (Stage::Peer, Event::Peer(peer)) => self.on_peer(peer),
            (Stage::FirstFrame { peer_pid }, event) => self.on_first_frame(peer_pid, event),
            (Stage::Definition(admitted), Event::Definition { loaded, draining }) => {
                self.on_definition(admitted, loaded, draining)
            }
            (Stage::Binary(admitted, definition), Event::Binary(binary)) => {
                self.on_binary(admitted, &definition, binary)
            }
            (
                Stage::Backend(admitted, _),
                Event::Backend {
                    connection_id,
                    acquired,
                },
            ) => self.on_backend(admitted, connection_id, acquired),
            (Stage::Token(admitted, backend, connection_id), Event::Token(token)) => {
                self.negotiate(admitted, backend, connection_id, token)
            }
            (Stage::Replying(_, after), Event::Replied) => self.after_reply(after),
            (Stage::HandingOff(_, accepted), Event::HandedOff) => self.accept(*accepted),
            (Stage::Daemon(admitted, listed), Event::Daemon(pipe)) => {
                front_door_negotiate(*admitted, listed, pipe)
            }
            // An admin or control-RPC reply written ends the exchange, as
            // does any event the stage does not expect.
            _ => Stage::Done,
        };
        self.action()
    }

    /// The action the current stage asks for.
    fn action(&self) -> Action<'_> {
        match &self.stage {
            Stage::Peer => Action::Close,
            Stage::FirstFrame { .. } => Action::ReadFrame {
                limit: self.read_limit(),
            },
            Stage::Definition(admitted) => Action::LoadDefinition(&admitted.hello.service_name),
            Stage::Binary(_, definition) => Action::ResolveBinary(definition),
            Stage::Backend(_, plan) => Action::AcquireBackend(plan),
            Stage::Token(..) => Action::IssueToken,
            Stage::Admin(request, ctx) => Action::Admin(request, ctx),
            Stage::Control(rpc) => Action::ControlRpc(rpc),
            Stage::Replying(frame, _) => Action::Reply(frame),
            Stage::HandingOff(handoff, _) => Action::HandOff(handoff),
            Stage::Daemon(admitted, _) => Action::LookUpDaemon(&admitted.hello.service_name),
            Stage::Done => Action::Close,
        }
    }

    /// FRM-2's 16 MiB, or for a front door 64 KiB whatever the payload
    /// protocol: it has no admin path (V2F-1).
    fn read_limit(&self) -> u32 {
        match self.policy.door {
            Door::Launching => MAX_FRAME_BYTES,
            Door::Front => MAX_HELLO_BYTES,
        }
    }

    /// SEC-1: a peer of another uid is dropped before a byte is read, with
    /// no reply, and logged as a security violation.
    fn on_peer(&mut self, peer: PeerCredentials) -> Stage {
        if peer.uid != self.policy.euid {
            self.effects.push(Effect::Event(BrokerEvent::ForeignPeer {
                peer_uid: peer.uid,
                peer_pid: peer.pid,
                broker_uid: self.policy.euid,
            }));
            return Stage::Done;
        }
        Stage::FirstFrame { peer_pid: peer.pid }
    }

    /// FRM-3…FRM-9, then ENV-3's routing, then HEL-1…HEL-12.
    fn on_first_frame(&mut self, peer_pid: u32, event: Event) -> Stage {
        let (frame, body_len, read_past_frame, fd_pressure) = match event {
            Event::Frame {
                frame,
                body_len,
                read_past_frame,
                fd_pressure,
            } => (frame, body_len, read_past_frame, fd_pressure),
            Event::FramingFailed(error) => {
                return match framing_refusal(&error) {
                    Some(refusal) => self.refuse(ReplyContext::undecoded(), refusal, None),
                    None => Stage::Done,
                };
            }
            // V2F-3 (REF): a front door refuses an unfinished frame.
            Event::DeadlineExpired if self.policy.door == Door::Front => {
                return self.refuse(ReplyContext::undecoded(), Refusal::IncompleteFrame, None);
            }
            // FRM-9: a silent client is closed without a reply.
            _ => return Stage::Done,
        };
        // ENV-3: admin first, whatever its kind and size; a front door has
        // no admin path, so HEL-3 refuses it (V2H-1, V2S-0, V2R-1).
        if frame.payload_protocol == PAYLOAD_PROTOCOL_ADMIN && self.policy.door == Door::Launching {
            return admin_stage(&frame);
        }
        let ctx = ReplyContext::echo(&frame);
        if body_len > MAX_HELLO_BYTES as usize {
            return self.refuse(ctx, Refusal::HelloTooLarge, None);
        }
        // V2R-2: the control RPCs after the cap, before fd pressure and
        // Hello; a front door implements none (V2R-1: HEL-3 refuses them).
        if self.policy.door == Door::Launching
            && control_rpc::is_control_rpc(frame.payload_protocol)
        {
            return match control_rpc::parse(&frame, peer_pid) {
                Some(rpc) => Stage::Control(Box::new(rpc)),
                None => Stage::Done,
            };
        }
        if fd_pressure {
            return self.refuse(ctx, Refusal::FdPressure, None);
        }
        let admitted = admit(&frame, peer_pid, &self.policy.auth);
        let admitted = match self.policy.door {
            Door::Launching => admitted,
            Door::Front => admitted.map_err(front_door_refusal),
        };
        match admitted {
            Ok(hello) => Stage::Definition(Box::new(Admitted {
                hello,
                ctx,
                read_past_frame,
                http_server: false,
            })),
            Err(refusal) => {
                if is_security_violation(&refusal) {
                    self.effects
                        .push(Effect::Event(BrokerEvent::HelloViolation {
                            refusal: refusal.clone(),
                            peer_pid,
                        }));
                }
                self.refuse(ctx, refusal, None)
            }
        }
    }

    /// HEL-13, HEL-14 (the load-error mapping), HEL-15, HEL-16, then the
    /// drain (HEL-20): a Hello accepted before SHUTDOWN launches nothing new.
    fn on_definition(
        &mut self,
        mut admitted: Box<Admitted>,
        loaded: Result<LoadedDefinition, LoadError>,
        draining: bool,
    ) -> Stage {
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                let refusal = match error {
                    LoadError::NotFound { .. } => Refusal::ServiceUnknown,
                    LoadError::Unloadable { detail, .. } => {
                        Refusal::ServiceDefinitionUnloadable { detail }
                    }
                };
                return self.refuse_admitted(admitted, refusal);
            }
        };
        let changed = match loaded.change {
            DefinitionChange::FirstLoad => Some(false),
            DefinitionChange::Changed => Some(true),
            DefinitionChange::Unchanged => None,
        };
        if let Some(changed) = changed {
            self.effects
                .push(Effect::Event(BrokerEvent::DefinitionLoaded {
                    service: admitted.hello.service_name.clone(),
                    path: loaded.path.clone(),
                    changed,
                }));
        }
        if let Err(block) = check_version_policy(&admitted.hello.wanted_version, &loaded.definition)
        {
            let refusal = block.refusal(self.policy.door, &admitted.hello, &loaded.definition);
            return self.refuse_admitted(admitted, refusal);
        }
        if draining {
            return self.refuse_admitted(admitted, Refusal::ShuttingDown);
        }
        admitted.http_server = loaded.http_server.is_some();
        match self.policy.door {
            Door::Launching => Stage::Binary(admitted, Box::new(loaded.definition)),
            // V2D-2: http_server changes the listing, never the reply.
            Door::Front => {
                let listed = admitted.http_server;
                Stage::Daemon(admitted, listed)
            }
        }
    }

    /// The backend key (§7: instance, service, version, binary hash) and
    /// the LCH-6 handoff opt-in; a binary that cannot be used is HEL-19.
    fn on_binary(
        &mut self,
        admitted: Box<Admitted>,
        definition: &ServiceDefinition,
        binary: Result<ResolvedBinary, LaunchError>,
    ) -> Stage {
        let binary = match binary {
            Ok(binary) => binary,
            Err(error) => return self.refuse_admitted(admitted, spawn_failed(&error)),
        };
        let hello = &admitted.hello;
        let plan = LaunchPlan {
            key: BackendKey {
                instance: instance_id(definition),
                service: hello.service_name.clone(),
                version: hello.wanted_version.clone(),
                exe_hash: binary.hash,
            },
            binary: binary.path,
            handoff: accepts_handoff(definition),
            trace: TraceContext {
                traceparent: admitted.ctx.traceparent.clone(),
                tracestate: admitted.ctx.tracestate.clone(),
            },
            http_server: admitted.http_server,
        };
        Stage::Backend(admitted, Box::new(plan))
    }

    /// HEL-18, HEL-19; then NEG-8: a token only when a handoff will really
    /// be attempted — the client advertised bit 0 (CAP-1), the backend
    /// accepts handoffs (LCH-6), and the client sent nothing past its Hello
    /// (those bytes were dropped with the read, and a handoff would lose them).
    fn on_backend(
        &mut self,
        admitted: Box<Admitted>,
        connection_id: u64,
        acquired: Result<Arc<LiveBackend>, AcquireError>,
    ) -> Stage {
        let backend = match acquired {
            Ok(backend) => backend,
            Err(AcquireError::Exhausted { retry_after }) => {
                let refusal = Refusal::SpawnBudgetExhausted {
                    retry_after_ms: ceil_ms(retry_after),
                };
                return self.refuse_admitted(admitted, refusal);
            }
            Err(AcquireError::Failed(error)) => {
                return self.refuse_admitted(admitted, spawn_failed(&error));
            }
        };
        let hands_off = admitted.hello.client_capabilities & CAP_HANDLE_PASSING != 0
            && backend.handoff_pipe.is_some()
            && !admitted.read_past_frame;
        if hands_off {
            Stage::Token(admitted, backend, connection_id)
        } else {
            self.negotiate(admitted, backend, connection_id, None)
        }
    }

    /// NEG-1…NEG-7: the Negotiated reply, with the token when one was issued.
    fn negotiate(
        &mut self,
        admitted: Box<Admitted>,
        backend: Arc<LiveBackend>,
        connection_id: u64,
        token: Option<HandoffToken>,
    ) -> Stage {
        let Admitted { hello, ctx, .. } = *admitted;
        let reply = negotiated_reply(
            &ctx,
            negotiated(
                &hello,
                &backend.backend_pipe.to_string_lossy(),
                connection_id,
                token,
            ),
        );
        let handoff = token.zip(backend.handoff_pipe.clone());
        let accepted = Box::new(Accepted {
            hello,
            backend,
            connection_id,
        });
        let after = match handoff {
            Some((token, pipe)) => AfterReply::HandOff(
                Box::new(Handoff {
                    pipe,
                    token,
                    service: accepted.hello.service_name.clone(),
                    connection_id,
                }),
                accepted,
            ),
            None => AfterReply::Accept(accepted),
        };
        Stage::Replying(Box::new(reply), after)
    }

    fn after_reply(&mut self, after: AfterReply) -> Stage {
        match after {
            AfterReply::Close => Stage::Done,
            AfterReply::Accept(accepted) => self.accept(*accepted),
            AfterReply::HandOff(handoff, accepted) => Stage::HandingOff(handoff, accepted),
            AfterReply::FrontAccept(accepted) => self.front_door_accept(*accepted),
        }
    }

    /// A front door's Hello done: counted, and listed when its definition
    /// declares `http_server` (V2W-15).
    fn front_door_accept(&mut self, accepted: FrontAccepted) -> Stage {
        let FrontAccepted { hello, listed } = accepted;
        self.effects.push(Effect::Outcome {
            service: hello.service_name.clone(),
            version: hello.wanted_version,
            outcome: "negotiated",
        });
        if listed {
            self.effects.push(Effect::Listed(hello.service_name));
        }
        Stage::Done
    }

    /// HEL-21 done: the Hello is counted and logged as accepted.
    fn accept(&mut self, accepted: Accepted) -> Stage {
        let Accepted {
            hello,
            backend,
            connection_id,
        } = accepted;
        self.effects.push(Effect::Outcome {
            service: hello.service_name.clone(),
            version: hello.wanted_version.clone(),
            outcome: "negotiated",
        });
        self.effects.push(Effect::Event(BrokerEvent::HelloAccepted {
            service: hello.service_name,
            version: hello.wanted_version,
            backend_pipe: backend.backend_pipe.clone(),
            pid: backend.pid,
            connection_id,
        }));
        Stage::Done
    }

    fn refuse_admitted(&mut self, admitted: Box<Admitted>, refusal: Refusal) -> Stage {
        let Admitted { hello, ctx, .. } = *admitted;
        self.refuse(ctx, refusal, Some(hello))
    }

    /// Any refusal: the one reply, then the close; logged and counted
    /// under the Hello's names once they were valid (REF, EVT-2, ADM-6).
    fn refuse(&mut self, ctx: ReplyContext, refusal: Refusal, hello: Option<Hello>) -> Stage {
        let reply = refused_reply(&ctx, &refusal);
        let (service, version) = hello
            .map(|h| (h.service_name, h.wanted_version))
            .unwrap_or_default();
        self.effects.push(Effect::Event(BrokerEvent::HelloRefused {
            service: service.clone(),
            refusal: refusal.clone(),
        }));
        self.effects.push(Effect::Outcome {
            service,
            version,
            outcome: outcome_label(refusal.code()),
        });
        Stage::Replying(Box::new(reply), AfterReply::Close)
    }
}

/// ADM-1, ADM-9: a well-formed admin request goes to the admin room; a bad
/// envelope or an undecodable payload gets no reply.
fn admin_stage(frame: &Frame) -> Stage {
    if check_envelope(frame, FrameKind::Request, PAYLOAD_PROTOCOL_ADMIN).is_err() {
        return Stage::Done;
    }
    match decode_payload::<AdminRequest>(frame) {
        Ok(request) => Stage::Admin(Box::new(request), ReplyContext::echo(frame)),
        Err(_) => Stage::Done,
    }
}

/// The reply to a first frame that could not be read or decoded (FRM-4,
/// FRM-5, FRM-7, FRM-8); `None` when the connection just closes (an I/O
/// failure: nobody to answer).
pub(crate) fn framing_refusal(error: &FramingError) -> Option<Refusal> {
    match error {
        FramingError::BadFramingByte { .. } => Some(Refusal::UnsupportedFramingVersion),
        // FRM-5 allows a refusal or a silent close; the reference broker
        // answers, which tells the peer why.
        FramingError::Oversize { .. } => Some(Refusal::OversizeLength),
        FramingError::Malformed(_) | FramingError::TrailingBytes { .. } => {
            Some(Refusal::MalformedFrame)
        }
        FramingError::Truncated { .. } => Some(Refusal::IncompleteFrame),
        FramingError::Io(_) => None,
    }
}

/// HEL-1…HEL-12: the checks that need no service definition, in order;
/// authentication last, before any service lookup, so an unauthenticated
/// client learns nothing about which services exist.
fn admit(frame: &Frame, kernel_peer_pid: u32, auth: &AuthTokens) -> Result<Hello, Refusal> {
    let hello = validate_hello(frame, kernel_peer_pid)?;
    auth.check(&hello.auth_token)?;
    Ok(hello)
}

/// EVT-2: the refusals logged as SECURITY_VIOLATION as well (HEL-11, HEL-12).
fn is_security_violation(refusal: &Refusal) -> bool {
    matches!(
        refusal,
        Refusal::PeerPidMismatch | Refusal::AuthenticationFailed
    )
}

/// Why a version policy blocks a Hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionBlock {
    /// Below `min_version` (HEL-15, V2H-7).
    BelowFloor,
    /// Not in a non-empty `version_allow_list` (HEL-16, V2H-8).
    NotAllowed,
}

impl VersionBlock {
    /// The refusal each kind of broker sends: v1's texts, or the front
    /// door's with the versions quoted and no retry hint (V2H-7…V2H-9).
    fn refusal(self, door: Door, hello: &Hello, definition: &ServiceDefinition) -> Refusal {
        let wanted = || hello.wanted_version.clone();
        match (door, self) {
            (Door::Launching, Self::BelowFloor) => Refusal::BelowMinVersion,
            (Door::Launching, Self::NotAllowed) => Refusal::NotInAllowList,
            (Door::Front, Self::BelowFloor) => Refusal::FrontDoorBelowMinVersion {
                wanted: wanted(),
                min: definition.min_version.clone(),
            },
            (Door::Front, Self::NotAllowed) => {
                Refusal::FrontDoorNotInAllowList { wanted: wanted() }
            }
        }
    }
}

/// HEL-15, HEL-16 (V2H-7, V2H-8): the version floor by the numeric rule,
/// then the allow-list.
fn check_version_policy(
    wanted_version: &str,
    definition: &ServiceDefinition,
) -> Result<(), VersionBlock> {
    if is_below_version_floor(wanted_version, &definition.min_version) {
        return Err(VersionBlock::BelowFloor);
    }
    if !definition.version_allow_list.is_empty()
        && !definition
            .version_allow_list
            .iter()
            .any(|v| v == wanted_version)
    {
        return Err(VersionBlock::NotAllowed);
    }
    Ok(())
}

/// A front door's own answers to two of HEL-1…HEL-11's failures (V2H-3,
/// V2H-4, the reference choice); every other one is v1's (V2H-1, V2H-2,
/// V2H-10).
fn front_door_refusal(refusal: Refusal) -> Refusal {
    match refusal {
        Refusal::ProtocolRange => Refusal::FrontDoorProtocolRange,
        Refusal::InvalidServiceName => Refusal::FrontDoorInvalidServiceName,
        other => other,
    }
}

/// V2G-1…V2G-3: the front door's `Negotiated`, the same whatever the client
/// advertised: its own version, the published pipe or `""`, the client's
/// `connection_id` echoed, no capabilities, keepalive, token or warnings.
fn front_door_negotiated(hello: &Hello, backend_pipe: Option<String>) -> Negotiated {
    Negotiated {
        negotiated_protocol: PROTOCOL_VERSION,
        daemon_version: FRONT_DOOR_VERSION.to_owned(),
        backend_pipe: backend_pipe.unwrap_or_default(),
        warnings: Vec::new(),
        server_capabilities: 0,
        keepalive_interval_secs: 0,
        handle_passed_token: Default::default(),
        connection_id: hello.connection_id,
    }
}

/// The front door's reply once the daemon lookup is in (V2G-2: no daemon
/// is still a success).
fn front_door_negotiate(admitted: Admitted, listed: bool, pipe: Option<String>) -> Stage {
    let Admitted { hello, ctx, .. } = admitted;
    let reply = negotiated_reply(&ctx, front_door_negotiated(&hello, pipe));
    Stage::Replying(
        Box::new(reply),
        AfterReply::FrontAccept(Box::new(FrontAccepted { hello, listed })),
    )
}

/// LCH-6: the service opted in to connection handoff by its label.
fn accepts_handoff(definition: &ServiceDefinition) -> bool {
    definition.labels.get(HANDOFF_LABEL_KEY).map(String::as_str) == Some(HANDOFF_LABEL_VALUE)
}

/// HEL-19: the launch error, named by its clause, as the refusal's detail.
fn spawn_failed(error: &LaunchError) -> Refusal {
    Refusal::SpawnFailed {
        detail: error.to_string(),
    }
}

/// HEL-18: whole milliseconds, rounded up, so a wait is never reported
/// shorter than it is.
fn ceil_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// ADM-6: the `outcome` label of a refused Hello.
fn outcome_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unspecified => "unspecified",
        ErrorCode::ErrorVersionUnsupported => "version_unsupported",
        ErrorCode::ErrorServiceUnknown => "service_unknown",
        ErrorCode::ErrorBackendSpawnFailed => "backend_spawn_failed",
        ErrorCode::ErrorRateLimited => "rate_limited",
        ErrorCode::ErrorShuttingDown => "shutting_down",
        ErrorCode::ErrorPeerRejected => "peer_rejected",
        ErrorCode::ErrorInternal => "internal",
        ErrorCode::ErrorVersionBlocked => "version_blocked",
        ErrorCode::ErrorFdPressure => "fd_pressure",
    }
}

#[cfg(test)]
mod tests;
