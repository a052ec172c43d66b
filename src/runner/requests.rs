//! Building the bytes a `send` step sends: goldens, hex, Hellos, admin
//! requests and arbitrary frames in text format, then patches.

use std::path::Path;

use bytes::Bytes;
use prost::Message;
use prost_reflect::DynamicMessage;

use super::model::{AdminSpec, FrameSpec, HelloSpec, SendSource, SendSpec};
use crate::golden::Corpus;
use crate::proto::descriptor_pool;
use crate::proto::v1::{AdminRequest, Frame, Hello};
use crate::wire::frames::{admin_request, hello_request};
use crate::wire::framing::encode_header;

/// The field number used to pad frames to an exact size: reserved in the
/// schema, so every decoder skips it.
const PAD_FIELD: u32 = 15;

fn parse_into<M: Message + Default>(base: &M, full_name: &str, text: &str) -> Result<M, String> {
    let desc = descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("no message {full_name}"))?;
    let base = DynamicMessage::decode(desc.clone(), base.encode_to_vec().as_slice())
        .map_err(|e| e.to_string())?;
    // The text's fields win, explicit zeros included (`client_min_protocol: 0`);
    // every field it does not mention keeps the base value.
    let mut merged =
        DynamicMessage::parse_text_format(desc, text).map_err(|e| format!("text format: {e}"))?;
    for (field, value) in base.fields() {
        if !mentions(text, field.name()) {
            merged.set_field(&field, value.clone());
        }
    }
    M::decode(merged.encode_to_vec().as_slice()).map_err(|e| e.to_string())
}

/// True when text format `text` sets field `name` (`name:` or `name {`).
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].trim_start().chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && matches!(after, Some(':' | '{'))
    })
}

/// The Hello frame of a `hello` spec.
pub(crate) fn hello_frame(spec: &HelloSpec) -> Result<Frame, String> {
    let mut hello = Hello {
        client_min_protocol: 1,
        client_max_protocol: 1,
        service_name: spec.service.clone(),
        wanted_version: spec.version.clone(),
        ..Hello::default()
    };
    if let Some(text) = &spec.text {
        hello = parse_into(&hello, "running_process.broker.v1.Hello", text)?;
    }
    if spec.own_pid {
        hello.peer_pid = std::process::id();
    }
    let frame = hello_request(&hello, spec.request_id.unwrap_or(1));
    match &spec.frame_text {
        Some(text) => parse_into(&frame, "running_process.broker.v1.Frame", text),
        None => Ok(frame),
    }
}

/// The admin frame of an `admin` spec; `{tmp}` in paths is `tmp`.
pub(crate) fn admin_frame(spec: &AdminSpec, tmp: &Path) -> Result<Frame, String> {
    let request = AdminRequest {
        verb: spec.verb.0,
        json: spec.json,
        service_name: spec.service_name.clone().unwrap_or_default(),
        output_path: spec
            .output_path
            .as_deref()
            .map(|p| p.replace("{tmp}", &tmp.to_string_lossy()))
            .unwrap_or_default(),
        drain_deadline_ms: spec.drain_deadline_ms.unwrap_or(0),
    };
    let frame = admin_request(&request, spec.request_id.unwrap_or(1));
    match &spec.frame_text {
        Some(text) => parse_into(&frame, "running_process.broker.v1.Frame", text),
        None => Ok(frame),
    }
}

/// The framed bytes of a `frame` spec, padded to `body_len` when given.
pub(crate) fn frame_bytes(spec: &FrameSpec) -> Result<Vec<u8>, String> {
    let frame_desc = descriptor_pool()
        .get_message_by_name("running_process.broker.v1.Frame")
        .ok_or("no Frame descriptor")?;
    let mut frame = DynamicMessage::parse_text_format(frame_desc, &spec.text)
        .map_err(|e| format!("frame text: {e}"))?;
    if let Some(full_name) = &spec.payload_type {
        let desc = descriptor_pool()
            .get_message_by_name(full_name)
            .ok_or_else(|| format!("no message {full_name}"))?;
        let payload =
            DynamicMessage::parse_text_format(desc, spec.payload_text.as_deref().unwrap_or(""))
                .map_err(|e| format!("payload text: {e}"))?;
        frame.set_field_by_name(
            "payload",
            prost_reflect::Value::Bytes(Bytes::from(payload.encode_to_vec())),
        );
    }
    let mut body = frame.encode_to_vec();
    if let Some(target) = spec.body_len {
        body = pad_body(body, target)?;
    }
    let mut out = encode_header(u32::try_from(body.len()).map_err(|_| "frame too large")?).to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Appends an unknown length-delimited field so the body is exactly `target` bytes.
fn pad_body(mut body: Vec<u8>, target: usize) -> Result<Vec<u8>, String> {
    let tag = (PAD_FIELD << 3) | 2;
    let base = body.len();
    // tag (1 byte) + length varint + filler.
    let filler = (0..=target)
        .rev()
        .find(|f| base + 1 + prost::encoding::encoded_len_varint(*f as u64) + f == target)
        .ok_or_else(|| format!("cannot pad a {base}-byte body to exactly {target} bytes"))?;
    body.push(tag as u8);
    prost::encoding::encode_varint(filler as u64, &mut body);
    body.resize(target, b'p');
    Ok(body)
}

/// The bytes of a `send` step, patches and truncation applied.
pub(crate) fn send_bytes(spec: &SendSpec, goldens: &Corpus, tmp: &Path) -> Result<Vec<u8>, String> {
    let framed =
        |frame: Frame| crate::wire::framing::encode_frame(&frame).map_err(|e| e.to_string());
    let mut bytes = match &spec.source {
        SendSource::Golden(name) => goldens.bytes(name).map_err(|e| e.to_string())?.to_vec(),
        SendSource::Hex(hex) => hex.0.clone(),
        SendSource::Hello(hello) => framed(hello_frame(hello)?)?,
        SendSource::Admin(admin) => framed(admin_frame(admin, tmp)?)?,
        SendSource::Frame(frame) => frame_bytes(frame)?,
    };
    for patch in &spec.patch {
        let new = &patch.hex.0;
        let end = patch.at + new.len();
        if end > bytes.len() {
            return Err(format!(
                "patch at {} runs past the {} bytes",
                patch.at,
                bytes.len()
            ));
        }
        bytes[patch.at..end].copy_from_slice(new);
    }
    if let Some(n) = spec.truncate {
        bytes.truncate(n);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::framing::decode_framed;

    #[test]
    fn hellos_merge_text_over_the_defaults() {
        let spec = HelloSpec {
            service: "svc".into(),
            version: "1.0.0".into(),
            text: Some("client_capabilities: 1 client_max_protocol: 3".into()),
            frame_text: Some("traceparent: \"t\"".into()),
            request_id: Some(9),
            own_pid: true,
        };
        let frame = hello_frame(&spec).unwrap_or_default();
        let hello = Hello::decode(frame.payload.clone()).unwrap_or_default();
        assert_eq!(
            (hello.client_min_protocol, hello.client_max_protocol),
            (1, 3)
        );
        assert_eq!(
            (hello.client_capabilities, hello.peer_pid),
            (1, std::process::id())
        );
        assert_eq!((frame.request_id, frame.traceparent.as_str()), (9, "t"));
    }

    #[test]
    fn text_can_set_fields_to_zero() {
        let spec = HelloSpec {
            service: "svc".into(),
            version: "1.0.0".into(),
            text: Some("client_min_protocol: 0 client_max_protocol: 0".into()),
            frame_text: Some("request_id: 0".into()),
            ..HelloSpec::default()
        };
        let frame = hello_frame(&spec).unwrap_or_default();
        let hello = Hello::decode(frame.payload.clone()).unwrap_or_default();
        assert_eq!(
            (
                hello.client_min_protocol,
                hello.client_max_protocol,
                frame.request_id
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn frames_pad_to_an_exact_size_that_still_decodes() {
        let spec = FrameSpec {
            text: "envelope_version: 1".into(),
            payload_type: Some("running_process.broker.v1.Hello".into()),
            payload_text: Some("service_name: \"x\"".into()),
            body_len: Some(65_537),
        };
        let bytes = frame_bytes(&spec).unwrap_or_default();
        assert_eq!(bytes.len(), 5 + 65_537);
        let frame = decode_framed(&Bytes::from(bytes), u32::MAX).unwrap_or_default();
        assert_eq!(frame.envelope_version, 1);
        assert_eq!(
            Hello::decode(frame.payload)
                .unwrap_or_default()
                .service_name,
            "x"
        );
    }
}
