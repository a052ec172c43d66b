//! EVT-3: the BLAKE3 hash chain that makes the log tamper-evident.
//!
//! A record's hash is BLAKE3 over its message bytes (the length prefix is not
//! hashed). Each record names its predecessor's hash in `extra["chain_prev"]`
//! as 64 lowercase hex digits; the first record names [`GENESIS_PREV`].

use crate::inspect::to_hex;
use crate::proto::v1::LifecycleEvent;

/// The `extra` key that carries the predecessor's hash (EVT-3).
pub const CHAIN_KEY: &str = "chain_prev";

/// The `chain_prev` of the first record: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record's own hash: BLAKE3 of its message bytes, without the prefix.
pub fn record_hash(message: &[u8]) -> [u8; 32] {
    *blake3::hash(message).as_bytes()
}

/// The `chain_prev` value a record written after `prev` carries: the hex of
/// `prev`, or [`GENESIS_PREV`] for the first record.
pub fn chain_value(prev: Option<&[u8; 32]>) -> String {
    prev.map_or_else(|| GENESIS_PREV.to_owned(), |h| to_hex(h))
}

/// The event with its chain entry set to follow `prev` (any value the
/// caller put there is replaced).
pub fn link(mut event: LifecycleEvent, prev: Option<&[u8; 32]>) -> LifecycleEvent {
    event.extra.insert(CHAIN_KEY.to_owned(), chain_value(prev));
    event
}

/// What is wrong with a record's chain entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    /// The record has no `chain_prev` entry.
    #[error("missing {CHAIN_KEY}")]
    Missing,
    /// The entry does not name the predecessor.
    #[error("{CHAIN_KEY} is {found:?} but the {expected_of} hashes to {expected}")]
    Mismatch {
        /// The value found.
        found: String,
        /// The value a record in this position must carry.
        expected: String,
        /// What the expected value stands for (`previous record` or `start of the log`).
        expected_of: &'static str,
    },
}

/// EVT-3: checks that `event` follows `prev` (`None` for the first record).
pub fn check_link(event: &LifecycleEvent, prev: Option<&[u8; 32]>) -> Result<(), ChainProblem> {
    let found = event.extra.get(CHAIN_KEY).ok_or(ChainProblem::Missing)?;
    let expected = chain_value(prev);
    if *found == expected {
        Ok(())
    } else {
        Err(ChainProblem::Mismatch {
            found: found.clone(),
            expected,
            expected_of: if prev.is_some() {
                "previous record"
            } else {
                "start of the log (64 zeros)"
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_record_follows_64_zeros() {
        assert_eq!(GENESIS_PREV.len(), 64);
        assert!(GENESIS_PREV.bytes().all(|b| b == b'0'));
        let first = link(LifecycleEvent::default(), None);
        assert_eq!(check_link(&first, None), Ok(()));
    }

    #[test]
    fn a_link_names_the_lowercase_hex_blake3_of_the_previous_message() {
        let prev = record_hash(b"previous message bytes");
        let next = link(LifecycleEvent::default(), Some(&prev));
        assert_eq!(
            next.extra[CHAIN_KEY],
            blake3::hash(b"previous message bytes").to_hex().as_str()
        );
        assert_eq!(check_link(&next, Some(&prev)), Ok(()));
    }

    #[test]
    fn link_replaces_a_callers_value() {
        let mut event = LifecycleEvent::default();
        event.extra.insert(CHAIN_KEY.into(), "forged".into());
        assert_eq!(link(event, None).extra[CHAIN_KEY], GENESIS_PREV);
    }

    #[test]
    fn a_missing_or_wrong_link_is_reported() {
        assert_eq!(
            check_link(&LifecycleEvent::default(), None),
            Err(ChainProblem::Missing)
        );
        let other = record_hash(b"other");
        let event = link(LifecycleEvent::default(), Some(&other));
        let err = check_link(&event, None).expect_err("wrong link");
        assert!(matches!(err, ChainProblem::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("start of the log"), "{err}");
    }
}
