//! The control RPCs on the launching broker's control socket (spec §9):
//! GetBrokerHttpEndpoint (`0x4845`) and BackendHttpReady (`0x4852`). The
//! Hello machine routes a first frame here after ENV-3's admin branch and
//! FRM-3's cap (V2R-2); [`parse`] checks the request (V2R-3, V2R-6) and
//! [`reply`] decides the answer from what the broker knows, both pure;
//! the connection shell supplies what the broker knows.

use crate::proto::v1::{Frame, FrameKind};
use crate::proto::v2::{BackendHttpReady, GetBrokerHttpEndpointRequest};
use crate::wire::frames::{http_endpoint_reply, http_ready_reply};
use crate::wire::{
    PAYLOAD_PROTOCOL_HTTP_ENDPOINT, PAYLOAD_PROTOCOL_HTTP_READY, ReplyContext, check_envelope,
    decode_payload,
};

/// A control RPC that passed V2R-3's envelope checks and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlRequest {
    /// GetBrokerHttpEndpoint (V2R-4).
    GetEndpoint,
    /// BackendHttpReady with a port in 1…65535 (V2R-5).
    Ready {
        /// The reported port.
        port: u16,
    },
}

/// One accepted control-RPC request, with what its reply echoes and the
/// sender's kernel-verified pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlRpc {
    /// The request.
    pub(crate) request: ControlRequest,
    /// `request_id`, `traceparent`, `tracestate` to echo (V2R-3).
    pub(crate) ctx: ReplyContext,
    /// SO_PEERCRED's pid (V2R-5).
    pub(crate) peer_pid: u32,
}

/// True for the payload protocols of spec §9's table.
pub(crate) fn is_control_rpc(payload_protocol: u32) -> bool {
    matches!(
        payload_protocol,
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT | PAYLOAD_PROTOCOL_HTTP_READY
    )
}

/// V2R-3 and V2R-6: the request, or `None` — close without a byte — for a
/// frame that is not envelope 1, REQUEST, encoding NONE, whose payload does
/// not decode, or that reports port 0 or one above 65535.
pub(crate) fn parse(frame: &Frame, peer_pid: u32) -> Option<ControlRpc> {
    check_envelope(frame, FrameKind::Request, frame.payload_protocol).ok()?;
    let request = match frame.payload_protocol {
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT => {
            decode_payload::<GetBrokerHttpEndpointRequest>(frame).ok()?;
            ControlRequest::GetEndpoint
        }
        PAYLOAD_PROTOCOL_HTTP_READY => {
            let ready = decode_payload::<BackendHttpReady>(frame).ok()?;
            match u16::try_from(ready.port) {
                Ok(port) if port != 0 => ControlRequest::Ready { port },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(ControlRpc {
        request,
        ctx: ReplyContext::echo(frame),
        peer_pid,
    })
}

/// V2R-4, V2R-5, V2R-6: the reply frame, or `None` for no reply. `accept`
/// records a report and says whether its sender is a live backend this
/// broker spawned for a definition declaring `http_server`.
pub(crate) fn reply(
    rpc: &ControlRpc,
    http_port: u16,
    broker_pid: u32,
    accept: impl FnOnce(u32, u16) -> bool,
) -> Option<Frame> {
    match rpc.request {
        ControlRequest::GetEndpoint => Some(http_endpoint_reply(&rpc.ctx, http_port, broker_pid)),
        ControlRequest::Ready { port } => {
            accept(rpc.peer_pid, port).then(|| http_ready_reply(&rpc.ctx))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message;

    use super::*;
    use crate::proto::v1::PayloadEncoding;
    use crate::proto::v2::GetBrokerHttpEndpointResponse;
    use crate::wire::frames::{http_endpoint_request, http_ready_request};

    fn traced(mut frame: Frame) -> Frame {
        frame.traceparent = "00-aa-bb-01".into();
        frame.tracestate = "k=v".into();
        frame
    }

    #[test]
    fn get_endpoint_reports_port_and_pid_echoing_the_request() {
        let request = traced(http_endpoint_request(9));
        let rpc = parse(&request, 1).unwrap_or_else(|| panic!("refused"));
        assert_eq!(rpc.request, ControlRequest::GetEndpoint);
        let frame = reply(&rpc, 4242, 99_999, |_, _| panic!("no report")).unwrap();
        assert_eq!(frame.envelope_version, 1);
        assert_eq!(frame.kind, FrameKind::Response as i32);
        assert_eq!(frame.payload_protocol, PAYLOAD_PROTOCOL_HTTP_ENDPOINT);
        assert_eq!(frame.payload_encoding, PayloadEncoding::None as i32);
        assert_eq!(frame.deadline_unix_ms, 0);
        assert_eq!(
            (
                frame.request_id,
                frame.traceparent.as_str(),
                frame.tracestate.as_str()
            ),
            (9, "00-aa-bb-01", "k=v")
        );
        let body = GetBrokerHttpEndpointResponse::decode(frame.payload).unwrap();
        assert_eq!((body.port, body.pid), (4242, 99_999));
    }

    #[test]
    fn get_endpoint_accepts_any_protobuf_payload_and_reports_0_without_a_surface() {
        let mut request = http_endpoint_request(1);
        request.payload = Bytes::from_static(&[0x08, 0x05]); // an unknown field
        let rpc = parse(&request, 1).unwrap();
        let frame = reply(&rpc, 0, 7, |_, _| false).unwrap();
        assert_eq!(
            GetBrokerHttpEndpointResponse::decode(frame.payload)
                .unwrap()
                .port,
            0
        );
    }

    #[test]
    fn ready_is_answered_with_an_empty_response_only_when_accepted() {
        let rpc = parse(&traced(http_ready_request(49_152, 7)), 321).unwrap();
        assert_eq!(rpc.request, ControlRequest::Ready { port: 49_152 });
        let mut seen = None;
        let frame = reply(&rpc, 0, 1, |pid, port| {
            seen = Some((pid, port));
            true
        })
        .unwrap();
        assert_eq!(seen, Some((321, 49_152)));
        assert_eq!(frame.payload_protocol, PAYLOAD_PROTOCOL_HTTP_READY);
        assert_eq!(frame.kind, FrameKind::Response as i32);
        assert!(frame.payload.is_empty());
        assert_eq!((frame.request_id, frame.tracestate.as_str()), (7, "k=v"));
        assert_eq!(
            reply(&rpc, 0, 1, |_, _| false),
            None,
            "V2R-6: foreign sender"
        );
    }

    #[test]
    fn every_bad_frame_gets_no_reply() {
        let ok = http_ready_request(8080, 1);
        let mut cases: Vec<(&str, Frame)> = Vec::new();
        cases.push(("port 0", http_ready_request(0, 1)));
        cases.push(("port 65536", http_ready_request(65_536, 1)));
        cases.push(("port 70000", http_ready_request(70_000, 1)));
        let mut f = ok.clone();
        f.envelope_version = 2;
        cases.push(("envelope_version", f));
        let mut f = ok.clone();
        f.kind = FrameKind::Response as i32;
        cases.push(("kind RESPONSE", f));
        let mut f = ok.clone();
        f.payload_encoding = PayloadEncoding::Zstd as i32;
        cases.push(("encoding", f));
        let mut f = ok.clone();
        f.payload = Bytes::from_static(&[0xff]);
        cases.push(("undecodable", f));
        let mut f = http_endpoint_request(1);
        f.payload = Bytes::from_static(&[0x0a, 0x05]);
        cases.push(("undecodable endpoint request", f));
        for (what, frame) in cases {
            assert_eq!(parse(&frame, 1), None, "{what}");
        }
    }

    #[test]
    fn only_the_two_allocated_protocols_are_control_rpcs() {
        assert!(is_control_rpc(0x4845));
        assert!(is_control_rpc(0x4852));
        for other in [0, 0xAD01, 0x5350, 0x4846] {
            assert!(!is_control_rpc(other), "{other:#x}");
        }
    }
}
