//! Executing one case: its steps against a broker socket, with a wire log,
//! captured values and the verdict rules of each level.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use prost_reflect::DynamicMessage;

use super::conn::{Conn, ReadFailure, Trace};
use super::matching::{Actual, Captures, Outcome, check, resolve, resolve_json};
use super::model::{
    Case, CaseResult, CloseSpec, EventLogSpec, Expected, HandoffEventSpec, KillSpec, Level,
    ParallelSpec, RecordsSpec, ReplySpec, SendSpec, ServesSpec, SocketModesSpec, Step, StoppedSpec,
    UidSpec, Verdict,
};
use super::requests::{hello_frame, send_bytes};
use crate::fake_backend::Record;
use crate::golden::Corpus;
use crate::inspect::hex_diff;
use crate::inspect::to_hex;
use crate::proto::descriptor_pool;
use crate::proto::v1::{Frame, FrameKind, HandoffAck, HelloReply, hello_reply};
use crate::testbed::Provisioner;
use crate::wire::framing::blocking::{read_frame, write_frame};
use crate::wire::payload::{PayloadSchema, payload_schema};
use crate::wire::{
    DEFAULT_HANDOFF_READY_TIMEOUT, MAX_FRAME_BYTES, PAYLOAD_PROTOCOL_HANDOFF, decode_payload,
};

/// Default bound on waiting for a reply or a close.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What a case runs against.
pub struct CaseEnv<'a> {
    /// The broker socket.
    pub socket: PathBuf,
    /// The broker's event log, when known.
    pub event_log: Option<PathBuf>,
    /// Installations and definitions.
    pub provisioner: &'a Provisioner,
    /// The golden corpus.
    pub goldens: &'a Corpus,
    /// The target's Hello deadline.
    pub hello_timeout: Duration,
    /// REF expectations are binding.
    pub is_reference: bool,
    /// Whether the runner owns the socket's directory (for uid cases).
    pub owns_socket: bool,
    /// The `broker-conformance` executable, for steps run as another uid.
    pub helper_exe: PathBuf,
}

/// A step that did not pass.
#[derive(Debug, Clone, PartialEq)]
struct StepFailure {
    message: String,
    detail: String,
}

fn failure(message: impl Into<String>) -> StepFailure {
    StepFailure {
        message: message.into(),
        detail: String::new(),
    }
}

/// A mode change undone when the case ends.
struct Restore {
    path: PathBuf,
    mode: u32,
}

/// The state of one running case.
struct CaseRun<'a> {
    env: &'a CaseEnv<'a>,
    conns: BTreeMap<String, Conn>,
    captures: Captures,
    trace: Trace,
    ref_notes: Vec<String>,
    restores: Vec<Restore>,
    tmp: tempfile::TempDir,
}

/// Runs one case; never panics on anything the broker does.
pub fn run_case(case: &Case, env: &CaseEnv<'_>, keep_trace: bool) -> CaseResult {
    let started = Instant::now();
    let outcome = tempfile::Builder::new()
        .prefix("case.")
        .tempdir_in("/tmp")
        .map_err(|e| {
            (
                Verdict::Error,
                failure(format!("creating a temporary directory: {e}")),
            )
        })
        .map(|tmp| {
            let mut run = CaseRun {
                env,
                conns: BTreeMap::new(),
                captures: Captures::default(),
                trace: Trace::new(),
                ref_notes: Vec::new(),
                restores: Vec::new(),
                tmp,
            };
            let result = run.steps(&case.steps);
            run.restore();
            (result, run.trace, run.ref_notes)
        });
    let (verdict, message, detail, trace) = match outcome {
        Err((verdict, f)) => (verdict, f.message, f.detail, Trace::new()),
        Ok((Ok(()), trace, notes)) if notes.is_empty() => {
            (Verdict::Pass, String::new(), String::new(), trace)
        }
        Ok((Ok(()), trace, notes)) => {
            let detail = notes.join("\n");
            if env.is_reference {
                (
                    Verdict::Fail,
                    "a reference-level expectation failed".into(),
                    detail,
                    trace,
                )
            } else {
                (
                    Verdict::Pass,
                    "passes; differs from the reference broker in REF details".into(),
                    detail,
                    trace,
                )
            }
        }
        Ok((Err(f), trace, _)) => {
            let verdict = if case.level == Level::Ref && !env.is_reference {
                Verdict::Info
            } else {
                Verdict::Fail
            };
            (verdict, f.message, f.detail, trace)
        }
    };
    let keep = keep_trace || !matches!(verdict, Verdict::Pass | Verdict::Skip);
    CaseResult {
        detail,
        duration_ms: started.elapsed().as_millis() as u64,
        trace: if keep { trace.events } else { Vec::new() },
        ..CaseResult::of(case, verdict, message)
    }
}

fn conn_name(on: &Option<String>) -> String {
    on.clone().unwrap_or_else(|| "main".into())
}

fn deadline(within_ms: Option<u64>) -> Instant {
    Instant::now() + within_ms.map_or(DEFAULT_WAIT, Duration::from_millis)
}

impl CaseRun<'_> {
    fn steps(&mut self, steps: &[Step]) -> Result<(), StepFailure> {
        for (i, step) in steps.iter().enumerate() {
            self.step(step).map_err(|mut f| {
                f.message = format!("step {}: {}", i + 1, f.message);
                f
            })?;
        }
        Ok(())
    }

    fn conn(&mut self, name: &str) -> Result<&mut Conn, StepFailure> {
        if !self.conns.contains_key(name) {
            let conn = Conn::connect(name, &self.env.socket).map_err(|e| {
                failure(format!(
                    "connecting {name} to {}: {e}",
                    self.env.socket.display()
                ))
            })?;
            self.trace.push(
                name,
                "note",
                &[],
                format!("connected to {}", self.env.socket.display()),
            );
            self.conns.insert(name.to_owned(), conn);
        }
        self.conns
            .get_mut(name)
            .ok_or_else(|| failure(format!("no connection {name}")))
    }

    fn restore(&mut self) {
        for r in self.restores.drain(..).rev() {
            let _ = std::fs::set_permissions(&r.path, std::fs::Permissions::from_mode(r.mode));
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), StepFailure> {
        match step {
            Step::Connect(name) => self.conn(name).map(drop),
            Step::Send(spec) => self.send(spec),
            Step::HalfClose(name) => {
                let name = if name.is_empty() {
                    "main"
                } else {
                    name.as_str()
                };
                let mut trace = std::mem::take(&mut self.trace);
                let result = self.conn(name)?.half_close(&mut trace);
                self.trace = trace;
                result.map_err(|e| failure(format!("half-close: {e}")))
            }
            Step::ExpectReply(spec) => self.expect_reply(spec),
            Step::ExpectClose(spec) => self.expect_close(spec),
            Step::ExpectSilence(spec) => {
                let name = conn_name(&spec.on);
                let mut trace = std::mem::take(&mut self.trace);
                let result = self
                    .conn(&name)?
                    .wait_close(deadline(Some(spec.for_ms)), &mut trace);
                self.trace = trace;
                match result {
                    Err(ReadFailure::Timeout { partial }) if partial.is_empty() => Ok(()),
                    Err(ReadFailure::Timeout { partial }) => Err(failure(format!(
                        "expected silence, received {} bytes",
                        partial.len()
                    ))),
                    Ok(extra) if extra.is_empty() => Err(failure(
                        "expected the connection to stay open; it was closed",
                    )),
                    Ok(extra) => Err(failure(format!(
                        "expected silence, received {} bytes, then a close",
                        extra.len()
                    ))),
                    Err(other) => Err(failure(format!("expected silence: {other}"))),
                }
            }
            Step::ExpectOneOf(alternatives) => self.expect_one_of(alternatives),
            Step::ExpectHandoffEvent(spec) => self.expect_handoff_event(spec),
            Step::ExpectBackendServes(spec) => self.expect_backend_serves(spec),
            Step::ExpectRecords(spec) => self.expect_records(spec),
            Step::Parallel(spec) => self.parallel(spec),
            Step::KillBackend(spec) => self.kill_backend(spec),
            Step::Define(spec) => self
                .env
                .provisioner
                .write(spec)
                .map(drop)
                .map_err(|e| failure(format!("defining {}: {e}", spec.service))),
            Step::RebuildBackend(service) => self
                .env
                .provisioner
                .rebuild(service)
                .map_err(|e| failure(format!("rebuilding {service}: {e}"))),
            Step::ChmodDefinitions(mode) => {
                let dir = self.env.provisioner.definitions().to_path_buf();
                self.chmod(&dir, mode)
            }
            Step::SendAsUid(spec) => self.send_as_uid(spec),
            Step::ExpectSocketModes(spec) => self.expect_socket_modes(spec),
            Step::ExpectStopped(spec) => self.expect_stopped(spec),
            Step::ExpectEventLog(spec) => self.expect_event_log(spec),
            Step::PauseMs(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }
        }
    }

    fn chmod(&mut self, path: &Path, mode: &str) -> Result<(), StepFailure> {
        let mode = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .map_err(|_| failure(format!("mode {mode:?} is not octal")))?;
        let old = std::fs::metadata(path)
            .map_err(|e| failure(format!("{}: {e}", path.display())))?
            .permissions()
            .mode()
            & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| failure(format!("chmod {}: {e}", path.display())))?;
        self.restores.push(Restore {
            path: path.to_path_buf(),
            mode: old,
        });
        self.trace.push(
            "-",
            "note",
            &[],
            format!("chmod {mode:o} {}", path.display()),
        );
        Ok(())
    }

    fn send(&mut self, spec: &SendSpec) -> Result<(), StepFailure> {
        let bytes = send_bytes(spec, self.env.goldens, self.tmp.path()).map_err(failure)?;
        let name = conn_name(&spec.on);
        let mut trace = std::mem::take(&mut self.trace);
        let result = (|| {
            let conn = self.conn(&name)?;
            match spec.chunk.filter(|c| *c > 0) {
                None => conn
                    .send(&bytes, &mut trace, "")
                    .map_err(|e| failure(format!("send: {e}"))),
                Some(size) => {
                    let pause = Duration::from_millis(spec.chunk_pause_ms.unwrap_or(50));
                    for (i, chunk) in bytes.chunks(size).enumerate() {
                        if i > 0 {
                            std::thread::sleep(pause);
                        }
                        conn.send(chunk, &mut trace, "slow client chunk")
                            .map_err(|e| failure(format!("send: {e}")))?;
                    }
                    Ok(())
                }
            }
        })();
        self.trace = trace;
        result
    }

    fn read_frame(&mut self, name: &str, until: Instant) -> Result<(Frame, Vec<u8>), StepFailure> {
        let mut trace = std::mem::take(&mut self.trace);
        let result = self.conn(name).and_then(|conn| {
            conn.next_frame(until, &mut trace)
                .map_err(|e| failure(format!("expected a frame on {name}: {e}")))
        });
        self.trace = trace;
        result
    }

    fn note_outcome(&mut self, what: &str, outcome: Outcome, problems: &mut Vec<String>) {
        match outcome {
            Outcome::Met => {}
            Outcome::Failed(why) => problems.push(format!("{what}: {why}")),
            Outcome::RefOnly(why) => self.ref_notes.push(format!("{what} (REF): {why}")),
        }
    }

    /// Checks each `expected` field against a recorded one (absent when
    /// the record has no such field), noting outcomes as `what.field`.
    fn check_fields(
        &mut self,
        what: &str,
        fields: &BTreeMap<&str, Actual>,
        expected: &BTreeMap<String, Expected>,
        problems: &mut Vec<String>,
    ) {
        for (field, expected) in expected {
            let actual = fields
                .get(field.as_str())
                .cloned()
                .unwrap_or(Actual::Absent);
            let outcome = check(&actual, expected, &self.captures);
            self.note_outcome(&format!("{what}.{field}"), outcome, problems);
        }
    }

    fn expect_reply(&mut self, spec: &ReplySpec) -> Result<(), StepFailure> {
        let name = conn_name(&spec.on);
        let (frame, raw) = self.read_frame(&name, deadline(spec.within_ms))?;
        let mut problems = Vec::new();
        if let Some(golden) = &spec.golden {
            let want = self
                .env
                .goldens
                .bytes(golden)
                .map_err(|e| failure(e.to_string()))?
                .to_vec();
            if want != raw {
                return Err(StepFailure {
                    message: format!("the reply differs from golden {golden}"),
                    detail: hex_diff(&want, &raw),
                });
            }
        }
        let frame_msg = dynamic("running_process.broker.v1.Frame", &frame.encode_to_vec())?;
        for (path, expected) in &spec.frame {
            let outcome = match resolve(&frame_msg, path) {
                Ok(actual) => check(&actual, expected, &self.captures),
                Err(e) => Outcome::Failed(e),
            };
            self.note_outcome(&format!("frame.{path}"), outcome, &mut problems);
        }
        // `frame.<field>` captures read the envelope; the rest the payload.
        let (frame_captures, payload_captures): (Vec<_>, Vec<_>) = spec
            .capture
            .iter()
            .partition(|(_, path)| path.starts_with("frame."));
        for (capture, path) in frame_captures {
            let field = path.trim_start_matches("frame.");
            let value = resolve(&frame_msg, field)
                .map_err(|e| failure(format!("capture {capture}: {e}")))?;
            self.captures.0.insert(capture.clone(), value);
        }
        let payload = match payload_schema(frame.payload_protocol, frame.kind) {
            PayloadSchema::Message(full_name) => dynamic(full_name, &frame.payload).ok(),
            _ => None,
        };
        let needs_payload = spec.result.is_some()
            || !spec.fields.is_empty()
            || !payload_captures.is_empty()
            || !spec.json.is_empty();
        if needs_payload && payload.is_none() {
            problems.push(format!(
                "the payload does not decode as the message its protocol 0x{:04x} and kind {} imply",
                frame.payload_protocol, frame.kind
            ));
        }
        if let Some(payload) = &payload {
            if let Some(result) = &spec.result {
                let set = match resolve(payload, result) {
                    Ok(Actual::Absent) | Err(_) => false,
                    Ok(_) => true,
                };
                if !set {
                    problems.push(format!(
                        "expected a {result} reply, got {}",
                        payload.to_text_format()
                    ));
                }
            }
            for (path, expected) in &spec.fields {
                let outcome = match resolve(payload, path) {
                    Ok(actual) => check(&actual, expected, &self.captures),
                    Err(e) => Outcome::Failed(e),
                };
                self.note_outcome(path, outcome, &mut problems);
            }
            if !spec.json.is_empty() {
                match resolve(payload, "body") {
                    Ok(Actual::Str(body)) => match serde_json::from_str::<serde_json::Value>(&body)
                    {
                        Ok(json) => {
                            for (pointer, expected) in &spec.json {
                                let outcome =
                                    check(&resolve_json(&json, pointer), expected, &self.captures);
                                self.note_outcome(
                                    &format!("json {pointer}"),
                                    outcome,
                                    &mut problems,
                                );
                            }
                        }
                        Err(e) => problems.push(format!("the body is not JSON: {e}")),
                    },
                    _ => problems.push("the reply has no text body".into()),
                }
            }
            if !spec.capture_json.is_empty() {
                let json = match resolve(payload, "body") {
                    Ok(Actual::Str(body)) => serde_json::from_str::<serde_json::Value>(&body).ok(),
                    _ => None,
                };
                let Some(json) = json else {
                    return Err(failure("capture_json: the reply has no JSON body"));
                };
                for (capture, pointer) in &spec.capture_json {
                    self.captures
                        .0
                        .insert(capture.clone(), resolve_json(&json, pointer));
                }
            }
            self.capture_negotiated(payload);
            for (capture, path) in payload_captures {
                let value = resolve(payload, path)
                    .map_err(|e| failure(format!("capture {capture}: {e}")))?;
                self.captures.0.insert(capture.clone(), value);
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        // The envelope without its payload bytes: the payload follows decoded.
        let mut envelope = frame_msg.clone();
        if payload.is_some() {
            envelope.clear_field_by_name("payload");
        }
        Err(StepFailure {
            message: problems.first().cloned().unwrap_or_default(),
            detail: format!(
                "expected vs actual:\n  {}\nreceived frame:\n{}\n{}",
                problems.join("\n  "),
                envelope.to_text_format(),
                payload
                    .map(|p| format!("payload:\n{}", p.to_text_format()))
                    .unwrap_or_default()
            ),
        })
    }

    /// After any Negotiated, `backend_pipe`, `token` and `connection_id`
    /// are captured for later steps.
    fn capture_negotiated(&mut self, payload: &DynamicMessage) {
        for (name, path) in [
            ("backend_pipe", "negotiated.backend_pipe"),
            ("token", "negotiated.handle_passed_token"),
            ("connection_id", "negotiated.connection_id"),
        ] {
            if let Ok(value) = resolve(payload, path)
                && value != Actual::Absent
            {
                self.captures.0.insert(name.into(), value);
            }
        }
    }

    fn expect_close(&mut self, spec: &CloseSpec) -> Result<(), StepFailure> {
        let name = conn_name(&spec.on);
        let mut wait = spec.within_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        if spec.after_hello_timeout {
            wait += self.env.hello_timeout;
        }
        let mut trace = std::mem::take(&mut self.trace);
        let result = self
            .conn(&name)
            .map(|c| c.wait_close(Instant::now() + wait, &mut trace));
        self.trace = trace;
        match result? {
            Ok(extra) if extra.is_empty() => Ok(()),
            Ok(extra) => Err(StepFailure {
                message: format!(
                    "expected a close, but {} more bytes came first",
                    extra.len()
                ),
                detail: to_hex(&extra),
            }),
            Err(ReadFailure::Timeout { .. }) => Err(failure(format!(
                "expected a close within {} ms; the connection is still open",
                wait.as_millis()
            ))),
            Err(other) => Err(failure(format!("expected a close: {other}"))),
        }
    }

    fn expect_one_of(
        &mut self,
        alternatives: &[super::model::Alternative],
    ) -> Result<(), StepFailure> {
        // Let everything arrive first, so each alternative sees the same bytes.
        for conn in self.conns.values_mut() {
            conn.drain_until(Instant::now() + DEFAULT_WAIT);
        }
        let mut misses = Vec::new();
        for alternative in alternatives {
            let mut conns = BTreeMap::new();
            for (name, conn) in &self.conns {
                conns.insert(
                    name.clone(),
                    conn.replay()
                        .map_err(|e| failure(format!("replaying {name}: {e}")))?,
                );
            }
            let saved = std::mem::replace(&mut self.conns, conns);
            let saved_notes = self.ref_notes.len();
            match self.steps(&alternative.steps) {
                Ok(()) => {
                    self.trace.push(
                        "-",
                        "note",
                        &[],
                        format!("alternative {:?} matched", alternative.name),
                    );
                    return Ok(());
                }
                Err(f) => {
                    misses.push(format!("{}: {}", alternative.name, f.message));
                    self.ref_notes.truncate(saved_notes);
                    self.conns = saved;
                }
            }
        }
        Err(StepFailure {
            message: "no alternative matched".into(),
            detail: misses.join("\n"),
        })
    }

    fn expect_handoff_event(&mut self, spec: &HandoffEventSpec) -> Result<(), StepFailure> {
        let name = conn_name(&spec.on);
        let within = spec
            .within_ms
            .unwrap_or(DEFAULT_HANDOFF_READY_TIMEOUT.as_millis() as u64);
        let (frame, _) = self.read_frame(&name, deadline(Some(within)))?;
        let token_name = spec.token.clone().unwrap_or_else(|| "token".into());
        let Some(Actual::Bytes(token)) = self.captures.0.get(&token_name).cloned() else {
            return Err(failure(format!("no token was captured as {token_name:?}")));
        };
        if frame.kind != FrameKind::Event as i32
            || frame.payload_protocol != PAYLOAD_PROTOCOL_HANDOFF
        {
            return Err(failure(format!(
                "expected an EVENT on 0xd0ff, got kind {} protocol 0x{:04x}",
                frame.kind, frame.payload_protocol
            )));
        }
        let ack: HandoffAck =
            decode_payload(&frame).map_err(|e| failure(format!("the EVENT payload: {e}")))?;
        if ack.token.as_ref() != token.as_slice() || !ack.accepted {
            return Err(failure(format!(
                "the EVENT does not announce an accepted handoff of the token: {ack:?}"
            )));
        }
        Ok(())
    }

    fn expect_backend_serves(&mut self, spec: &ServesSpec) -> Result<(), StepFailure> {
        let request = Frame {
            envelope_version: 1,
            payload_protocol: 0xF00D,
            payload: Bytes::from_static(b"conformance echo"),
            request_id: 0x00C0_FFEE,
            ..Frame::default()
        };
        let mut stream = match &spec.on {
            Some(name) => {
                let conn = self.conn(name)?;
                let stream = conn
                    .stream()
                    .ok_or_else(|| failure(format!("{name} is closed")))?;
                stream.try_clone().map_err(|e| failure(e.to_string()))?
            }
            None => {
                let pipe_name = spec.pipe.clone().unwrap_or_else(|| "backend_pipe".into());
                let Some(Actual::Str(pipe)) = self.captures.0.get(&pipe_name).cloned() else {
                    return Err(failure(format!(
                        "no backend pipe was captured as {pipe_name:?}"
                    )));
                };
                UnixStream::connect(&pipe)
                    .map_err(|e| failure(format!("connecting to the backend {pipe}: {e}")))?
            }
        };
        let _ = stream.set_read_timeout(Some(DEFAULT_WAIT));
        let bytes =
            crate::wire::framing::encode_frame(&request).map_err(|e| failure(e.to_string()))?;
        self.trace.push("backend", "send", &bytes, "echo request");
        write_frame(&mut stream, &request)
            .map_err(|e| failure(format!("writing to the backend: {e}")))?;
        let reply = read_frame(&mut stream, MAX_FRAME_BYTES)
            .map_err(|e| failure(format!("the backend did not answer: {e}")))?;
        self.trace.push(
            "backend",
            "recv",
            &crate::wire::framing::encode_frame(&reply).unwrap_or_default(),
            "echo reply",
        );
        if reply.payload != request.payload || reply.request_id != request.request_id {
            return Err(failure(
                "the backend's reply is not the echo of the request",
            ));
        }
        Ok(())
    }

    fn expect_records(&mut self, spec: &RecordsSpec) -> Result<(), StepFailure> {
        let all = self.env.provisioner.records(&spec.service);
        let mut started = Vec::new();
        let mut offers = Vec::new();
        let mut probes = Vec::new();
        for (_, records) in &all {
            let mine = records.iter().any(|r| match r {
                Record::Started { version, .. } => {
                    spec.version.as_ref().is_none_or(|v| v == version)
                }
                _ => false,
            });
            if !mine {
                continue;
            }
            for record in records {
                match record {
                    Record::Started { .. } => started.push(record.clone()),
                    Record::HandoffOffer { .. } => offers.push(record.clone()),
                    Record::Probe { .. } => probes.push(record.clone()),
                    _ => {}
                }
            }
        }
        let mut problems = Vec::new();
        if let Some(expected) = &spec.started {
            let outcome = check(
                &Actual::Int(started.len() as i128),
                expected,
                &self.captures,
            );
            self.note_outcome("backends started", outcome, &mut problems);
        }
        if let Some(expected) = &spec.offers {
            let outcome = check(&Actual::Int(offers.len() as i128), expected, &self.captures);
            self.note_outcome("handoff offers", outcome, &mut problems);
        }
        if let Some(expected) = &spec.probes {
            let outcome = check(&Actual::Int(probes.len() as i128), expected, &self.captures);
            self.note_outcome("identity probes", outcome, &mut problems);
        }
        if !spec.probe.is_empty() {
            let Some(Record::Probe {
                request_id,
                nonce_len,
                request_id_from_nonce,
                ..
            }) = probes.first()
            else {
                return Err(failure(format!(
                    "the backend of {} recorded no identity probe",
                    spec.service
                )));
            };
            let fields = BTreeMap::from([
                ("request_id", Actual::Int(i128::from(*request_id))),
                ("nonce_len", Actual::Int(*nonce_len as i128)),
                (
                    "request_id_from_nonce",
                    Actual::Bool(*request_id_from_nonce),
                ),
            ]);
            self.check_fields("probe", &fields, &spec.probe, &mut problems);
        }
        let first = started.first();
        if spec.listener.is_some() || !spec.env.is_empty() || spec.env_only.is_some() {
            let Some(Record::Started {
                listener,
                environment,
                ..
            }) = first
            else {
                return Err(failure(format!(
                    "no backend of {} recorded its start",
                    spec.service
                )));
            };
            if let Some(expected) = &spec.listener {
                let outcome = check(&Actual::Str(listener.clone()), expected, &self.captures);
                self.note_outcome("listener", outcome, &mut problems);
            }
            for (var, expected) in &spec.env {
                let value = environment
                    .iter()
                    .find(|(k, _)| k == var)
                    .map_or(Actual::Absent, |(_, v)| Actual::Str(v.clone()));
                let outcome = check(&value, expected, &self.captures);
                self.note_outcome(&format!("env {var}"), outcome, &mut problems);
            }
            if let Some(allowed) = &spec.env_only {
                let extra: Vec<&String> = environment
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| !allowed.contains(k) && !k.starts_with("LC_"))
                    .collect();
                if !extra.is_empty() {
                    problems.push(format!("variables outside the launch contract: {extra:?}"));
                }
            }
        }
        if !spec.offer.is_empty() {
            let Some(Record::HandoffOffer {
                token,
                correlation_id,
                request_id,
                service,
                with_fd,
                explicit_handle,
            }) = offers.first()
            else {
                return Err(failure(format!(
                    "the backend of {} recorded no handoff offer",
                    spec.service
                )));
            };
            let fields = BTreeMap::from([
                (
                    "token",
                    Actual::Bytes(crate::inspect::parse_hex(token).unwrap_or_default()),
                ),
                ("correlation_id", Actual::Int(i128::from(*correlation_id))),
                ("request_id", Actual::Int(i128::from(*request_id))),
                ("service", Actual::Str(service.clone())),
                ("with_fd", Actual::Bool(*with_fd)),
                ("explicit_handle", Actual::Bool(*explicit_handle)),
                (
                    "request_id_is_correlation_id",
                    Actual::Bool(request_id == correlation_id),
                ),
            ]);
            self.check_fields("offer", &fields, &spec.offer, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepFailure {
                message: problems[0].clone(),
                detail: problems.join("\n"),
            })
        }
    }

    fn parallel(&mut self, spec: &ParallelSpec) -> Result<(), StepFailure> {
        let frame = hello_frame(&spec.hello).map_err(failure)?;
        let socket = self.env.socket.clone();
        let replies: Vec<Result<HelloReply, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..spec.count)
                .map(|_| {
                    let (socket, frame) = (&socket, &frame);
                    s.spawn(move || -> Result<HelloReply, String> {
                        let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
                        let _ = stream.set_read_timeout(Some(DEFAULT_WAIT));
                        write_frame(&mut stream, frame).map_err(|e| e.to_string())?;
                        let reply =
                            read_frame(&mut stream, MAX_FRAME_BYTES).map_err(|e| e.to_string())?;
                        decode_payload(&reply).map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a Hello thread panicked".into()))
                })
                .collect()
        });
        let mut pipes = Vec::new();
        let mut problems = Vec::new();
        for (i, reply) in replies.iter().enumerate() {
            match reply.as_ref().map(|r| r.result.as_ref()) {
                Ok(Some(hello_reply::Result::Negotiated(n))) => pipes.push(n.backend_pipe.clone()),
                Ok(Some(hello_reply::Result::Refused(r))) => {
                    let code = crate::proto::v1::ErrorCode::try_from(r.code)
                        .map(|c| c.as_str_name().to_owned())
                        .unwrap_or_else(|_| r.code.to_string());
                    if !spec.also_accept.contains(&code) {
                        problems.push(format!("Hello {i}: refused {code}: {}", r.reason));
                    }
                }
                Ok(None) => problems.push(format!("Hello {i}: a reply without a result")),
                Err(e) => problems.push(format!("Hello {i}: {e}")),
            }
        }
        self.trace.push(
            "-",
            "note",
            &[],
            format!("{} parallel Hellos: {} negotiated", spec.count, pipes.len()),
        );
        if spec.same_backend && pipes.windows(2).any(|w| w[0] != w[1]) {
            problems.push(format!("expected one backend for all, got {pipes:?}"));
        }
        if let Some(pipe) = pipes.first() {
            self.captures
                .0
                .insert("backend_pipe".into(), Actual::Str(pipe.clone()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepFailure {
                message: problems[0].clone(),
                detail: problems.join("\n"),
            })
        }
    }

    fn kill_backend(&mut self, spec: &KillSpec) -> Result<(), StepFailure> {
        let pipe_name = spec.pipe.clone().unwrap_or_else(|| "backend_pipe".into());
        let Some(Actual::Str(pipe)) = self.captures.0.get(&pipe_name).cloned() else {
            return Err(failure(format!(
                "no backend pipe was captured as {pipe_name:?}"
            )));
        };
        let pid = self
            .env
            .provisioner
            .all_records()
            .into_iter()
            .find(|(_, records)| {
                records.iter().any(
                    |r| matches!(r, Record::Started { backend_pipe, .. } if *backend_pipe == pipe),
                )
            })
            .map(|(pid, _)| pid)
            .ok_or_else(|| failure(format!("no fake backend recorded serving {pipe}")))?;
        let signal = if spec.gentle {
            crate::sys::terminate(pid)
        } else {
            crate::sys::kill(pid)
        };
        signal.map_err(|e| failure(format!("signalling backend {pid}: {e}")))?;
        let gone =
            crate::sys::wait_process_exit(pid, DEFAULT_WAIT).map_err(|e| failure(e.to_string()))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!("killed backend pid {pid} serving {pipe}"),
        );
        if gone {
            Ok(())
        } else {
            Err(failure(format!("backend {pid} did not exit")))
        }
    }

    fn send_as_uid(&mut self, spec: &UidSpec) -> Result<(), StepFailure> {
        let socket = self.env.socket.clone();
        let dir = socket.parent().map(Path::to_path_buf).unwrap_or_default();
        // Let the other uid reach the socket at all; SEC-1 must then stop it.
        self.chmod(&dir, "711")?;
        self.chmod(&socket, "666")?;
        let mut command = Command::new(&self.env.helper_exe);
        command
            .args([
                "hello",
                "--timeout-ms",
                "5000",
                "--service",
                &spec.hello.service,
                "--version",
                &spec.hello.version,
                "--socket",
            ])
            .arg(&socket)
            .uid(spec.uid)
            .gid(spec.uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .map_err(|e| failure(format!("running a peer as uid {}: {e}", spec.uid)))?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "peer as uid {} exited {:?}: {said}",
                spec.uid,
                output.status.code()
            ),
        );
        match output.status.code() {
            Some(0 | 1) => Err(StepFailure {
                message: format!("the broker answered a peer with uid {} (SEC-1)", spec.uid),
                detail: said,
            }),
            Some(2) => Ok(()),
            other => Err(StepFailure {
                message: format!("the peer process ended with {other:?}"),
                detail: said,
            }),
        }
    }

    fn expect_stopped(&mut self, spec: &StoppedSpec) -> Result<(), StepFailure> {
        let until = deadline(spec.within_ms);
        let socket = self.env.socket.clone();
        loop {
            let gone = !socket.exists();
            let refused = UnixStream::connect(&socket).is_err();
            if gone && refused {
                self.trace.push(
                    "-",
                    "note",
                    &[],
                    "the socket file is gone and nothing accepts",
                );
                return Ok(());
            }
            if Instant::now() > until {
                return Err(failure(format!(
                    "the broker still {} after {} ms",
                    if gone {
                        "accepts connections"
                    } else {
                        "has its socket file"
                    },
                    spec.within_ms.unwrap_or(DEFAULT_WAIT.as_millis() as u64)
                )));
            }
            // A broker's exit is not announced on any channel we hold: look again shortly.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn expect_event_log(&mut self, spec: &EventLogSpec) -> Result<(), StepFailure> {
        use crate::events::{LogVerdict, read_log, verify_log};
        let path = self.env.event_log.clone().ok_or_else(|| {
            failure("the broker's event log is not known (the case needs event-log)")
        })?;
        let scan =
            read_log(&path).map_err(|e| failure(format!("reading {}: {e}", path.display())))?;
        let mut problems = Vec::new();
        if let Some(want) = spec.intact {
            let verdict = verify_log(&path)
                .map_err(|e| failure(format!("verifying {}: {e}", path.display())))?;
            let intact = matches!(verdict, LogVerdict::Intact { .. });
            if intact != want {
                problems.push(format!(
                    "expected the chain {}intact: {verdict}",
                    if want { "" } else { "not " }
                ));
            }
        }
        if let Some(max) = spec.max_record_bytes
            && let Some(big) = scan.records.iter().find(|r| r.len > max)
        {
            problems.push(format!(
                "record {} is {} bytes, over {max} (EVT-1)",
                big.index, big.len
            ));
        }
        for kind in &spec.kinds {
            let present = scan.records.iter().any(|r| {
                crate::proto::v1::EventKind::try_from(r.event.kind)
                    .is_ok_and(|k| k.as_str_name() == kind)
            });
            if !present {
                problems.push(format!("no {kind} record in the log"));
            }
        }
        if let Some(min) = spec.min_records
            && (scan.records.len() as u64) < min
        {
            problems.push(format!(
                "{} records, expected at least {min}",
                scan.records.len()
            ));
        }
        if let Some(name) = &spec.head_same_as {
            let head = scan
                .records
                .last()
                .map(|r| to_hex(&r.hash))
                .unwrap_or_default();
            match self.captures.0.get(name) {
                Some(Actual::Str(captured)) if *captured == head => {}
                other => problems.push(format!(
                    "the log's head {head} differs from {name} ({other:?})"
                )),
            }
        }
        self.trace.push(
            "-",
            "note",
            &[],
            format!(
                "event log {}: {} records",
                path.display(),
                scan.records.len()
            ),
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepFailure {
                message: problems[0].clone(),
                detail: problems.join("\n"),
            })
        }
    }

    fn expect_socket_modes(&mut self, spec: &SocketModesSpec) -> Result<(), StepFailure> {
        let mode_of = |p: &Path| {
            std::fs::symlink_metadata(p)
                .map(|m| format!("{:o}", m.permissions().mode() & 0o7777))
                .map_err(|e| failure(format!("{}: {e}", p.display())))
        };
        let socket = self.env.socket.clone();
        let dir = mode_of(socket.parent().unwrap_or(Path::new("/")))?;
        let file = mode_of(&socket)?;
        let want_dir = spec.dir.trim_start_matches('0');
        let want_socket = spec.socket.trim_start_matches('0');
        if dir != want_dir || file != want_socket {
            return Err(failure(format!(
                "socket directory mode {dir} (expected {want_dir}), socket mode {file} (expected {want_socket})"
            )));
        }
        Ok(())
    }
}

fn dynamic(full_name: &str, bytes: &[u8]) -> Result<DynamicMessage, StepFailure> {
    let desc = descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| failure(format!("no message {full_name}")))?;
    DynamicMessage::decode(desc, bytes)
        .map_err(|e| failure(format!("the reply does not decode as {full_name}: {e}")))
}

/// Makes sure writes to a trace are not lost if a step panics (they never
/// should): flush stdout so progress lines appear in order.
pub fn flush_stdout() {
    let _ = std::io::stdout().flush();
}
