//! What every reply to a mutated frame must obey, as a pure check: the
//! reply decodes (FRM-7), a Hello reply has the ENV-4 envelope and echoes
//! the request (FRM-11), and a Refused carries REF-1's range and REF-2's
//! retry hint. The fuzz target `hello_frame` asserts the same rules through
//! [`check_refused`] and [`check_hello_envelope`].

use bytes::Bytes;

use crate::proto::v1::{ErrorCode, Frame, FrameKind, HelloReply, Refused, hello_reply};
use crate::wire::framing::{decode_frame_body, split_frame};
use crate::wire::{
    MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CONTROL, PROTOCOL_VERSION,
    ReplyContext, check_envelope, decode_payload,
};

/// A broken rule, with the clause it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{clause}: {message}")]
pub struct Violation {
    /// The clause ID.
    pub clause: &'static str,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl Violation {
    fn new(clause: &'static str, message: impl Into<String>) -> Self {
        Self {
            clause,
            message: message.into(),
        }
    }
}

/// REF-2's permanent refusals (malformed, invalid, unknown service, peer
/// rejected), by code: exactly these carry `retry_after_ms` 0.
pub(crate) fn is_permanent(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ErrorPeerRejected
            | ErrorCode::ErrorVersionUnsupported
            | ErrorCode::ErrorServiceUnknown
    )
}

/// ENV-4 and FRM-11 for a reply of `payload_protocol` to a request echoed
/// as `ctx`.
pub(crate) fn check_hello_envelope(
    reply: &Frame,
    payload_protocol: u32,
    ctx: &ReplyContext,
) -> Result<(), Violation> {
    check_envelope(reply, FrameKind::Response, payload_protocol)
        .map_err(|e| Violation::new("ENV-4", e.to_string()))?;
    if reply.deadline_unix_ms != 0 {
        return Err(Violation::new(
            "ENV-4",
            format!("deadline_unix_ms {} in a reply", reply.deadline_unix_ms),
        ));
    }
    let echoed = ReplyContext::echo(reply);
    if echoed != *ctx {
        return Err(Violation::new(
            "FRM-11",
            format!("the reply echoes {echoed:?}, the request was {ctx:?}"),
        ));
    }
    Ok(())
}

/// REF-1 and REF-2 for one Refused.
pub(crate) fn check_refused(refused: &Refused) -> Result<(), Violation> {
    let range = (refused.daemon_min_protocol, refused.daemon_max_protocol);
    if range != (PROTOCOL_VERSION, PROTOCOL_VERSION) {
        return Err(Violation::new(
            "REF-1",
            format!("daemon protocol range {}..{}, not 1..1", range.0, range.1),
        ));
    }
    let code = ErrorCode::try_from(refused.code)
        .map_err(|_| Violation::new("REF-2", format!("unknown code {}", refused.code)))?;
    if (refused.retry_after_ms == 0) != is_permanent(code) {
        return Err(Violation::new(
            "REF-2",
            format!(
                "{code:?} with retry_after_ms {} ({})",
                refused.retry_after_ms,
                if is_permanent(code) {
                    "a permanent refusal must carry 0"
                } else {
                    "a retryable refusal must carry a hint"
                }
            ),
        ));
    }
    Ok(())
}

/// The request contexts a reply to `sent` may echo: that of its first
/// frame when it decodes, and always the undecoded one (a broker may
/// refuse before reading the body: FRM-3, FRM-5, FRM-8).
pub(crate) fn allowed_echoes(sent: &[u8]) -> Vec<ReplyContext> {
    let mut allowed = vec![ReplyContext::undecoded()];
    if let Ok((body, _)) = split_frame(&Bytes::copy_from_slice(sent), MAX_FRAME_BYTES)
        && let Ok(frame) = decode_frame_body(body)
    {
        allowed.push(ReplyContext::echo(&frame));
    }
    allowed
}

/// Judges the reply body a broker sent to `sent`: it decodes as a `Frame`;
/// an admin reply (only to an admin request) has the admin envelope; any
/// other reply is a Hello reply with ENV-4's envelope, and a Refused obeys
/// REF-1 and REF-2.
pub fn check_reply(sent: &[u8], reply_body: &[u8]) -> Result<(), Violation> {
    let reply = decode_frame_body(Bytes::copy_from_slice(reply_body))
        .map_err(|e| Violation::new("ENV-4", format!("the reply does not decode: {e}")))?;
    let allowed = allowed_echoes(sent);
    let protocol = if reply.payload_protocol == PAYLOAD_PROTOCOL_ADMIN {
        PAYLOAD_PROTOCOL_ADMIN
    } else {
        PAYLOAD_PROTOCOL_CONTROL
    };
    let mut echo = Ok(());
    for ctx in &allowed {
        echo = check_hello_envelope(&reply, protocol, ctx);
        if echo.is_ok() {
            break;
        }
    }
    echo?;
    if protocol == PAYLOAD_PROTOCOL_ADMIN {
        return Ok(());
    }
    let hello: HelloReply = decode_payload(&reply)
        .map_err(|e| Violation::new("ENV-4", format!("the payload is not a HelloReply: {e}")))?;
    match hello.result {
        Some(hello_reply::Result::Refused(refused)) => check_refused(&refused),
        Some(_) => Ok(()),
        None => Err(Violation::new("ENV-4", "a HelloReply with no result")),
    }
}

/// The result a Hello reply body carries, when it decodes as one.
pub(crate) fn hello_result(reply_body: &[u8]) -> Option<hello_reply::Result> {
    let reply = decode_frame_body(Bytes::copy_from_slice(reply_body)).ok()?;
    decode_payload::<HelloReply>(&reply).ok()?.result
}

/// The refusal code of a Hello reply body, when it is a Refused.
pub(crate) fn refusal_code(reply_body: &[u8]) -> Option<ErrorCode> {
    match hello_result(reply_body)? {
        hello_reply::Result::Refused(r) => ErrorCode::try_from(r.code).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Refusal;
    use crate::wire::frames::{refused_message_reply, refused_reply};
    use crate::wire::framing::encode_frame;

    fn body(frame: &Frame) -> Vec<u8> {
        encode_frame(frame).unwrap_or_else(|e| panic!("{e}"))[5..].to_vec()
    }

    const GARBAGE: &[u8] = b"\x02garbage";

    #[test]
    fn a_correct_refusal_passes() {
        let reply = refused_reply(&ReplyContext::undecoded(), &Refusal::MalformedFrame);
        assert_eq!(check_reply(GARBAGE, &body(&reply)), Ok(()));
    }

    #[test]
    fn a_refusal_without_the_daemon_range_breaks_ref_1() {
        let mut refused = Refusal::MalformedFrame.to_refused();
        refused.daemon_max_protocol = 0;
        let reply = refused_message_reply(&ReplyContext::undecoded(), refused);
        let v = check_reply(GARBAGE, &body(&reply)).unwrap_err();
        assert_eq!(v.clause, "REF-1");
    }

    #[test]
    fn a_permanent_refusal_with_a_retry_hint_breaks_ref_2() {
        let mut refused = Refusal::ServiceUnknown.to_refused();
        refused.retry_after_ms = 5;
        let reply = refused_message_reply(&ReplyContext::undecoded(), refused);
        assert_eq!(
            check_reply(GARBAGE, &body(&reply)).unwrap_err().clause,
            "REF-2"
        );
    }

    #[test]
    fn a_wrong_echo_or_kind_or_garbage_is_caught() {
        let ctx = ReplyContext {
            request_id: 99,
            ..ReplyContext::default()
        };
        let reply = refused_reply(&ctx, &Refusal::MalformedFrame);
        assert_eq!(
            check_reply(GARBAGE, &body(&reply)).unwrap_err().clause,
            "FRM-11"
        );
        let mut request = refused_reply(&ReplyContext::undecoded(), &Refusal::MalformedFrame);
        request.kind = FrameKind::Request as i32;
        assert_eq!(
            check_reply(GARBAGE, &body(&request)).unwrap_err().clause,
            "ENV-4"
        );
        assert_eq!(
            check_reply(GARBAGE, b"\xff\xff").unwrap_err().clause,
            "ENV-4"
        );
    }
}
