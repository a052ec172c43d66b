//! `hello_machine`: the broker's Hello state machine fed an arbitrary
//! sequence of events, each built from the input (peers, frames, framing
//! failures, definitions, binaries, backends, tokens, replies and handoffs,
//! in any order, expected or not).
//!
//! Invariants: never panics; every reply frame survives the wire and obeys
//! ENV-4, REF-1 and REF-2 (and NEG-1, NEG-7 for a Negotiated); at most one
//! reply per connection; nothing but Close once the exchange closed; the
//! admin path only for an admin frame (ENV-3).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{assert_reply_envelope, over_the_wire};
use crate::broker::AuthTokens;
use crate::broker::hello::{Action, Event, HelloExchange, HelloPolicy};
use crate::broker::launcher::{AcquireError, BackendKey, LaunchError, LiveBackend, ResolvedBinary};
use crate::definitions::{DefinitionChange, Generation, LoadError, LoadedDefinition};
use crate::proto::v1::{ErrorCode, Frame, Hello, HelloReply, ServiceDefinition, hello_reply};
use crate::stress::invariants::is_permanent;
use crate::sys::PeerCredentials;
use crate::wire::frames::hello_request;
use crate::wire::framing::{FrameSection, FramingError, decode_frame_body};
use crate::wire::{
    CAP_HANDLE_PASSING, HANDOFF_LABEL_KEY, HANDOFF_LABEL_VALUE, HANDOFF_TOKEN_LEN,
    PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CONTROL, PROTOCOL_VERSION, ReplyContext,
    decode_payload,
};

const EUID: u32 = 1000;

/// Reads the input front to back; past its end, zeros.
struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn bytes(&mut self) -> &[u8] {
        let len = usize::from(self.byte() % 48).min(self.data.len());
        let (taken, rest) = self.data.split_at(len);
        self.data = rest;
        taken
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// A short string, mostly from a few valid or nearly valid shapes.
    fn name(&mut self, shapes: &[&str]) -> String {
        match usize::from(self.byte()) {
            n if n < shapes.len() * 40 => shapes[n % shapes.len()].to_owned(),
            _ => self.text(),
        }
    }

    fn done(&self) -> bool {
        self.data.is_empty()
    }
}

/// The event sequence of `data` through one exchange.
pub fn hello_machine(data: &[u8]) {
    drive(data, |_| {});
}

/// [`hello_machine`], telling `observe` each action's name.
fn drive(data: &[u8], mut observe: impl FnMut(&'static str)) {
    let mut script = Script { data };
    let auth = if script.flag() {
        AuthTokens::new([b"s3cret".as_slice()])
    } else {
        AuthTokens::default()
    };
    let policy = HelloPolicy {
        euid: EUID,
        auth,
        ..HelloPolicy::default()
    };
    let mut exchange = HelloExchange::new(&policy);
    let mut replies = 0;
    let mut closed = false;
    let mut last_frame_admin = false;
    // Bounded: the machine takes at most a handful of events per connection.
    for _ in 0..16 {
        if script.done() {
            break;
        }
        let event = event(&mut script, &mut last_frame_admin);
        let action = exchange.handle(event);
        observe(action_name(&action));
        if closed {
            assert_eq!(action, Action::Close, "nothing after the close");
        }
        match action {
            Action::Reply(frame) => {
                replies += 1;
                assert_eq!(replies, 1, "at most one reply per connection (ENV-5)");
                assert_hello_reply(frame);
            }
            Action::Admin(..) => {
                assert!(last_frame_admin, "the admin path only for 0xAD01 (ENV-3)");
                replies += 1;
                assert_eq!(replies, 1, "at most one reply per connection (ENV-5)");
            }
            Action::ControlRpc(_) => {
                // V2R-2: at most one reply, like admin.
                replies += 1;
                assert_eq!(replies, 1, "at most one reply per connection (ENV-5)");
            }
            Action::Close => closed = true,
            _ => {}
        }
        drop(exchange.take_effects());
    }
}

fn action_name(action: &Action<'_>) -> &'static str {
    match action {
        Action::ReadFrame { .. } => "read",
        Action::LoadDefinition(_) => "load",
        Action::ResolveBinary(_) => "binary",
        Action::AcquireBackend(_) => "acquire",
        Action::IssueToken => "token",
        Action::Reply(_) => "reply",
        Action::Admin(..) => "admin",
        Action::ControlRpc(_) => "control-rpc",
        Action::HandOff(_) => "handoff",
        Action::LookUpDaemon(_) => "daemon",
        Action::Close => "close",
    }
}

fn event(script: &mut Script<'_>, last_frame_admin: &mut bool) -> Event {
    match script.byte() % 12 {
        0 => Event::Peer(PeerCredentials {
            pid: script.u32() % 8,
            uid: if script.flag() { EUID } else { script.u32() },
            gid: 0,
        }),
        1 | 2 => {
            let frame = frame(script);
            *last_frame_admin = frame.payload_protocol == PAYLOAD_PROTOCOL_ADMIN;
            Event::Frame {
                body_len: if script.flag() {
                    usize::from(script.byte())
                } else {
                    script.u32() as usize
                },
                frame,
                read_past_frame: script.flag(),
                fd_pressure: script.byte() < 32,
            }
        }
        3 => Event::FramingFailed(framing_error(script)),
        4 => Event::DeadlineExpired,
        5 => Event::Definition {
            loaded: definition(script),
            draining: script.byte() < 32,
        },
        6 => Event::Binary(if script.byte() < 200 {
            Ok(ResolvedBinary {
                path: PathBuf::from(script.text()),
                hash: [script.byte(); 32],
            })
        } else {
            Err(launch_error(script))
        }),
        7 => Event::Backend {
            connection_id: u64::from(script.u32()),
            acquired: match script.byte() % 4 {
                0 => Err(AcquireError::Exhausted {
                    retry_after: Duration::from_nanos(u64::from(script.u32()) << 8),
                }),
                1 => Err(AcquireError::Failed(Arc::new(launch_error(script)))),
                _ => Ok(backend(script)),
            },
        },
        8 => Event::Token(script.flag().then(|| [script.byte(); HANDOFF_TOKEN_LEN])),
        9 | 10 => Event::Replied,
        _ => Event::HandedOff,
    }
}

/// A first frame: a Hello built from the script's choices, or the script's
/// bytes decoded as a `Frame` body.
fn frame(script: &mut Script<'_>) -> Frame {
    if script.byte() < 64 {
        return decode_frame_body(Bytes::copy_from_slice(script.bytes())).unwrap_or_default();
    }
    let hello = Hello {
        service_name: script.name(&["svc", "fake-echo", "Bad", "", "a-b-c"]),
        wanted_version: script.name(&["1.2.3", "0.0.1-rc.1", "1.0", "v1.0.0"]),
        client_min_protocol: u32::from(script.byte() % 3),
        client_max_protocol: u32::from(script.byte() % 3),
        client_capabilities: if script.flag() { CAP_HANDLE_PASSING } else { 0 },
        client_keepalive_secs: u64::from(script.byte()),
        peer_pid: script.u32() % 8,
        auth_token: if script.flag() {
            Bytes::from_static(b"s3cret")
        } else {
            Bytes::copy_from_slice(script.bytes())
        },
        client_version: script.text(),
        ..Hello::default()
    };
    let mut frame = hello_request(&hello, u64::from(script.u32()));
    match script.byte() % 8 {
        0 => frame.payload_protocol = PAYLOAD_PROTOCOL_ADMIN,
        1 => frame.kind = i32::from(script.byte()),
        2 => frame.envelope_version = u32::from(script.byte() % 3),
        3 => frame.payload_encoding = i32::from(script.byte() % 3),
        _ => {}
    }
    frame.traceparent = script.text();
    frame
}

fn framing_error(script: &mut Script<'_>) -> FramingError {
    match script.byte() % 5 {
        0 => FramingError::BadFramingByte {
            found: script.byte(),
        },
        1 => FramingError::Oversize {
            declared: u64::from(script.u32()),
            limit: 1 << 24,
        },
        2 => FramingError::Truncated {
            section: FrameSection::Body,
            received: usize::from(script.byte()),
            expected: 300,
        },
        3 => match decode_frame_body(Bytes::from_static(&[0xff])) {
            Err(error) => error,
            Ok(_) => FramingError::Io(std::io::Error::other("no malformed frame")),
        },
        _ => FramingError::Io(std::io::Error::other("reset")),
    }
}

fn definition(script: &mut Script<'_>) -> Result<LoadedDefinition, LoadError> {
    match script.byte() % 8 {
        0 => Err(LoadError::NotFound {
            service: script.text(),
            dir: PathBuf::from("/defs"),
        }),
        1 => Err(LoadError::Unloadable {
            path: PathBuf::from("/defs/x"),
            detail: script.text(),
        }),
        _ => {
            let mut definition = ServiceDefinition {
                service_name: script.name(&["svc"]),
                min_version: script.name(&["", "1.0.0", "9.0.0", "x"]),
                isolation: i32::from(script.byte() % 4),
                explicit_instance: script.text(),
                ..ServiceDefinition::default()
            };
            if script.flag() {
                definition.version_allow_list = vec![script.name(&["1.2.3", "0.0.1-rc.1"])];
            }
            if script.flag() {
                definition
                    .labels
                    .insert(HANDOFF_LABEL_KEY.to_owned(), HANDOFF_LABEL_VALUE.to_owned());
            }
            Ok(LoadedDefinition {
                definition,
                generation: Generation::V1,
                path: PathBuf::from("/defs/svc.servicedef"),
                http_server: None,
                change: match script.byte() % 3 {
                    0 => DefinitionChange::FirstLoad,
                    1 => DefinitionChange::Changed,
                    _ => DefinitionChange::Unchanged,
                },
            })
        }
    }
}

fn launch_error(script: &mut Script<'_>) -> LaunchError {
    match script.byte() % 4 {
        0 => LaunchError::ProbeTimeout {
            budget_ms: u64::from(script.u32()),
        },
        1 => LaunchError::IdentityMismatch {
            field: "pid",
            claimed: script.text(),
            expected: script.text(),
        },
        2 => LaunchError::Process {
            detail: script.text(),
        },
        _ => LaunchError::Abandoned,
    }
}

fn backend(script: &mut Script<'_>) -> Arc<LiveBackend> {
    Arc::new(LiveBackend {
        key: BackendKey {
            instance: script.text(),
            service: script.text(),
            version: script.text(),
            exe_hash: [0; 32],
        },
        pid: script.u32(),
        start_time: 0,
        backend_pipe: PathBuf::from(script.text()),
        handoff_pipe: script.flag().then(|| PathBuf::from(script.text())),
        started_at_unix_ms: 0,
        process: None,
    })
}

/// A Hello reply frame survives the wire and obeys ENV-4; a Refused obeys
/// REF-1 and REF-2; a Negotiated obeys NEG-1 and NEG-7.
fn assert_hello_reply(frame: &Frame) {
    let reply = over_the_wire(frame);
    assert_reply_envelope(&reply, PAYLOAD_PROTOCOL_CONTROL, &ReplyContext::echo(frame));
    let decoded: HelloReply = decode_payload(&reply)
        .unwrap_or_else(|e| panic!("the payload is not a HelloReply (ENV-4): {e}"));
    match decoded.result {
        Some(hello_reply::Result::Refused(refused)) => {
            assert_eq!(
                (refused.daemon_min_protocol, refused.daemon_max_protocol),
                (PROTOCOL_VERSION, PROTOCOL_VERSION),
                "REF-1"
            );
            let code = ErrorCode::try_from(refused.code)
                .unwrap_or_else(|_| panic!("unknown code {}", refused.code));
            assert_eq!(
                refused.retry_after_ms == 0,
                is_permanent(code),
                "REF-2: {code:?} with retry_after_ms {}",
                refused.retry_after_ms
            );
        }
        Some(hello_reply::Result::Negotiated(negotiated)) => {
            assert_eq!(negotiated.negotiated_protocol, PROTOCOL_VERSION, "NEG-1");
            let token = negotiated.handle_passed_token.len();
            assert!(
                token == 0
                    || (token == HANDOFF_TOKEN_LEN
                        && negotiated.server_capabilities & CAP_HANDLE_PASSING != 0),
                "NEG-7: token of {token} bytes, capabilities {}",
                negotiated.server_capabilities
            );
        }
        None => panic!("a HelloReply without a result"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(seed: &str) -> Vec<&'static str> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/hello_machine")
            .join(seed);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut seen = Vec::new();
        drive(&data, |name| seen.push(name));
        seen
    }

    /// The seeds reach the machine's deep stages, so mutations start there.
    #[test]
    fn the_seed_scripts_drive_the_machine_to_its_ends() {
        assert_eq!(
            actions("script-negotiated"),
            ["read", "load", "binary", "acquire", "reply", "close"]
        );
        assert_eq!(
            actions("script-handoff"),
            [
                "read", "load", "binary", "acquire", "token", "reply", "handoff", "close"
            ]
        );
        assert_eq!(
            actions("script-framing-refused"),
            ["read", "reply", "close"]
        );
    }
}
