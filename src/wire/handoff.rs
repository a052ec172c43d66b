//! The pure checks of connection handoff (§8): what a backend accepts as an
//! offer (HOF-3, HOF-9) and what a broker accepts as an ack (HOF-4, HOF-5).

use super::constants::{HANDOFF_TOKEN_LEN, PAYLOAD_PROTOCOL_HANDOFF};
use super::envelope::{EnvelopeError, check_envelope, decode_payload};
use crate::proto::v1::{Frame, FrameKind, HandoffAck, HandoffOffer};

/// Why a backend rejects an offer (HOF-9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferRejection {
    /// Not a handoff REQUEST.
    #[error("offer envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a HandoffOffer.
    #[error("malformed HandoffOffer payload")]
    Malformed,
    /// `request_id` differs from the offer's correlation id.
    #[error("frame request_id {request_id} differs from correlation_id {correlation_id}")]
    Correlation {
        /// The frame's request id.
        request_id: u64,
        /// The offer's correlation id.
        correlation_id: u64,
    },
    /// The offer's token is not the 16 bytes that came with the descriptor.
    #[error("handoff token mismatch")]
    TokenMismatch,
}

/// A decoded offer, with whether it carried the explicit `08 00` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOffer {
    /// The offer.
    pub offer: HandoffOffer,
    /// True when the payload began with `08 00` (HOF-3, Unix senders).
    pub explicit_handle: bool,
}

/// HOF-3, HOF-9: a backend's check of an offer frame against the token
/// bytes received with the descriptor. Both payload forms are accepted.
pub(crate) fn check_offer(
    frame: &Frame,
    received_token: &[u8],
) -> Result<CheckedOffer, OfferRejection> {
    check_envelope(frame, FrameKind::Request, PAYLOAD_PROTOCOL_HANDOFF)?;
    let offer: HandoffOffer = decode_payload(frame).map_err(|_| OfferRejection::Malformed)?;
    if frame.request_id != offer.correlation_id {
        return Err(OfferRejection::Correlation {
            request_id: frame.request_id,
            correlation_id: offer.correlation_id,
        });
    }
    if offer.token.as_ref() != received_token || offer.token.len() != HANDOFF_TOKEN_LEN {
        return Err(OfferRejection::TokenMismatch);
    }
    Ok(CheckedOffer {
        explicit_handle: frame.payload.starts_with(&[0x08, 0x00]),
        offer,
    })
}

/// Why a broker does not complete a handoff on an ack (HOF-5, HOF-6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AckRejection {
    /// Not a handoff RESPONSE.
    #[error("ack envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The frame's request id is not the correlation id.
    #[error("ack frame request_id {found} is not the correlation id {expected}")]
    RequestId {
        /// The offer's correlation id.
        expected: u64,
        /// The frame's request id.
        found: u64,
    },
    /// The payload is not a HandoffAck.
    #[error("malformed HandoffAck payload")]
    Malformed,
    /// The ack echoes another token.
    #[error("ack token does not match the offered token")]
    Token,
    /// The ack echoes another correlation id.
    #[error("ack correlation_id {found} is not {expected}")]
    Correlation {
        /// The offer's correlation id.
        expected: u64,
        /// The ack's.
        found: u64,
    },
    /// The backend declined.
    #[error("backend declined the handoff: {0}")]
    Declined(String),
}

/// HOF-4, HOF-5: only an ack with the offered token AND correlation id AND
/// `accepted = true` completes a handoff.
pub(crate) fn check_ack(
    frame: &Frame,
    token: &[u8],
    correlation_id: u64,
) -> Result<HandoffAck, AckRejection> {
    check_envelope(frame, FrameKind::Response, PAYLOAD_PROTOCOL_HANDOFF)?;
    if frame.request_id != correlation_id {
        return Err(AckRejection::RequestId {
            expected: correlation_id,
            found: frame.request_id,
        });
    }
    let ack: HandoffAck = decode_payload(frame).map_err(|_| AckRejection::Malformed)?;
    if ack.token.as_ref() != token {
        return Err(AckRejection::Token);
    }
    if ack.correlation_id != correlation_id {
        return Err(AckRejection::Correlation {
            expected: correlation_id,
            found: ack.correlation_id,
        });
    }
    if !ack.accepted {
        return Err(AckRejection::Declined(ack.error_detail.clone()));
    }
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frames::{handoff_ack, handoff_offer};
    use bytes::Bytes;
    use prost::Message;

    const TOKEN: [u8; 16] = [7; 16];

    #[test]
    fn offers_are_accepted_with_and_without_the_explicit_prefix() {
        let frame = handoff_offer(&TOKEN, "svc", 42);
        let checked = check_offer(&frame, &TOKEN);
        assert!(
            checked
                .as_ref()
                .is_ok_and(|c| c.explicit_handle && c.offer.correlation_id == 42),
            "{checked:?}"
        );
        let plain = Frame {
            payload: Bytes::from(
                HandoffOffer::decode(frame.payload.clone())
                    .unwrap_or_default()
                    .encode_to_vec(),
            ),
            ..frame.clone()
        };
        assert!(check_offer(&plain, &TOKEN).is_ok_and(|c| !c.explicit_handle));
        assert_eq!(
            check_offer(&frame, &[8; 16]),
            Err(OfferRejection::TokenMismatch)
        );
        let mut wrong_id = frame;
        wrong_id.request_id = 43;
        assert!(matches!(
            check_offer(&wrong_id, &TOKEN),
            Err(OfferRejection::Correlation { .. })
        ));
    }

    #[test]
    fn only_a_matching_accepted_ack_completes() {
        let ack = |token: &[u8], accepted: bool, correlation_id: u64| {
            handoff_ack(&HandoffAck {
                token: Bytes::copy_from_slice(token),
                accepted,
                error_detail: if accepted { String::new() } else { "no".into() },
                correlation_id,
            })
        };
        assert!(check_ack(&ack(&TOKEN, true, 5), &TOKEN, 5).is_ok());
        assert_eq!(
            check_ack(&ack(&[0; 16], true, 5), &TOKEN, 5),
            Err(AckRejection::Token)
        );
        assert!(matches!(
            check_ack(&ack(&TOKEN, true, 6), &TOKEN, 5),
            Err(AckRejection::RequestId { .. })
        ));
        assert_eq!(
            check_ack(&ack(&TOKEN, false, 5), &TOKEN, 5),
            Err(AckRejection::Declined("no".into()))
        );
        let mut mismatched = ack(&TOKEN, true, 6);
        mismatched.request_id = 5;
        assert!(matches!(
            check_ack(&mismatched, &TOKEN, 5),
            Err(AckRejection::Correlation { .. })
        ));
    }
}
