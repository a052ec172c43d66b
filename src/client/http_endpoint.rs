//! v2 HTTP endpoint helpers (spec §12): the discovery-file reader (V2K-5),
//! GetBrokerHttpEndpoint (V2K-6) and BackendHttpReady (V2K-7). Replies are
//! classified by pure functions; the socket work is `exchange`'s.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;

use super::error::ClientError;
use super::exchange::{Steps, next_request_id, round_trip};
use crate::env::EnvSource;
use crate::http::{DiscoveryError, read_discovery_file};
use crate::proto::v1::{Frame, FrameKind, HelloReply, hello_reply};
use crate::proto::v2::GetBrokerHttpEndpointResponse;
use crate::wire::frames::{http_endpoint_request, http_ready_request};
use crate::wire::{
    PAYLOAD_PROTOCOL_CONTROL, PAYLOAD_PROTOCOL_HTTP_ENDPOINT, PAYLOAD_PROTOCOL_HTTP_READY,
    check_envelope, env_vars,
};

/// The request id V2K-6 prescribes.
const ENDPOINT_REQUEST_ID: u64 = 1;

const ENDPOINT_STEPS: Steps = Steps {
    send: "sending GetBrokerHttpEndpoint",
    receive: "waiting for the GetBrokerHttpEndpoint reply",
};

const READY_STEPS: Steps = Steps {
    send: "sending BackendHttpReady",
    receive: "waiting for the BackendHttpReady reply",
};

/// What GetBrokerHttpEndpoint reports (V2R-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerHttpEndpoint {
    /// The HTTP surface's port; 0 when the broker serves none.
    pub port: u16,
    /// The broker's process id.
    pub pid: u32,
}

/// How a BackendHttpReady report ended (V2K-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyOutcome {
    /// The broker answered V2R-5's empty RESPONSE.
    Accepted,
    /// The broker closed without a reply (V2R-6).
    Rejected,
    /// `RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE` is unset: nothing was dialled.
    NoBroker,
}

/// Why an HTTP endpoint helper failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpEndpointError {
    /// The broker answered with a `HelloReply` refusal or closed without a
    /// reply: it does not implement the RPC (V2K-6).
    #[error("GetBrokerHttpEndpoint is not supported by the broker at {}: {detail}", endpoint.display())]
    NotSupported {
        /// The control socket.
        endpoint: PathBuf,
        /// What it did instead.
        detail: String,
    },
    /// Connecting or the round trip failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A reply came but is not the RPC's.
    #[error("the reply to {rpc} is malformed: {detail}")]
    Malformed {
        /// The RPC.
        rpc: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The discovery file could not be read or parsed (V2K-5).
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// V2K-5: the HTTP surface's address from a discovery file; `None` when the
/// file is absent (no surface is running).
pub fn read_http_port_file(path: &Path) -> Result<Option<SocketAddr>, HttpEndpointError> {
    Ok(read_discovery_file(path)?)
}

/// V2K-6: asks the broker at `socket` for its HTTP endpoint, within `timeout`.
pub fn get_broker_http_endpoint(
    socket: &Path,
    timeout: Duration,
) -> Result<BrokerHttpEndpoint, HttpEndpointError> {
    let request = http_endpoint_request(ENDPOINT_REQUEST_ID);
    let reply = round_trip(socket, &request, timeout, ENDPOINT_STEPS).map(|(_, frame)| frame);
    endpoint_from_reply(socket, reply)
}

/// V2K-7: reports `port` to the broker named by
/// `RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE` in `env`.
pub fn report_http_ready(
    env: &dyn EnvSource,
    port: u32,
    timeout: Duration,
) -> Result<ReadyOutcome, HttpEndpointError> {
    match env.var(env_vars::V2_CONTROL_PIPE) {
        Some(pipe) => report_http_ready_to(Path::new(&pipe), port, timeout),
        None => Ok(ReadyOutcome::NoBroker),
    }
}

/// V2K-7 to an explicit control socket. `port` is sent as given (a u32 on
/// the wire), so a test can send one the broker must refuse.
pub fn report_http_ready_to(
    control: &Path,
    port: u32,
    timeout: Duration,
) -> Result<ReadyOutcome, HttpEndpointError> {
    let request = http_ready_request(port, next_request_id());
    let reply = round_trip(control, &request, timeout, READY_STEPS).map(|(_, frame)| frame);
    ready_from_reply(request.request_id, reply)
}

/// V2K-6's classification of what came back.
fn endpoint_from_reply(
    endpoint: &Path,
    reply: Result<Frame, ClientError>,
) -> Result<BrokerHttpEndpoint, HttpEndpointError> {
    let not_supported = |detail: String| HttpEndpointError::NotSupported {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let malformed = |detail: String| HttpEndpointError::Malformed {
        rpc: "GetBrokerHttpEndpoint",
        detail,
    };
    let frame = match reply {
        Ok(frame) => frame,
        Err(ClientError::Framing(e)) if e.is_clean_close() => {
            return Err(not_supported("closed without a reply".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if frame.payload_protocol == PAYLOAD_PROTOCOL_CONTROL {
        return Err(not_supported(describe_hello_reply(&frame)));
    }
    check_reply_envelope(&frame, PAYLOAD_PROTOCOL_HTTP_ENDPOINT, ENDPOINT_REQUEST_ID)
        .map_err(malformed)?;
    let body = GetBrokerHttpEndpointResponse::decode(frame.payload)
        .map_err(|e| malformed(e.to_string()))?;
    let port = u16::try_from(body.port)
        .map_err(|_| malformed(format!("port {} is above 65535", body.port)))?;
    Ok(BrokerHttpEndpoint {
        port,
        pid: body.pid,
    })
}

/// V2K-7's classification: the empty RESPONSE is success, a close without
/// a reply is a rejection, anything else is malformed.
fn ready_from_reply(
    request_id: u64,
    reply: Result<Frame, ClientError>,
) -> Result<ReadyOutcome, HttpEndpointError> {
    let malformed = |detail: String| HttpEndpointError::Malformed {
        rpc: "BackendHttpReady",
        detail,
    };
    let frame = match reply {
        Ok(frame) => frame,
        Err(ClientError::Framing(e)) if e.is_clean_close() => return Ok(ReadyOutcome::Rejected),
        Err(e) => return Err(e.into()),
    };
    check_reply_envelope(&frame, PAYLOAD_PROTOCOL_HTTP_READY, request_id).map_err(malformed)?;
    if !frame.payload.is_empty() {
        return Err(malformed(format!(
            "{} payload bytes, expected none",
            frame.payload.len()
        )));
    }
    Ok(ReadyOutcome::Accepted)
}

/// V2R-3's reply envelope: envelope 1, RESPONSE, the request's payload
/// protocol, encoding NONE, and the request's `request_id`.
fn check_reply_envelope(
    frame: &Frame,
    payload_protocol: u32,
    request_id: u64,
) -> Result<(), String> {
    check_envelope(frame, FrameKind::Response, payload_protocol).map_err(|e| e.to_string())?;
    if frame.request_id != request_id {
        return Err(format!(
            "request_id {} instead of {request_id}",
            frame.request_id
        ));
    }
    Ok(())
}

/// A `HelloReply` refusal in words, for "not supported".
fn describe_hello_reply(frame: &Frame) -> String {
    match HelloReply::decode(frame.payload.clone()).map(|r| r.result) {
        Ok(Some(hello_reply::Result::Refused(refused))) => format!(
            "refused as a Hello: {} ({:?})",
            super::error::code_name(refused.code),
            refused.reason
        ),
        Ok(_) => "answered with a HelloReply".into(),
        Err(e) => format!("answered with an undecodable HelloReply: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frames::{http_endpoint_reply, http_ready_reply, refused_reply};
    use crate::wire::framing::FramingError;
    use crate::wire::{Refusal, ReplyContext};

    fn ctx(request_id: u64) -> ReplyContext {
        ReplyContext {
            request_id,
            ..ReplyContext::default()
        }
    }

    fn eof() -> ClientError {
        ClientError::Framing(FramingError::Truncated {
            section: crate::wire::framing::FrameSection::Header,
            received: 0,
            expected: 5,
        })
    }

    #[test]
    fn endpoint_reply_gives_port_and_pid() {
        let reply = http_endpoint_reply(&ctx(1), 4242, 99_999);
        let got = endpoint_from_reply(Path::new("/s"), Ok(reply)).unwrap();
        assert_eq!(
            got,
            BrokerHttpEndpoint {
                port: 4242,
                pid: 99_999
            }
        );
    }

    #[test]
    fn a_refusal_or_a_silent_close_is_not_supported_and_io_is_not() {
        let refused = refused_reply(&ctx(1), &Refusal::ServiceUnknown);
        for reply in [Ok(refused), Err(eof())] {
            let err = endpoint_from_reply(Path::new("/s"), reply).unwrap_err();
            assert!(
                matches!(err, HttpEndpointError::NotSupported { .. }),
                "{err}"
            );
        }
        let io = ClientError::Io {
            during: "x",
            source: std::io::Error::other("boom"),
        };
        let err = endpoint_from_reply(Path::new("/s"), Err(io)).unwrap_err();
        assert!(matches!(err, HttpEndpointError::Client(_)), "{err}");
    }

    #[test]
    fn a_wrong_request_id_is_malformed() {
        let reply = http_endpoint_reply(&ctx(2), 1, 1);
        let err = endpoint_from_reply(Path::new("/s"), Ok(reply)).unwrap_err();
        assert!(matches!(err, HttpEndpointError::Malformed { .. }), "{err}");
    }

    #[test]
    fn ready_accepted_only_on_the_empty_response_and_eof_is_rejected() {
        assert_eq!(
            ready_from_reply(7, Ok(http_ready_reply(&ctx(7)))).unwrap(),
            ReadyOutcome::Accepted
        );
        assert_eq!(
            ready_from_reply(7, Err(eof())).unwrap(),
            ReadyOutcome::Rejected
        );
        let mut with_payload = http_ready_reply(&ctx(7));
        with_payload.payload = bytes::Bytes::from_static(&[8, 1]);
        assert!(ready_from_reply(7, Ok(with_payload)).is_err());
        assert!(ready_from_reply(8, Ok(http_ready_reply(&ctx(7)))).is_err());
    }

    #[test]
    fn no_control_pipe_means_no_broker_and_nothing_dialled() {
        let env = crate::env::MapEnv::default();
        assert_eq!(
            report_http_ready(&env, 8080, Duration::from_millis(1)).unwrap(),
            ReadyOutcome::NoBroker
        );
    }
}
