//! Companions: the readable half of a golden pair. A companion is a
//! standard protobuf text-format file (`.txtpb`) holding the sample's field
//! values, so any protobuf implementation can rebuild the sample. Its
//! header comments say what the `.bin` beside it holds:
//!
//! ```text
//! # proto-message: running_process.broker.v1.Hello
//! # golden-encoding: message
//! # Minimal Hello of spec section 2, first test vector.
//! ```

use std::fmt;

use prost_reflect::DynamicMessage;

use super::GoldenError;
use crate::proto::descriptor_pool;

/// File extension of companions.
pub const COMPANION_EXT: &str = "txtpb";
/// File extension of frozen bytes.
pub const BIN_EXT: &str = "bin";

/// How a golden's bytes are derived from its sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoldenEncoding {
    /// The message's protobuf encoding.
    Message,
    /// A `Frame` with its five-byte header, as on the wire.
    Framed,
    /// A `HandoffOffer` payload as Unix senders write it: `08 00` first (HOF-3).
    HandoffOfferPayload,
}

impl GoldenEncoding {
    /// The header keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Framed => "framed",
            Self::HandoffOfferPayload => "handoff-offer-payload",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Message, Self::Framed, Self::HandoffOfferPayload]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

impl fmt::Display for GoldenEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed companion.
#[derive(Debug, Clone)]
pub struct Companion {
    /// Full protobuf name of the sample's type.
    pub message: String,
    /// How the `.bin` encodes the sample.
    pub encoding: GoldenEncoding,
    /// The free-text header comment lines, joined.
    pub description: String,
    /// The sample.
    pub sample: DynamicMessage,
}

impl Companion {
    /// Parses companion text; `path` is used in errors only.
    pub fn parse(path: &str, text: &str) -> Result<Self, GoldenError> {
        let bad = |problem: String| GoldenError::Companion {
            path: path.to_owned(),
            problem,
        };
        let mut message = None;
        let mut encoding = None;
        let mut description = Vec::new();
        for line in text.lines() {
            let Some(comment) = line.strip_prefix('#') else {
                break;
            };
            let comment = comment.trim();
            if let Some(value) = comment.strip_prefix("proto-message:") {
                message = Some(value.trim().to_owned());
            } else if let Some(value) = comment.strip_prefix("golden-encoding:") {
                let value = value.trim();
                encoding = Some(GoldenEncoding::parse(value).ok_or_else(|| {
                    bad(format!(
                        "unknown golden-encoding {value:?}; use message, framed or handoff-offer-payload"
                    ))
                })?);
            } else if !comment.starts_with("proto-file:") {
                description.push(comment.to_owned());
            }
        }
        let message =
            message.ok_or_else(|| bad("missing `# proto-message: <full name>` header".into()))?;
        let encoding =
            encoding.ok_or_else(|| bad("missing `# golden-encoding: <encoding>` header".into()))?;
        let desc = descriptor_pool()
            .get_message_by_name(&message)
            .ok_or_else(|| bad(format!("no message named {message} in proto/")))?;
        let required = match encoding {
            GoldenEncoding::Message => None,
            GoldenEncoding::Framed => Some("running_process.broker.v1.Frame"),
            GoldenEncoding::HandoffOfferPayload => Some("running_process.broker.v1.HandoffOffer"),
        };
        if let Some(required) = required.filter(|r| *r != message) {
            return Err(bad(format!(
                "golden-encoding {encoding} needs proto-message {required}"
            )));
        }
        let sample = DynamicMessage::parse_text_format(desc, text)
            .map_err(|e| bad(format!("text format does not parse: {e}")))?;
        Ok(Self {
            message,
            encoding,
            description: description.join("\n").trim().to_owned(),
            sample,
        })
    }
}
