//! `handoff_messages`: HandoffOffer and HandoffAck frames through the
//! checks of a backend (HOF-3, HOF-9) and of a broker (HOF-4, HOF-5).

use bytes::Bytes;

use super::over_the_wire;
use crate::proto::v1::{Frame, HandoffAck};
use crate::wire::frames::{handoff_ack, handoff_offer};
use crate::wire::framing::decode_frame_body;
use crate::wire::handoff::{AckRejection, check_ack, check_offer};
use crate::wire::{HANDOFF_TOKEN_LEN, decode_payload};

/// The token the fuzzed checks expect: golden `v1/handoff_offer`'s.
pub const HANDOFF_TOKEN: [u8; HANDOFF_TOKEN_LEN] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
/// The correlation id the fuzzed ack check expects: golden `v1/handoff_ack`'s.
pub const HANDOFF_CORRELATION_ID: u64 = 42;

/// A frame body through `check_offer` and `check_ack`. Invariants: never
/// panics; the verdicts survive the frame's trip over the wire; an accepted
/// offer holds the token and its frame's correlation id, and the broker's
/// own offer of the same content is accepted with it; an accepted ack is
/// `accepted` with the token and correlation id, and re-encoded by this
/// crate is accepted unchanged; a declined ack really says `accepted:
/// false`.
pub fn handoff_messages(data: &[u8]) {
    let Ok(frame) = decode_frame_body(Bytes::copy_from_slice(data)) else {
        return;
    };
    let wire = over_the_wire(&frame);
    assert_eq!(
        check_offer(&wire, &HANDOFF_TOKEN),
        check_offer(&frame, &HANDOFF_TOKEN),
        "the offer verdict changed over the wire"
    );
    assert_eq!(
        ack_verdict(&wire),
        ack_verdict(&frame),
        "the ack verdict changed over the wire"
    );
    if let Ok(checked) = check_offer(&frame, &HANDOFF_TOKEN) {
        let offer = &checked.offer;
        assert_eq!(offer.token.as_ref(), HANDOFF_TOKEN, "HOF-9 token");
        assert_eq!(frame.request_id, offer.correlation_id, "HOF-9 correlation");
        assert_eq!(
            checked.explicit_handle,
            frame.payload.starts_with(&[0x08, 0x00]),
            "HOF-3 prefix"
        );
        let own = handoff_offer(&HANDOFF_TOKEN, &offer.service_name, offer.correlation_id);
        let again = check_offer(&over_the_wire(&own), &HANDOFF_TOKEN)
            .unwrap_or_else(|e| panic!("the broker's own offer is rejected: {e}"));
        assert!(
            again.explicit_handle,
            "HOF-3: a Unix broker's offer starts 08 00"
        );
        assert_eq!(
            (&again.offer.service_name, again.offer.correlation_id),
            (&offer.service_name, offer.correlation_id)
        );
    }
    match ack_verdict(&frame) {
        Ok(ack) => {
            assert!(ack.accepted, "HOF-5: only an accepted ack completes");
            assert_eq!(ack.token.as_ref(), HANDOFF_TOKEN, "HOF-5 token");
            assert_eq!(
                ack.correlation_id, HANDOFF_CORRELATION_ID,
                "HOF-5 correlation"
            );
            assert_eq!(
                ack_verdict(&over_the_wire(&handoff_ack(&ack))),
                Ok(ack),
                "the ack re-encoded is accepted unchanged"
            );
        }
        Err(AckRejection::Declined(detail)) => {
            let ack: HandoffAck = decode_payload(&frame)
                .unwrap_or_else(|e| panic!("a declined ack that does not decode: {e}"));
            assert!(
                !ack.accepted && ack.error_detail == detail,
                "a false decline"
            );
        }
        Err(_) => {}
    }
}

fn ack_verdict(frame: &Frame) -> Result<HandoffAck, AckRejection> {
    check_ack(frame, &HANDOFF_TOKEN, HANDOFF_CORRELATION_ID)
}
