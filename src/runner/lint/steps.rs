//! Checks on a case's steps, walked in order so that connections and
//! captured values are known only after the step that creates them.

use std::collections::{BTreeMap, BTreeSet};

use super::Context;
use super::case::CaseSink;
use super::matcher::check_expected;
use super::services::{check_service, needs_no_definition};
use super::text_format::{
    ADMIN_VERB, ERROR_CODE, FRAME, HELLO, has_enum_value, has_field, is_message, parse_as,
};
use crate::inspect::hex::parse_hex;
use crate::runner::model::{
    AdminSpec, Alternative, Expected, FrameSpec, HelloSpec, RecordsSpec, ReplySpec, SendSpec, Step,
};

/// The connection every case has without opening it.
const MAIN: &str = "main";

/// Names the engine captures from every Negotiated reply.
const NEGOTIATED_CAPTURES: [&str; 3] = ["backend_pipe", "token", "connection_id"];

/// What earlier steps made available.
#[derive(Debug, Clone, Default)]
pub(super) struct Scope {
    /// Connections opened with `connect` (besides `main`).
    connections: BTreeSet<String>,
    /// Names captured by `expect_reply.capture`.
    captures: BTreeSet<String>,
}

impl Scope {
    /// What every alternative provides (whichever passes, it is there).
    fn common(scopes: &[Scope]) -> Option<Scope> {
        let (first, rest) = scopes.split_first()?;
        let mut out = first.clone();
        for scope in rest {
            out.connections.retain(|c| scope.connections.contains(c));
            out.captures.retain(|c| scope.captures.contains(c));
        }
        Some(out)
    }
}

/// Lints the steps of one case.
pub(super) struct StepLint<'a, 'o, 's> {
    ctx: &'a Context<'a>,
    /// Services the case defines itself.
    defined: BTreeSet<&'a str>,
    /// Hellos naming an undefined service, by connection, waiting for the
    /// reply that shows whether the name is meant to be unknown.
    unknown: BTreeMap<String, (String, String)>,
    sink: &'o mut CaseSink<'s>,
}

impl<'a, 'o, 's> StepLint<'a, 'o, 's> {
    pub(super) fn new(
        ctx: &'a Context<'a>,
        defined: BTreeSet<&'a str>,
        sink: &'o mut CaseSink<'s>,
    ) -> Self {
        Self {
            ctx,
            defined,
            unknown: BTreeMap::new(),
            sink,
        }
    }

    /// Walks a whole case's steps, then reports undefined services whose
    /// Hello no step expects to be refused as unknown.
    pub(super) fn case(&mut self, steps: &[Step]) {
        self.steps(steps, &mut Scope::default(), "");
        for (at, name) in std::mem::take(&mut self.unknown).into_values() {
            self.unknown_service(&name, &at);
        }
    }

    fn add(&mut self, at: &str, problem: impl AsRef<str>) {
        self.sink.add(format!("{at}: {}", problem.as_ref()));
    }

    /// Walks `steps`; `prefix` locates them inside alternatives.
    pub(super) fn steps(&mut self, steps: &[Step], scope: &mut Scope, prefix: &str) {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{prefix}step {}", i + 1);
            self.step(step, scope, &at);
        }
    }

    fn step(&mut self, step: &Step, scope: &mut Scope, at: &str) {
        match step {
            Step::Connect(name) => {
                if name.trim().is_empty() {
                    self.add(at, "connect needs a connection name");
                } else if scope.connections.contains(name) {
                    self.add(at, format!("connection {name:?} is already open"));
                } else {
                    scope.connections.insert(name.clone());
                }
            }
            Step::Send(send) => self.send(send, scope, at),
            Step::HalfClose(conn) => self.connection(Some(conn), scope, at),
            Step::ExpectReply(reply) => self.reply(reply, scope, at),
            Step::ExpectClose(close) => self.connection(close.on.as_ref(), scope, at),
            Step::ExpectSilence(silence) => {
                self.connection(silence.on.as_ref(), scope, at);
                if silence.for_ms == 0 {
                    self.add(at, "expect_silence.for_ms must be above 0");
                }
            }
            Step::ExpectOneOf(alternatives) => self.one_of(alternatives, scope, at),
            Step::ExpectHandoffEvent(event) => {
                self.connection(event.on.as_ref(), scope, at);
                self.captured(event.token.as_deref(), "token", scope, at);
            }
            Step::ExpectBackendServes(serves) => {
                self.connection(serves.on.as_ref(), scope, at);
                self.captured(serves.pipe.as_deref(), "pipe", scope, at);
            }
            Step::ExpectRecords(records) => self.records(records, scope, at),
            Step::Parallel(parallel) => {
                if parallel.count < 2 {
                    self.add(at, "parallel.count must be at least 2");
                }
                self.hello(&parallel.hello, &format!("{at}: parallel.hello"));
                for code in &parallel.also_accept {
                    if !has_enum_value(ERROR_CODE, code) {
                        self.add(at, format!("also_accept: {code:?} is no ErrorCode value"));
                    }
                }
            }
            Step::KillBackend(kill) => self.captured(kill.pipe.as_deref(), "pipe", scope, at),
            Step::Define(spec) => {
                for problem in check_service(spec) {
                    self.add(at, format!("define: {problem}"));
                }
            }
            Step::RebuildBackend(service) => {
                self.service(service, &format!("{at}: rebuild_backend"))
            }
            Step::ChmodDefinitions(mode) => self.mode("chmod_definitions", mode, at),
            Step::SendAsUid(uid) => self.hello(&uid.hello, &format!("{at}: send_as_uid.hello")),
            Step::ExpectSocketModes(modes) => {
                self.mode("expect_socket_modes.dir", &modes.dir, at);
                self.mode("expect_socket_modes.socket", &modes.socket, at);
            }
            Step::ExpectStopped(_) | Step::PauseMs(_) => {}
            Step::ExpectEventLog(log) => {
                for kind in &log.kinds {
                    if crate::proto::v1::EventKind::from_str_name(kind).is_none() {
                        self.add(
                            at,
                            format!("expect_event_log.kinds: {kind:?} is no EventKind value"),
                        );
                    }
                }
                self.captured(log.head_same_as.as_deref(), "head_same_as", scope, at);
            }
        }
    }

    /// `on` names `main` (open from first use) or a connection opened earlier.
    fn connection(&mut self, on: Option<&String>, scope: &mut Scope, at: &str) {
        match on {
            None => {
                scope.connections.insert(MAIN.to_owned());
            }
            Some(name) if name == MAIN => {
                scope.connections.insert(MAIN.to_owned());
            }
            Some(_) => {}
        }
        if let Some(name) = on
            && name != MAIN
            && !scope.connections.contains(name)
        {
            self.add(
                at,
                format!("connection {name:?} is not opened by an earlier connect or send step"),
            );
        }
    }

    /// An explicitly named captured value exists.
    fn captured(&mut self, name: Option<&str>, field: &str, scope: &Scope, at: &str) {
        if let Some(name) = name
            && !scope.captures.contains(name)
        {
            self.add(
                at,
                format!("{field} names {name:?}, which no earlier step captures"),
            );
        }
    }

    fn is_known(&self, name: &str) -> bool {
        self.ctx.services.contains(name) || self.defined.contains(name) || needs_no_definition(name)
    }

    fn service(&mut self, name: &str, at: &str) {
        if !self.is_known(name) {
            self.unknown_service(name, at);
        }
    }

    fn unknown_service(&mut self, name: &str, at: &str) {
        self.sink.add(format!(
            "{at}: service {name:?} is neither in services.toml nor defined by this case (a name meant to be unknown starts with `unknown-` or `nobody`, or its reply expects ERROR_SERVICE_UNKNOWN)"
        ));
    }

    fn mode(&mut self, field: &str, mode: &str, at: &str) {
        if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777) {
            self.add(at, format!("{field} {mode:?} is not an octal mode"));
        }
    }

    /// A send opens its connection when it is not open yet.
    fn send(&mut self, send: &SendSpec, scope: &mut Scope, at: &str) {
        let name = send.on.as_deref().unwrap_or(MAIN);
        if name.trim().is_empty() {
            self.add(at, "send.on needs a connection name");
        }
        scope.connections.insert(name.to_owned());
        let sources: Vec<&str> = [
            ("golden", send.golden.is_some()),
            ("hex", send.hex.is_some()),
            ("hello", send.hello.is_some()),
            ("admin", send.admin.is_some()),
            ("frame", send.frame.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if sources.len() != 1 {
            self.add(
                at,
                format!(
                    "send needs exactly one source of golden, hex, hello, admin, frame (has {})",
                    if sources.is_empty() {
                        "none".to_owned()
                    } else {
                        sources.join(", ")
                    }
                ),
            );
        }
        if let Some(name) = &send.golden {
            self.golden(name, at);
        }
        if let Some(Err(e)) = send.hex.as_deref().map(parse_hex) {
            self.add(at, format!("send.hex does not parse: {e}"));
        }
        if let Some(hello) = &send.hello {
            let at = format!("{at}: send.hello");
            if !self.is_known(&hello.service) {
                // Judged when the reply's expectation is seen.
                let conn = send.on.clone().unwrap_or_else(|| MAIN.to_owned());
                if let Some((at, name)) = self
                    .unknown
                    .insert(conn, (at.clone(), hello.service.clone()))
                {
                    self.unknown_service(&name, &at);
                }
            }
            self.hello_body(hello, &at);
        }
        if let Some(admin) = &send.admin {
            self.admin(admin, at);
        }
        if let Some(frame) = &send.frame {
            self.frame(frame, at);
        }
        for (i, patch) in send.patch.iter().enumerate() {
            match parse_hex(&patch.hex) {
                Ok(bytes) if bytes.is_empty() => {
                    self.add(at, format!("patch {}: hex is empty", i + 1))
                }
                Ok(_) => {}
                Err(e) => self.add(at, format!("patch {}: hex does not parse: {e}", i + 1)),
            }
        }
        if send.chunk == Some(0) {
            self.add(at, "send.chunk must be above 0");
        }
        if send.chunk_pause_ms.is_some() && send.chunk.is_none() {
            self.add(at, "chunk_pause_ms without chunk does nothing");
        }
    }

    fn golden(&mut self, name: &str, at: &str) {
        if let Err(e) = self.ctx.corpus.bytes(name) {
            self.add(at, format!("golden: {e}"));
        }
    }

    fn hello(&mut self, hello: &HelloSpec, at: &str) {
        self.service(&hello.service, at);
        self.hello_body(hello, at);
    }

    /// Checks a Hello's text overrides.
    fn hello_body(&mut self, hello: &HelloSpec, at: &str) {
        if let Some(Err(e)) = hello.text.as_deref().map(|t| parse_as(HELLO, t)) {
            self.sink.add(format!("{at}.text {e}"));
        }
        if let Some(Err(e)) = hello.frame_text.as_deref().map(|t| parse_as(FRAME, t)) {
            self.sink.add(format!("{at}.frame_text {e}"));
        }
    }

    fn admin(&mut self, admin: &AdminSpec, at: &str) {
        match &admin.verb {
            toml::Value::String(name) if !has_enum_value(ADMIN_VERB, name) => {
                self.add(
                    at,
                    format!(
                        "admin.verb {name:?} is no AdminVerb value (use a number for unknown verbs)"
                    ),
                );
            }
            toml::Value::String(_) => {}
            toml::Value::Integer(n) if i32::try_from(*n).is_err() => {
                self.add(at, format!("admin.verb {n} does not fit an enum (i32)"));
            }
            toml::Value::Integer(_) => {}
            other => self.add(
                at,
                format!(
                    "admin.verb must be an AdminVerb name or a number, not {}",
                    other.type_str()
                ),
            ),
        }
    }

    fn frame(&mut self, frame: &FrameSpec, at: &str) {
        if let Err(e) = parse_as(FRAME, &frame.text) {
            self.add(at, format!("send.frame.text {e}"));
        }
        match (&frame.payload_type, &frame.payload_text) {
            (Some(ty), _) if !is_message(ty) => {
                self.add(at, format!("send.frame.payload_type {ty:?} is no message of the schemas (use the full name)"));
            }
            (Some(ty), Some(text)) => {
                if let Err(e) = parse_as(ty, text) {
                    self.add(at, format!("send.frame.payload_text {e}"));
                }
            }
            (None, Some(_)) => self.add(at, "send.frame.payload_text needs payload_type"),
            _ => {}
        }
    }

    fn reply(&mut self, reply: &ReplySpec, scope: &mut Scope, at: &str) {
        self.connection(reply.on.as_ref(), scope, at);
        let conn = reply.on.as_deref().unwrap_or(MAIN);
        if let Some((sent_at, name)) = self.unknown.remove(conn) {
            let expects_unknown = reply.fields.get("refused.code")
                == Some(&toml::Value::String("ERROR_SERVICE_UNKNOWN".into()));
            if !expects_unknown {
                self.unknown_service(&name, &sent_at);
            }
        }
        if let Some(name) = &reply.golden {
            self.golden(name, at);
        }
        if let Some(result) = &reply.result
            && result != "negotiated"
            && result != "refused"
        {
            self.add(
                at,
                format!("expect_reply.result {result:?} must be \"negotiated\" or \"refused\""),
            );
        }
        for path in reply.frame.keys() {
            let field = path.split('.').next().unwrap_or(path);
            if !has_field(FRAME, field) {
                self.add(
                    at,
                    format!("expect_reply.frame: Frame has no field {field:?}"),
                );
            }
        }
        for pointer in reply.json.keys() {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                self.add(
                    at,
                    format!(
                        "expect_reply.json: {pointer:?} is not a JSON pointer (it starts with /)"
                    ),
                );
            }
        }
        self.matchers("expect_reply.frame", &reply.frame, scope, at);
        self.matchers("expect_reply.fields", &reply.fields, scope, at);
        self.matchers("expect_reply.json", &reply.json, scope, at);
        if reply.result.as_deref() != Some("refused") {
            // The engine captures these from any Negotiated reply.
            for name in NEGOTIATED_CAPTURES {
                scope.captures.insert(name.to_owned());
            }
        }
        for (name, path) in reply.capture.iter().chain(&reply.capture_json) {
            if name.trim().is_empty() || path.trim().is_empty() {
                self.add(at, "capture needs a name and a path");
            }
            scope.captures.insert(name.clone());
        }
    }

    fn records(&mut self, records: &RecordsSpec, scope: &Scope, at: &str) {
        self.service(&records.service, &format!("{at}: expect_records"));
        let singles = [
            ("started", &records.started),
            ("listener", &records.listener),
            ("offers", &records.offers),
            ("probes", &records.probes),
        ];
        for (name, value) in singles {
            if let Some(value) = value {
                self.matcher(&format!("expect_records.{name}"), value, scope, at);
            }
        }
        self.matchers("expect_records.env", &records.env, scope, at);
        self.matchers("expect_records.offer", &records.offer, scope, at);
        self.matchers("expect_records.probe", &records.probe, scope, at);
        for field in records.probe.keys() {
            if !["request_id", "nonce_len", "request_id_from_nonce"].contains(&field.as_str()) {
                self.add(
                    at,
                    format!("expect_records.probe.{field}: no such probe field"),
                );
            }
        }
    }

    fn matchers(
        &mut self,
        what: &str,
        values: &BTreeMap<String, Expected>,
        scope: &Scope,
        at: &str,
    ) {
        for (key, value) in values {
            self.matcher(&format!("{what}.{key}"), value, scope, at);
        }
    }

    fn matcher(&mut self, what: &str, value: &Expected, scope: &Scope, at: &str) {
        for problem in check_expected(value, &scope.captures) {
            self.add(at, format!("{what}: {problem}"));
        }
    }

    fn one_of(&mut self, alternatives: &[Alternative], scope: &mut Scope, at: &str) {
        if alternatives.len() < 2 {
            self.add(at, "expect_one_of needs at least two alternatives");
        }
        let mut names = BTreeSet::new();
        let mut after = Vec::new();
        for alternative in alternatives {
            if alternative.name.trim().is_empty() {
                self.add(at, "an alternative needs a name");
            } else if !names.insert(alternative.name.as_str()) {
                self.add(
                    at,
                    format!("alternative name {:?} repeats", alternative.name),
                );
            }
            if alternative.steps.is_empty() {
                self.add(
                    at,
                    format!("alternative {:?} has no steps", alternative.name),
                );
            }
            let mut inner = scope.clone();
            self.steps(
                &alternative.steps,
                &mut inner,
                &format!("{at} alternative {:?} ", alternative.name),
            );
            after.push(inner);
        }
        if let Some(common) = Scope::common(&after) {
            *scope = common;
        }
    }
}
