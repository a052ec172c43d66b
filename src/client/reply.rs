//! Pure checks of what the broker sends back: the Hello reply (ENV-1,
//! CLI-4, NEG-7), the admin reply (ADM-1) and the handoff EVENT (HOF-8).

use super::error::ClientError;
use super::request::ConnectRequest;
use crate::proto::v1::{
    AdminReply, ErrorCode, Frame, FrameKind, HandoffAck, HelloReply, Negotiated, hello_reply,
};
use crate::wire::{
    CAP_HANDLE_PASSING, EnvelopeError, HANDOFF_TOKEN_LEN, PAYLOAD_PROTOCOL_ADMIN,
    PAYLOAD_PROTOCOL_CONTROL, PAYLOAD_PROTOCOL_HANDOFF, check_envelope, decode_payload,
};

/// ENV-1 then decode: the `HelloReply` in a reply frame (CLI-4).
pub(crate) fn decode_hello_reply(frame: &Frame) -> Result<HelloReply, ClientError> {
    check_envelope(frame, FrameKind::Response, PAYLOAD_PROTOCOL_CONTROL)
        .map_err(ClientError::Envelope)?;
    decode_payload(frame)
        .map_err(|e| ClientError::Malformed(format!("HelloReply payload does not decode: {e}")))
}

/// ENV-1 then decode: the `AdminReply` in a reply frame (ADM-1).
pub(crate) fn decode_admin_reply(frame: &Frame) -> Result<AdminReply, ClientError> {
    check_envelope(frame, FrameKind::Response, PAYLOAD_PROTOCOL_ADMIN)
        .map_err(ClientError::Envelope)?;
    decode_payload(frame)
        .map_err(|e| ClientError::Malformed(format!("AdminReply payload does not decode: {e}")))
}

/// The usable `Negotiated` in a reply, or why there is none: a refusal
/// becomes a typed [`ClientError::Refused`] (CLI-4); a reply without a
/// result, an empty `backend_pipe` (CLI-4) or a token that is neither empty
/// nor 16 bytes (NEG-7) is [`ClientError::Malformed`].
pub(crate) fn negotiated_from_reply(reply: HelloReply) -> Result<Negotiated, ClientError> {
    let negotiated = negotiated_or_refused(reply)?;
    if negotiated.backend_pipe.is_empty() {
        return Err(ClientError::Malformed(
            "Negotiated has an empty backend_pipe (CLI-4)".to_owned(),
        ));
    }
    let token_len = negotiated.handle_passed_token.len();
    if token_len != 0 && token_len != HANDOFF_TOKEN_LEN {
        return Err(ClientError::Malformed(format!(
            "Negotiated handle_passed_token is {token_len} bytes, not 0 or {HANDOFF_TOKEN_LEN} (NEG-7)"
        )));
    }
    Ok(negotiated)
}

/// The `Negotiated` in a reply as it came, or its refusal as a typed
/// [`ClientError::Refused`] (CLI-4); a reply without a result is
/// [`ClientError::Malformed`].
pub(crate) fn negotiated_or_refused(reply: HelloReply) -> Result<Negotiated, ClientError> {
    match reply.result {
        None => Err(ClientError::Malformed(
            "HelloReply carries neither Negotiated nor Refused".to_owned(),
        )),
        Some(hello_reply::Result::Refused(refused)) => Err(ClientError::Refused {
            code: ErrorCode::try_from(refused.code).unwrap_or(ErrorCode::Unspecified),
            raw_code: refused.code,
            reason: refused.reason,
            retry_after_ms: refused.retry_after_ms,
        }),
        Some(hello_reply::Result::Negotiated(negotiated)) => Ok(negotiated),
    }
}

/// The handoff token to wait for, when adoption is on the table (HOF-8):
/// the caller opted in, the broker issued a 16-byte token and set
/// capability bit 0. (This client always advertises the bit on Unix.)
pub(crate) fn handoff_token<'a>(
    request: &ConnectRequest,
    negotiated: &'a Negotiated,
) -> Option<&'a [u8]> {
    let token = negotiated.handle_passed_token.as_ref();
    (request.adopt_handoff
        && token.len() == HANDOFF_TOKEN_LEN
        && negotiated.server_capabilities & CAP_HANDLE_PASSING != 0)
        .then_some(token)
}

/// Why a frame read after Negotiated does not complete a handoff (HOF-8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandoffRejection {
    /// Not an EVENT of protocol 0xD0FF with encoding NONE.
    #[error("not a handoff EVENT: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a `HandoffAck`.
    #[error("the HandoffAck does not decode: {0}")]
    Undecodable(String),
    /// The token is not the negotiated one.
    #[error("the HandoffAck token does not match the negotiated token")]
    TokenMismatch,
    /// The backend did not accept.
    #[error("the HandoffAck says accepted=false")]
    NotAccepted,
}

/// HOF-8: a frame completes the handoff only when it is an EVENT of
/// protocol 0xD0FF whose `HandoffAck` echoes `token` with `accepted=true`.
pub(crate) fn check_handoff_event(frame: &Frame, token: &[u8]) -> Result<(), HandoffRejection> {
    check_envelope(frame, FrameKind::Event, PAYLOAD_PROTOCOL_HANDOFF)?;
    let ack: HandoffAck =
        decode_payload(frame).map_err(|e| HandoffRejection::Undecodable(e.to_string()))?;
    if ack.token.as_ref() != token {
        return Err(HandoffRejection::TokenMismatch);
    }
    if !ack.accepted {
        return Err(HandoffRejection::NotAccepted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::Hello;
    use crate::wire::frames::{handoff_ack, handoff_event, negotiated};

    const TOKEN: [u8; 16] = [7; 16];

    fn offered() -> Negotiated {
        negotiated(&Hello::default(), "/be.sock", 1, Some(TOKEN))
    }

    #[test]
    fn a_token_is_waited_for_only_with_opt_in_token_and_capability() {
        let adopt = ConnectRequest {
            adopt_handoff: true,
            ..ConnectRequest::new("/b", "s", "1.0.0")
        };
        assert_eq!(handoff_token(&adopt, &offered()), Some(&TOKEN[..]));
        let no_opt_in = ConnectRequest::new("/b", "s", "1.0.0");
        assert_eq!(handoff_token(&no_opt_in, &offered()), None);
        let no_bit = Negotiated {
            server_capabilities: 0,
            ..offered()
        };
        assert_eq!(handoff_token(&adopt, &no_bit), None);
        let no_token = negotiated(&Hello::default(), "/be.sock", 1, None);
        assert_eq!(handoff_token(&adopt, &no_token), None);
    }

    #[test]
    fn only_an_accepted_event_with_the_token_completes_the_handoff() {
        assert_eq!(
            check_handoff_event(&handoff_event(&TOKEN, 3), &TOKEN),
            Ok(())
        );
        assert_eq!(
            check_handoff_event(&handoff_event(&[8; 16], 3), &TOKEN),
            Err(HandoffRejection::TokenMismatch)
        );
        let refused = HandoffAck {
            token: TOKEN.to_vec().into(),
            accepted: false,
            error_detail: "no".into(),
            correlation_id: 3,
        };
        let mut event = handoff_ack(&refused);
        event.kind = FrameKind::Event as i32;
        assert_eq!(
            check_handoff_event(&event, &TOKEN),
            Err(HandoffRejection::NotAccepted)
        );
        let mut response = handoff_event(&TOKEN, 3);
        response.kind = FrameKind::Response as i32;
        assert!(matches!(
            check_handoff_event(&response, &TOKEN),
            Err(HandoffRejection::Envelope(_))
        ));
    }
}
