//! Encoding and decoding samples through the crate's own code paths: the
//! prost-generated types, [`encode_frame`] and the handoff payload encoder.
//! These are the encoders under test; prost-reflect's dynamic encoder is
//! used beside them as an independent cross-check.

use std::fmt::Debug;

use bytes::Bytes;
use prost::{Message, Name};
use prost_reflect::DynamicMessage;

use super::companion::{Companion, GoldenEncoding};
use crate::proto::{v1, v2};
use crate::wire::constants::MAX_FRAME_BYTES;
use crate::wire::frames::encode_handoff_offer_payload;
use crate::wire::framing::{decode_framed, encode_frame, encode_header};

/// A generated type, reachable by its full protobuf name.
struct TypedCodec {
    full_name: fn() -> String,
    encode: fn(&DynamicMessage) -> Result<Vec<u8>, String>,
    check_decode: fn(&[u8], &DynamicMessage) -> Result<(), String>,
}

const fn codec<T: Message + Default + PartialEq + Debug + Name>() -> TypedCodec {
    TypedCodec {
        full_name: T::full_name,
        encode: encode_typed::<T>,
        check_decode: check_decode_typed::<T>,
    }
}

/// Every generated message type of both schemas.
static CODECS: &[TypedCodec] = &[
    codec::<v1::Frame>(),
    codec::<v1::Hello>(),
    codec::<v1::HelloReply>(),
    codec::<v1::Negotiated>(),
    codec::<v1::Refused>(),
    codec::<v1::HandoffOffer>(),
    codec::<v1::HandoffAck>(),
    codec::<v1::AdminRequest>(),
    codec::<v1::AdminReply>(),
    codec::<v1::ServiceDefinition>(),
    codec::<v1::CacheManifest>(),
    codec::<v1::HostIdentity>(),
    codec::<v1::Operation>(),
    codec::<v1::CacheRoot>(),
    codec::<v1::Endpoint>(),
    codec::<v1::TeardownHook>(),
    codec::<v1::Quota>(),
    codec::<v1::Ownership>(),
    codec::<v1::DaemonProcess>(),
    codec::<v1::CleanupPolicy>(),
    codec::<v1::ManifestRef>(),
    codec::<v1::ObservabilityInfo>(),
    codec::<v1::LifecycleEvent>(),
    codec::<v2::BackendHttpReady>(),
    codec::<v2::GetBrokerHttpEndpointRequest>(),
    codec::<v2::GetBrokerHttpEndpointResponse>(),
    codec::<v2::GetSessionTokenRequest>(),
    codec::<v2::GetSessionTokenResponse>(),
    codec::<v2::HttpServerCapability>(),
    codec::<v2::ServiceDefinition>(),
    codec::<v2::CacheRoot>(),
    codec::<v2::CacheManifest>(),
    codec::<v2::SessionFrame>(),
    codec::<v2::SessionStart>(),
    codec::<v2::SessionEnvVar>(),
    codec::<v2::SessionExit>(),
];

/// Full names of every generated message type the corpus can encode.
pub fn typed_message_names() -> Vec<String> {
    CODECS.iter().map(|c| (c.full_name)()).collect()
}

fn find(full_name: &str) -> Result<&'static TypedCodec, String> {
    CODECS
        .iter()
        .find(|c| (c.full_name)() == full_name)
        .ok_or_else(|| format!("{full_name} has no generated type registered in golden::codec"))
}

fn typed<T: Message + Default>(sample: &DynamicMessage) -> Result<T, String> {
    sample
        .transcode_to::<T>()
        .map_err(|e| format!("sample does not convert to the generated type: {e}"))
}

fn encode_typed<T: Message + Default>(sample: &DynamicMessage) -> Result<Vec<u8>, String> {
    Ok(typed::<T>(sample)?.encode_to_vec())
}

fn check_decode_typed<T: Message + Default + PartialEq + Debug>(
    bytes: &[u8],
    sample: &DynamicMessage,
) -> Result<(), String> {
    let decoded = T::decode(bytes).map_err(|e| format!("does not decode: {e}"))?;
    compare(&decoded, &typed::<T>(sample)?)
}

fn compare<T: PartialEq + Debug>(decoded: &T, sample: &T) -> Result<(), String> {
    if decoded == sample {
        Ok(())
    } else {
        Err(format!(
            "decodes to\n{decoded:#?}\nbut the sample is\n{sample:#?}"
        ))
    }
}

/// The bytes the crate's encoders produce for a companion's sample.
pub(crate) fn encode_sample(companion: &Companion) -> Result<Vec<u8>, String> {
    match companion.encoding {
        GoldenEncoding::Message => (find(&companion.message)?.encode)(&companion.sample),
        GoldenEncoding::Framed => {
            encode_frame(&typed::<v1::Frame>(&companion.sample)?).map_err(|e| e.to_string())
        }
        GoldenEncoding::HandoffOfferPayload => {
            Ok(
                encode_handoff_offer_payload(&typed::<v1::HandoffOffer>(&companion.sample)?)
                    .to_vec(),
            )
        }
    }
}

/// Decodes `bytes` with the crate's decoders and checks the result equals
/// the companion's sample.
pub(crate) fn check_decodes_to_sample(bytes: &[u8], companion: &Companion) -> Result<(), String> {
    match companion.encoding {
        GoldenEncoding::Message => {
            (find(&companion.message)?.check_decode)(bytes, &companion.sample)
        }
        GoldenEncoding::Framed => {
            let frame = decode_framed(&Bytes::copy_from_slice(bytes), MAX_FRAME_BYTES)
                .map_err(|e| e.to_string())?;
            compare(&frame, &typed::<v1::Frame>(&companion.sample)?)
        }
        GoldenEncoding::HandoffOfferPayload => {
            if !bytes.starts_with(&[0x08, 0x00]) {
                return Err("a Unix HandoffOffer payload must start with 08 00 (HOF-3)".into());
            }
            (find(&companion.message)?.check_decode)(bytes, &companion.sample)
        }
    }
}

/// The same bytes from prost-reflect's dynamic encoder, an implementation
/// independent of the generated types.
pub(crate) fn encode_sample_independently(companion: &Companion) -> Vec<u8> {
    let body = companion.sample.encode_to_vec();
    match companion.encoding {
        GoldenEncoding::Message => body,
        GoldenEncoding::Framed => {
            let mut out = encode_header(u32::try_from(body.len()).unwrap_or(u32::MAX)).to_vec();
            out.extend_from_slice(&body);
            out
        }
        GoldenEncoding::HandoffOfferPayload => [&[0x08, 0x00][..], &body].concat(),
    }
}
