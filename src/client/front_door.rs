//! A Hello against a v2 front door (v2 spec V2K-1…V2K-4): the socket found
//! from the program name, a request with `request_id = 1` and protocol 1..1,
//! a reply accepted only with V2K-2's envelope, and an empty `backend_pipe`
//! reported as "no backend yet", never as a refusal.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ClientError;
use super::exchange::{HELLO_STEPS, round_trip};
use super::reply::{decode_hello_reply, negotiated_or_refused};
use crate::env::EnvSource;
use crate::paths::{FrontDoorPaths, machine_id};
use crate::proto::v1::{Frame, Hello, HelloReply, Negotiated};
use crate::wire::PROTOCOL_VERSION;
use crate::wire::frames::hello_request;

/// The bound on connect plus Hello without another setting (V2K-3).
pub const FRONT_DOOR_TIMEOUT: Duration = Duration::from_secs(3);

/// The `request_id` of a front-door Hello and of its reply (V2K-2).
pub const FRONT_DOOR_REQUEST_ID: u64 = 1;

/// What a front door answered to a Hello it negotiated.
#[derive(Debug, Clone, PartialEq)]
pub enum FrontDoorAnswer {
    /// A published daemon: connect to `pipe`, a second connection made
    /// after the broker's is closed (V2K-4).
    Backend {
        /// The daemon's endpoint.
        pipe: PathBuf,
        /// The whole answer.
        negotiated: Negotiated,
    },
    /// Negotiated with an empty `backend_pipe`: no backend yet (V2K-4).
    NoBackendYet {
        /// The whole answer.
        negotiated: Negotiated,
    },
}

/// One front-door Hello as sent and received; the connection is closed.
#[derive(Debug, Clone)]
pub struct FrontDoorExchange {
    /// The request frame sent.
    pub request: Frame,
    /// The reply frame, its envelope and `request_id` checked (V2K-2).
    pub reply_frame: Frame,
    /// Its decoded `HelloReply`.
    pub reply: HelloReply,
}

impl FrontDoorExchange {
    /// The answer: a refusal as [`ClientError::Refused`] (CLI-4), otherwise
    /// the pipe or "no backend yet" (V2K-4).
    pub fn answer(&self) -> Result<FrontDoorAnswer, ClientError> {
        front_door_answer(self.reply.clone())
    }
}

/// V2K-1: the socket of the front door for `program`, for this real uid.
pub fn front_door_socket(env: &dyn EnvSource, program: &str) -> io::Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    Ok(FrontDoorPaths::resolve(env, uid, &machine_id()?, program).socket)
}

/// V2K-2: the Hello frame for `service` at `version`.
pub fn front_door_hello_frame(service: &str, version: &str) -> Frame {
    let hello = Hello {
        client_min_protocol: PROTOCOL_VERSION,
        client_max_protocol: PROTOCOL_VERSION,
        service_name: service.to_owned(),
        wanted_version: version.to_owned(),
        ..Hello::default()
    };
    hello_request(&hello, FRONT_DOOR_REQUEST_ID)
}

/// V2K-2: the `HelloReply` of a reply frame with envelope_version 1, kind
/// RESPONSE, payload_protocol 0, encoding NONE and `request_id = 1`.
pub fn check_front_door_reply(frame: &Frame) -> Result<HelloReply, ClientError> {
    if frame.request_id != FRONT_DOOR_REQUEST_ID {
        return Err(ClientError::Malformed(format!(
            "reply request_id is {}, not {FRONT_DOOR_REQUEST_ID} (V2K-2)",
            frame.request_id
        )));
    }
    decode_hello_reply(frame)
}

/// V2K-4: a negotiated reply's pipe, or "no backend yet"; a refusal is
/// [`ClientError::Refused`].
pub fn front_door_answer(reply: HelloReply) -> Result<FrontDoorAnswer, ClientError> {
    let negotiated = negotiated_or_refused(reply)?;
    Ok(if negotiated.backend_pipe.is_empty() {
        FrontDoorAnswer::NoBackendYet { negotiated }
    } else {
        FrontDoorAnswer::Backend {
            pipe: PathBuf::from(&negotiated.backend_pipe),
            negotiated,
        }
    })
}

/// Connects to the front door at `socket` and does one Hello, all within
/// `timeout` (V2K-3: [`FRONT_DOOR_TIMEOUT`] by default); the connection is
/// closed before this returns, so reaching the backend is a second one.
pub fn front_door_exchange(
    socket: &std::path::Path,
    service: &str,
    version: &str,
    timeout: Duration,
) -> Result<FrontDoorExchange, ClientError> {
    let request = front_door_hello_frame(service, version);
    let (stream, reply_frame) = round_trip(socket, &request, timeout, HELLO_STEPS)?;
    drop(stream);
    let reply = check_front_door_reply(&reply_frame)?;
    Ok(FrontDoorExchange {
        request,
        reply_frame,
        reply,
    })
}

/// [`front_door_exchange`], then its [`answer`](FrontDoorExchange::answer).
pub fn front_door_hello(
    socket: &std::path::Path,
    service: &str,
    version: &str,
    timeout: Duration,
) -> Result<FrontDoorAnswer, ClientError> {
    front_door_exchange(socket, service, version, timeout)?.answer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{ErrorCode, FrameKind};
    use crate::wire::frames::{negotiated_reply, refused_reply};
    use crate::wire::{Refusal, ReplyContext};

    fn reply_to(request: &Frame, negotiated: Negotiated) -> Frame {
        negotiated_reply(&ReplyContext::echo(request), negotiated)
    }

    fn negotiated(pipe: &str) -> Negotiated {
        Negotiated {
            negotiated_protocol: 1,
            daemon_version: "4.10.21".into(),
            backend_pipe: pipe.into(),
            ..Negotiated::default()
        }
    }

    #[test]
    fn v2k2_the_request_is_protocol_1_with_request_id_1() {
        let frame = front_door_hello_frame("zccache", "1.11.20");
        let mut bytes = Vec::new();
        crate::wire::framing::blocking::write_frame(&mut bytes, &frame)
            .unwrap_or_else(|e| panic!("{e}"));
        // v2 spec §15 vector B's request.
        assert_eq!(
            crate::inspect::to_hex(&bytes),
            "011c0000000801221608011001 1a077a636361636865 2207312e31312e3230 2801"
                .replace(' ', "")
        );
    }

    #[test]
    fn v2k4_an_empty_pipe_is_no_backend_yet_and_a_refusal_is_typed() {
        let request = front_door_hello_frame("svc", "1.0.0");
        let answer = |frame: &Frame| check_front_door_reply(frame).and_then(front_door_answer);
        assert_eq!(
            answer(&reply_to(&request, negotiated(""))).ok(),
            Some(FrontDoorAnswer::NoBackendYet {
                negotiated: negotiated("")
            })
        );
        assert_eq!(
            answer(&reply_to(&request, negotiated("/run/d.sock"))).ok(),
            Some(FrontDoorAnswer::Backend {
                pipe: "/run/d.sock".into(),
                negotiated: negotiated("/run/d.sock"),
            })
        );
        let refused = refused_reply(&ReplyContext::echo(&request), &Refusal::ServiceUnknown);
        assert!(matches!(
            answer(&refused),
            Err(ClientError::Refused {
                code: ErrorCode::ErrorServiceUnknown,
                ..
            })
        ));
    }

    #[test]
    fn v2k2_a_reply_with_another_request_id_or_envelope_is_rejected() {
        let request = front_door_hello_frame("svc", "1.0.0");
        let mut wrong_id = reply_to(&request, negotiated(""));
        wrong_id.request_id = 2;
        assert!(matches!(
            check_front_door_reply(&wrong_id),
            Err(ClientError::Malformed(m)) if m.contains("V2K-2")
        ));
        let edits: [fn(&mut Frame); 4] = [
            |f| f.envelope_version = 2,
            |f| f.kind = FrameKind::Request as i32,
            |f| f.payload_protocol = 0xAD01,
            |f| f.payload_encoding = 1,
        ];
        for edit in edits {
            let mut frame = reply_to(&request, negotiated(""));
            edit(&mut frame);
            assert!(matches!(
                check_front_door_reply(&frame),
                Err(ClientError::Envelope(_))
            ));
        }
    }
}
