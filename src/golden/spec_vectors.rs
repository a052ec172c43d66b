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

/// v2 spec §15 vector A: upstream's reply to the single byte `02`.
pub(crate) const V2_VECTOR_A_REPLY: &str =
    "01 2b000000  0801 1001  2225 1223 0a1b 756e737570706f72746564206672616d696e672076657273696f6e
1001 1801 2001";

/// v2 spec §15 vector B: the v1 Hello vector, then upstream's front-door
/// `Negotiated` (26 bytes from offset 33).
pub(crate) const V2_VECTOR_B: &str =
    "01 1c000000  0801  2216 08011001 1a077a636361636865 2207312e31312e3230  2801
01 15000000  0801 1001  220d 0a0b 0801 1207 342e31302e3231  2801";

/// v2 spec §15 vector C: the v2 definition body vector B needs.
pub(crate) const V2_VECTOR_C: &str = "0a07 7a636361636865 1210 2f7573722f62696e2f7a636361636865";

/// Vector C with `52 00` appended, as §15 says, to declare `http_server`.
pub(crate) const V2_VECTOR_C_HTTP_SERVER: &str =
    "0a07 7a636361636865 1210 2f7573722f62696e2f7a636361636865 5200";

/// v2 spec §15 vector D: GetBrokerHttpEndpoint and its reply (13 + 24
/// bytes), then BackendHttpReady and its empty RESPONSE (19 + 15 bytes).
pub(crate) const V2_VECTOR_D: &str = "01 08000000  0801 18c59001 2801
01 13000000  0801 1001 18c59001  2207 089221 109f8d06  2801
01 0e000000  0801 18d29001  2204 08808003  2807
01 0a000000  0801 1001 18d29001  2807";

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
    SpecVectorGolden {
        golden: "v1/wire_hello_reply_refused_framing_version",
        vector: V2_VECTOR_A_REPLY,
        range: None,
    },
    SpecVectorGolden {
        golden: "v1/wire_hello_minimal",
        vector: V2_VECTOR_B,
        range: Some(0..33),
    },
    SpecVectorGolden {
        golden: "v2/wire_hello_reply_negotiated_front_door",
        vector: V2_VECTOR_B,
        range: Some(33..59),
    },
    SpecVectorGolden {
        golden: "v2/service_definition_zccache",
        vector: V2_VECTOR_C,
        range: None,
    },
    SpecVectorGolden {
        golden: "v2/service_definition_zccache_http_server",
        vector: V2_VECTOR_C_HTTP_SERVER,
        range: None,
    },
    SpecVectorGolden {
        golden: "v2/wire_get_broker_http_endpoint_request",
        vector: V2_VECTOR_D,
        range: Some(0..13),
    },
    SpecVectorGolden {
        golden: "v2/wire_get_broker_http_endpoint_response",
        vector: V2_VECTOR_D,
        range: Some(13..37),
    },
    SpecVectorGolden {
        golden: "v2/wire_backend_http_ready",
        vector: V2_VECTOR_D,
        range: Some(37..56),
    },
    SpecVectorGolden {
        golden: "v2/wire_backend_http_ready_response",
        vector: V2_VECTOR_D,
        range: Some(56..71),
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

    #[test]
    fn v2_vectors_parse_whole_and_their_slices_are_whole_frames() {
        assert_eq!(parse_hex(V2_VECTOR_A_REPLY).unwrap_or_default().len(), 48);
        assert_eq!(parse_hex(V2_VECTOR_B).unwrap_or_default().len(), 59);
        assert_eq!(parse_hex(V2_VECTOR_C).unwrap_or_default().len(), 27);
        assert_eq!(parse_hex(V2_VECTOR_D).unwrap_or_default().len(), 71);
        for golden in &SPEC_VECTOR_GOLDENS[4..] {
            let bytes = golden.expected_bytes();
            assert!(!bytes.is_empty(), "{}", golden.golden);
            if golden.golden.contains("/wire_") {
                let declared = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                assert_eq!(declared as usize + 5, bytes.len(), "{}", golden.golden);
            }
        }
    }
}
