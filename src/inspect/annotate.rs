//! Annotated wire dumps: every protobuf field shown beside the bytes that
//! encode it, named from the schema descriptors. Frame payloads are
//! followed into the message their protocol and kind imply.

use std::fmt::Write as _;

use bytes::Bytes;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::hex::to_spaced_hex;
use crate::proto::descriptor_pool;
use crate::wire::constants::{
    FRAME_HEADER_LEN, MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_ADMIN, PAYLOAD_PROTOCOL_CLUD,
    PAYLOAD_PROTOCOL_CONTROL, PAYLOAD_PROTOCOL_FBUILD, PAYLOAD_PROTOCOL_HANDOFF,
    PAYLOAD_PROTOCOL_HTTP_ENDPOINT, PAYLOAD_PROTOCOL_HTTP_READY, PAYLOAD_PROTOCOL_IDENTITY_PROBE,
    PAYLOAD_PROTOCOL_V2_SESSION, PAYLOAD_PROTOCOL_ZCCACHE,
};
use crate::wire::framing::{decode_frame_body, split_frame};
use crate::wire::payload::{PROBE_NONCE_PREFIX, PayloadSchema, payload_schema};

/// The name a dump shows for a payload protocol the spec assigns, if any
/// (ENV-2).
fn payload_protocol_name(id: u32) -> Option<&'static str> {
    Some(match id {
        PAYLOAD_PROTOCOL_CONTROL => "control",
        PAYLOAD_PROTOCOL_ADMIN => "admin",
        PAYLOAD_PROTOCOL_IDENTITY_PROBE => "identity-probe",
        PAYLOAD_PROTOCOL_HANDOFF => "handoff",
        PAYLOAD_PROTOCOL_V2_SESSION => "v2-session",
        PAYLOAD_PROTOCOL_HTTP_ENDPOINT => "http-endpoint",
        PAYLOAD_PROTOCOL_HTTP_READY => "http-ready",
        PAYLOAD_PROTOCOL_ZCCACHE => "zccache",
        PAYLOAD_PROTOCOL_CLUD => "clud",
        PAYLOAD_PROTOCOL_FBUILD => "fbuild",
        _ => return None,
    })
}

const FRAME: &str = "running_process.broker.v1.Frame";
const DAEMON_PROCESS: &str = "running_process.broker.v1.DaemonProcess";
const ROW: usize = 16;
/// Longest value shown in full; longer ones show their first bytes.
const SHOWN_VALUE_BYTES: usize = 80;
/// Bytes shown of a value longer than [`SHOWN_VALUE_BYTES`].
const ELIDED_VALUE_BYTES: usize = 64;
/// Longest `bytes` value also written out in the meaning column.
const INLINE_HEX_BYTES: usize = 16;

/// One line of an annotated dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Offset of `bytes` in the dumped buffer.
    pub offset: usize,
    /// The bytes this line explains (a tag and length only, for nested messages).
    pub bytes: Vec<u8>,
    /// Nesting depth.
    pub depth: usize,
    /// What the bytes mean.
    pub text: String,
}

/// Annotates a framed message: the five-byte header, then the `Frame`.
pub fn annotate_framed(bytes: &[u8]) -> Vec<Annotation> {
    let mut out = Vec::new();
    if bytes.len() < FRAME_HEADER_LEN {
        push(
            &mut out,
            0,
            bytes,
            0,
            format!("truncated header ({} of 5 bytes)", bytes.len()),
        );
        return out;
    }
    push(
        &mut out,
        0,
        &bytes[..1],
        0,
        format!("framing version 0x{:02x}", bytes[0]),
    );
    let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    push(
        &mut out,
        1,
        &bytes[1..5],
        0,
        format!("body length {len} (u32 little-endian)"),
    );
    let body = &bytes[FRAME_HEADER_LEN..];
    let frame_desc = descriptor(FRAME);
    match frame_desc {
        Some(desc) => Walker { out: &mut out }.message(body, FRAME_HEADER_LEN, 0, &desc),
        None => push(&mut out, FRAME_HEADER_LEN, body, 0, "body".into()),
    }
    let expected_end = FRAME_HEADER_LEN + len as usize;
    if bytes.len() != expected_end {
        let last = out.len().saturating_sub(1);
        if let Some(line) = out.get_mut(last) {
            let _ = write!(
                line.text,
                "  [buffer holds {} body bytes, header says {len}]",
                body.len()
            );
        }
    }
    out
}

/// Annotates the encoding of a message named by its full protobuf name.
/// Returns `None` for a name the schemas do not define.
pub fn annotate_named(bytes: &[u8], full_name: &str) -> Option<Vec<Annotation>> {
    descriptor(full_name).map(|desc| annotate_message(bytes, &desc))
}

/// Annotates the encoding of one message.
pub fn annotate_message(bytes: &[u8], desc: &MessageDescriptor) -> Vec<Annotation> {
    let mut out = Vec::new();
    Walker { out: &mut out }.message(bytes, 0, 0, desc);
    out
}

/// Renders annotations as `offset  hex  meaning`, wrapping long values.
pub fn render(annotations: &[Annotation]) -> String {
    let width = ROW * 3 - 1;
    let mut out = String::new();
    for a in annotations {
        let shown_len = if a.bytes.len() > SHOWN_VALUE_BYTES {
            ELIDED_VALUE_BYTES
        } else {
            a.bytes.len()
        };
        let shown = &a.bytes[..shown_len];
        let mut rows = shown.chunks(ROW);
        let first = rows.next().unwrap_or(&[]);
        let _ = writeln!(
            out,
            "{:06x}  {:<width$}  {}{}",
            a.offset,
            to_spaced_hex(first),
            "  ".repeat(a.depth),
            a.text
        );
        for (i, row) in rows.enumerate() {
            let _ = writeln!(
                out,
                "{:06x}  {}",
                a.offset + (i + 1) * ROW,
                to_spaced_hex(row)
            );
        }
        if shown_len < a.bytes.len() {
            let _ = writeln!(
                out,
                "{:06x}  ... {} more bytes",
                a.offset + shown_len,
                a.bytes.len() - shown_len
            );
        }
    }
    out
}

fn descriptor(full_name: &str) -> Option<MessageDescriptor> {
    descriptor_pool().get_message_by_name(full_name)
}

fn push(out: &mut Vec<Annotation>, offset: usize, bytes: &[u8], depth: usize, text: String) {
    out.push(Annotation {
        offset,
        bytes: bytes.to_vec(),
        depth,
        text,
    });
}

/// Reads a base-128 varint; `None` when truncated or longer than 10 bytes.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

struct Walker<'a> {
    out: &'a mut Vec<Annotation>,
}

impl Walker<'_> {
    /// Walks the fields of one message encoding.
    fn message(&mut self, bytes: &[u8], base: usize, depth: usize, desc: &MessageDescriptor) {
        // A Frame's payload is typed by its protocol and kind, which the
        // walker only meets as sibling fields: look them up first.
        let payload = (desc.full_name() == FRAME)
            .then(|| decode_frame_body(Bytes::copy_from_slice(bytes)).ok())
            .flatten()
            .map(|f| payload_schema(f.payload_protocol, f.kind));
        let mut pos = 0;
        while pos < bytes.len() {
            let start = pos;
            let Some((key, n)) = read_varint(&bytes[pos..]) else {
                push(
                    self.out,
                    base + start,
                    &bytes[start..],
                    depth,
                    "malformed: truncated field tag".into(),
                );
                return;
            };
            pos += n;
            let number = u32::try_from(key >> 3).unwrap_or(0);
            let field = desc.get_field(number);
            let name = field.as_ref().map_or_else(
                || format!("unknown field {number}"),
                |f| f.name().to_owned(),
            );
            let text = match key & 7 {
                0 => match read_varint(&bytes[pos..]) {
                    Some((v, n)) => {
                        pos += n;
                        format!("{name}: {}", scalar_text(field.as_ref(), v))
                    }
                    None => format!("{name}: malformed: truncated varint"),
                },
                1 | 5 => {
                    let width = if key & 7 == 1 { 8 } else { 4 };
                    if bytes.len() - pos < width {
                        pos = bytes.len();
                        format!("{name}: malformed: truncated fixed{}", width * 8)
                    } else {
                        let mut raw = [0u8; 8];
                        raw[..width].copy_from_slice(&bytes[pos..pos + width]);
                        pos += width;
                        format!("{name}: {}", u64::from_le_bytes(raw))
                    }
                }
                2 => {
                    let Some((len, n)) = read_varint(&bytes[pos..]) else {
                        push(
                            self.out,
                            base + start,
                            &bytes[start..],
                            depth,
                            format!("{name}: malformed length"),
                        );
                        return;
                    };
                    pos += n;
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    if len > bytes.len() - pos {
                        push(
                            self.out,
                            base + start,
                            &bytes[start..],
                            depth,
                            format!(
                                "{name}: malformed: {len} bytes declared, {} left",
                                bytes.len() - pos
                            ),
                        );
                        return;
                    }
                    let content = &bytes[pos..pos + len];
                    pos += len;
                    let header = &bytes[start..pos - len];
                    if self.nested(
                        field.as_ref(),
                        &name,
                        content,
                        header,
                        base,
                        start,
                        depth,
                        payload,
                    ) {
                        continue;
                    }
                    format!("{name}: {}", length_delimited_text(field.as_ref(), content))
                }
                wire_type => {
                    push(
                        self.out,
                        base + start,
                        &bytes[start..],
                        depth,
                        format!("{name}: unsupported wire type {wire_type}"),
                    );
                    return;
                }
            };
            push(self.out, base + start, &bytes[start..pos], depth, text);
        }
    }

    /// Emits a nested message (or a typed Frame payload) and recurses into
    /// it. Returns false when the field is not nested.
    #[allow(clippy::too_many_arguments)]
    fn nested(
        &mut self,
        field: Option<&FieldDescriptor>,
        name: &str,
        content: &[u8],
        header: &[u8],
        base: usize,
        start: usize,
        depth: usize,
        payload: Option<PayloadSchema>,
    ) -> bool {
        let content_base = base + start + header.len();
        let message = match field.map(FieldDescriptor::kind) {
            Some(Kind::Message(m)) => Some(m),
            Some(Kind::Bytes) if field.is_some_and(|f| f.name() == "payload") => match payload {
                Some(PayloadSchema::Message(full)) => descriptor(full),
                Some(PayloadSchema::ProbeReply) if content.len() >= PROBE_NONCE_PREFIX => {
                    push(
                        self.out,
                        base + start,
                        header,
                        depth,
                        format!("{name}: identity-probe reply ({} bytes)", content.len()),
                    );
                    push(
                        self.out,
                        content_base,
                        &content[..PROBE_NONCE_PREFIX],
                        depth + 1,
                        "nonce (32 bytes)".into(),
                    );
                    if let Some(d) = descriptor(DAEMON_PROCESS) {
                        push(
                            self.out,
                            content_base + PROBE_NONCE_PREFIX,
                            &[],
                            depth + 1,
                            "DaemonProcess:".into(),
                        );
                        self.message(
                            &content[PROBE_NONCE_PREFIX..],
                            content_base + PROBE_NONCE_PREFIX,
                            depth + 2,
                            &d,
                        );
                    }
                    return true;
                }
                _ => None,
            },
            _ => None,
        };
        let Some(message) = message else {
            return false;
        };
        push(
            self.out,
            base + start,
            header,
            depth,
            format!("{name}: {} ({})", message.name(), byte_count(content.len())),
        );
        self.message(content, content_base, depth + 1, &message);
        true
    }
}

fn scalar_text(field: Option<&FieldDescriptor>, v: u64) -> String {
    let Some(field) = field else {
        return v.to_string();
    };
    match field.kind() {
        Kind::Enum(e) => {
            let raw = v as i32;
            e.get_value(raw).map_or_else(
                || format!("{raw} (not a {} value)", e.name()),
                |ev| ev.name().to_owned(),
            )
        }
        Kind::Bool => (v != 0).to_string(),
        Kind::Int32 => (v as i32).to_string(),
        Kind::Int64 => (v as i64).to_string(),
        Kind::Sint32 | Kind::Sint64 => ((v >> 1) as i64 ^ -((v & 1) as i64)).to_string(),
        _ if field.name() == "payload_protocol" => match payload_protocol_name(v as u32) {
            Some(known) => format!("0x{v:04x} ({known})"),
            None => format!("0x{v:04x}"),
        },
        _ if field.name().ends_with("capabilities") => format!("0x{v:x}"),
        _ => v.to_string(),
    }
}

fn byte_count(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

fn length_delimited_text(field: Option<&FieldDescriptor>, content: &[u8]) -> String {
    match field.map(FieldDescriptor::kind) {
        Some(Kind::String) => match std::str::from_utf8(content) {
            Ok(s) if s.len() <= SHOWN_VALUE_BYTES => format!("{s:?}"),
            Ok(s) => format!(
                "{:?}... ({})",
                s.chars().take(ELIDED_VALUE_BYTES).collect::<String>(),
                byte_count(s.len())
            ),
            Err(_) => format!("invalid UTF-8 ({})", byte_count(content.len())),
        },
        Some(Kind::Bytes) | None if content.len() <= INLINE_HEX_BYTES => {
            format!("{} ({})", to_spaced_hex(content), byte_count(content.len()))
        }
        Some(Kind::Bytes) | None => byte_count(content.len()),
        Some(_) => format!("packed, {} bytes", content.len()),
    }
}

/// The largest body an annotated dump walks; larger frames are summarised.
pub(crate) const ANNOTATE_LIMIT: u32 = MAX_FRAME_BYTES;

/// Annotates the frame at the start of `bytes` if it is one; otherwise the
/// raw bytes. Convenience for trace rendering.
pub(crate) fn annotate_any_frame(bytes: &[u8]) -> Vec<Annotation> {
    match split_frame(&Bytes::copy_from_slice(bytes), ANNOTATE_LIMIT) {
        Ok(_) => annotate_framed(bytes),
        Err(e) => {
            let mut out = Vec::new();
            push(&mut out, 0, bytes, 0, format!("not a complete frame: {e}"));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_payload_protocols_are_named_and_others_are_not() {
        assert_eq!(
            payload_protocol_name(PAYLOAD_PROTOCOL_HANDOFF),
            Some("handoff")
        );
        assert_eq!(payload_protocol_name(PAYLOAD_PROTOCOL_ADMIN), Some("admin"));
        assert_eq!(payload_protocol_name(0x1234), None);
    }
}
