//! The test vectors printed in spec §2, copied here as text so golden
//! files are checked against the spec itself, never against our encoder.

use std::ops::Range;

use crate::inspect::hex::parse_hex;

/// Spec §2, first vector: a minimal Hello request on the wire (service
/// `zccache`, wanted `1.11.20`, protocol range 1..1, request_id 1).
pub const MINIMAL_HELLO_ON_THE_WIRE: &str =
    "01 1c000000  0801  2216 08011001 1a077a636361636865 2207312e31312e3230  2801";

/// Spec §2, second vector: a fully populated `Hello` body.
pub(crate) const FULL_HELLO_BODY: &str =
    "080110031a0b6275696c642d6361636865220a312e322e332d72632e312a06332e302e313530818080808080808080
013a0301020342087265712d303030315092215a0f72756e6e696e672d70726f636573736206332e302e31356a02aabb
7201cc781e";

/// A golden that must hold (part of) a spec vector.
#[derive(Debug, Clone)]
pub(crate) struct SpecVectorGolden {
    /// The golden's name.
    pub golden: &'static str,
    /// The vector, as printed in the spec.
    pub vector: &'static str,
    /// The bytes of the vector the golden holds; `None` for all of them.
    pub range: Option<Range<usize>>,
}

impl SpecVectorGolden {
    /// The bytes the golden must equal.
    pub(crate) fn expected_bytes(&self) -> Vec<u8> {
        let full = parse_hex(self.vector).unwrap_or_default();
        match &self.range {
            Some(range) => full.get(range.clone()).unwrap_or_default().to_vec(),
            None => full,
        }
    }
}

/// Every golden tied to a spec vector.
pub(crate) const SPEC_VECTOR_GOLDENS: &[SpecVectorGolden] = &[
    SpecVectorGolden {
        golden: "v1/wire_hello_minimal",
        vector: MINIMAL_HELLO_ON_THE_WIRE,
        range: None,
    },
    // The Frame body: the vector without its 5-byte header.
    SpecVectorGolden {
        golden: "v1/frame_hello_minimal",
        vector: MINIMAL_HELLO_ON_THE_WIRE,
        range: Some(5..33),
    },
    // The Hello: the 22 payload bytes after the `22 16` tag and length.
    SpecVectorGolden {
        golden: "v1/hello_minimal",
        vector: MINIMAL_HELLO_ON_THE_WIRE,
        range: Some(9..31),
    },
    SpecVectorGolden {
        golden: "v1/hello_full",
        vector: FULL_HELLO_BODY,
        range: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_to_their_documented_lengths() {
        assert_eq!(SPEC_VECTOR_GOLDENS[0].expected_bytes().len(), 33);
        assert_eq!(SPEC_VECTOR_GOLDENS[1].expected_bytes().len(), 28);
        assert_eq!(SPEC_VECTOR_GOLDENS[2].expected_bytes().len(), 22);
        assert_eq!(SPEC_VECTOR_GOLDENS[3].expected_bytes().len(), 100);
    }
}
