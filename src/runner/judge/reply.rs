//! Judging one reply frame against `expect_reply`: golden bytes, Frame
//! fields, the HelloReply member, payload fields by dotted path, an admin
//! reply's JSON body, and the values the step captures.

use prost::Message;
use prost_reflect::DynamicMessage;

use super::{Binding, Failure, Judgement};
use crate::inspect::hex_diff;
use crate::proto::descriptor_pool;
use crate::proto::v1::Frame;
use crate::runner::matching::{Actual, Captures, resolve, resolve_json};
use crate::runner::model::{Checks, ReplySpec};
use crate::wire::payload::{PayloadSchema, payload_schema};

/// What every Negotiated reply captures for later steps: name → payload path.
pub(crate) const NEGOTIATED_CAPTURES: [(&str, &str); 3] = [
    ("backend_pipe", "negotiated.backend_pipe"),
    ("token", "negotiated.handle_passed_token"),
    ("connection_id", "negotiated.connection_id"),
];

const FRAME: &str = "running_process.broker.v1.Frame";

/// Judges `frame` (whose bytes on the wire were `raw`) against `spec`;
/// `golden` holds the bytes of `spec.golden`, read by the caller.
/// `Err` is a failure that stops judging (a golden mismatch, a capture
/// that cannot be read); otherwise the judgement lists every miss.
pub(crate) fn judge_reply(
    spec: &ReplySpec,
    frame: &Frame,
    raw: &[u8],
    golden: Option<&[u8]>,
    captures: &Captures,
) -> Result<Judgement, Failure> {
    if let (Some(name), Some(want)) = (&spec.golden, golden)
        && want != raw
    {
        return Err(Failure {
            message: format!("the reply differs from golden {name}"),
            detail: hex_diff(want, raw),
        });
    }
    let mut judge = ReplyJudge {
        seen: captures.clone(),
        out: Judgement::default(),
    };
    let frame_msg = dynamic(FRAME, &frame.encode_to_vec())?;
    judge.paths(&frame_msg, "frame.", &spec.frame, Binding::Must);
    judge.paths(&frame_msg, "frame.", &spec.ref_frame, Binding::RefOnly);
    // `frame.<field>` captures read the envelope; the rest the payload.
    let (frame_captures, payload_captures): (Vec<_>, Vec<_>) = spec
        .capture
        .iter()
        .partition(|(_, path)| path.starts_with("frame."));
    for (name, path) in frame_captures {
        judge.capture(name, resolve(&frame_msg, path.trim_start_matches("frame.")))?;
    }
    let payload = match payload_schema(frame.payload_protocol, frame.kind) {
        PayloadSchema::Message(full_name) => dynamic(full_name, &frame.payload).ok(),
        _ => None,
    };
    let wants_json = !spec.json.is_empty() || !spec.ref_json.is_empty();
    let needs_payload = spec.result.is_some()
        || !spec.fields.is_empty()
        || !spec.ref_fields.is_empty()
        || !payload_captures.is_empty()
        || wants_json;
    if needs_payload && payload.is_none() {
        judge.out.problems.push(format!(
            "the payload does not decode as the message its protocol 0x{:04x} and kind {} imply",
            frame.payload_protocol, frame.kind
        ));
    }
    if let Some(payload) = &payload {
        if let Some(result) = spec.result {
            let set = matches!(resolve(payload, result.field()), Ok(a) if a != Actual::Absent);
            if !set {
                judge.out.problems.push(format!(
                    "expected a {} reply, got {}",
                    result.field(),
                    payload.to_text_format()
                ));
            }
        }
        judge.paths(payload, "", &spec.fields, Binding::Must);
        judge.paths(payload, "", &spec.ref_fields, Binding::RefOnly);
        let body = match resolve(payload, "body") {
            Ok(Actual::Str(body)) => Some(body),
            _ => None,
        };
        if wants_json {
            match body
                .as_deref()
                .map(serde_json::from_str::<serde_json::Value>)
            {
                Some(Ok(json)) => {
                    judge.pointers(&json, &spec.json, Binding::Must);
                    judge.pointers(&json, &spec.ref_json, Binding::RefOnly);
                }
                Some(Err(e)) => judge
                    .out
                    .problems
                    .push(format!("the body is not JSON: {e}")),
                None => judge.out.problems.push("the reply has no text body".into()),
            }
        }
        if !spec.capture_json.is_empty() {
            let Some(json) = body
                .as_deref()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            else {
                return Err(Failure::new("capture_json: the reply has no JSON body"));
            };
            for (name, pointer) in &spec.capture_json {
                judge.capture(name, Ok(resolve_json(&json, pointer)))?;
            }
        }
        for (name, path) in NEGOTIATED_CAPTURES {
            if let Ok(value) = resolve(payload, path)
                && value != Actual::Absent
            {
                judge.capture(name, Ok(value))?;
            }
        }
        for (name, path) in payload_captures {
            judge.capture(name, resolve(payload, path))?;
        }
    }
    let mut out = judge.out;
    if !out.problems.is_empty() {
        // The envelope without its payload bytes: the payload follows decoded.
        let mut envelope = frame_msg;
        if payload.is_some() {
            envelope.clear_field_by_name("payload");
        }
        out.received = format!(
            "received frame:\n{}\n{}",
            envelope.to_text_format(),
            payload
                .map(|p| format!("payload:\n{}", p.to_text_format()))
                .unwrap_or_default()
        );
    }
    Ok(out)
}

/// The judgement being built, and every capture so far (earlier steps' and
/// this step's), which later checks of the same step may read.
struct ReplyJudge {
    seen: Captures,
    out: Judgement,
}

impl ReplyJudge {
    fn paths(&mut self, message: &DynamicMessage, prefix: &str, checks: &Checks, binding: Binding) {
        for (path, expected) in checks {
            let actual = resolve(message, path);
            self.out.check(
                &format!("{prefix}{path}"),
                actual,
                expected,
                binding,
                &self.seen,
            );
        }
    }

    fn pointers(&mut self, json: &serde_json::Value, checks: &Checks, binding: Binding) {
        self.out.json_pointers(json, checks, binding, &self.seen);
    }

    fn capture(&mut self, name: &str, value: Result<Actual, String>) -> Result<(), Failure> {
        let value = value.map_err(|e| Failure::new(format!("capture {name}: {e}")))?;
        self.seen.insert(name, value.clone());
        self.out.captures.insert(name, value);
        Ok(())
    }
}

fn dynamic(full_name: &str, bytes: &[u8]) -> Result<DynamicMessage, Failure> {
    let desc = descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| Failure::new(format!("no message {full_name}")))?;
    DynamicMessage::decode(desc, bytes)
        .map_err(|e| Failure::new(format!("the reply does not decode as {full_name}: {e}")))
}

#[cfg(test)]
mod tests;
