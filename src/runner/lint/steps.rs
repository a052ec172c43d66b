//! Checks on a case's steps, walked in order so that connections and
//! captured values are known only after the step that creates them.

use std::collections::{BTreeMap, BTreeSet};

use super::services::{check_service, needs_no_definition};
use super::text_format::{
    ERROR_CODE, FRAME, HELLO, has_enum_value, has_field, is_message, parse_as,
};
use super::{CaseSink, Context};
use crate::runner::judge::records::HTTP_REPORT_FIELDS;
use crate::runner::judge::reply::NEGOTIATED_CAPTURES;
use crate::runner::model::{
    Alternative, Checks, ConnName, FrameSpec, HelloResult, HelloSpec, Literal, Matcher,
    RecordsSpec, ReplySpec, SendSource, SendSpec, Step,
};

/// What earlier steps made available.
#[derive(Debug, Clone, Default)]
pub(super) struct Scope {
    /// Connections opened with `connect` (besides `main`).
    connections: BTreeSet<ConnName>,
    /// Names captured by `expect_reply.capture`.
    captures: BTreeSet<String>,
    /// Raw TCP connections opened by `tcp_send`.
    tcp: BTreeSet<String>,
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
    unknown: BTreeMap<ConnName, (String, String)>,
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
                if scope.connections.contains(name) {
                    self.add(
                        at,
                        format!("connection {:?} is already open", name.as_str()),
                    );
                } else {
                    scope.connections.insert(name.clone());
                }
            }
            Step::Send(send) => self.send(send, scope, at),
            Step::HalfClose(conn) => self.connection(conn, scope, at),
            Step::ExpectReply(reply) => self.reply(reply, scope, at),
            Step::ExpectClose(close) => self.connection(&close.on, scope, at),
            Step::ExpectSilence(silence) => self.connection(&silence.on, scope, at),
            Step::ExpectOneOf(alternatives) => self.one_of(alternatives, scope, at),
            Step::ExpectHandoffEvent(event) => {
                self.connection(&event.on, scope, at);
                self.captured(event.token.as_deref(), "token", scope, at);
            }
            Step::ExpectBackendServes(serves) => {
                self.connection(
                    serves.on.as_ref().unwrap_or(&ConnName::default()),
                    scope,
                    at,
                );
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
            Step::SendAsUid(uid) => self.hello(&uid.hello, &format!("{at}: send_as_uid.hello")),
            Step::ChmodDefinitions(_)
            | Step::ExpectSocketModes(_)
            | Step::ExpectStopped(_)
            | Step::PauseMs(_)
            | Step::WriteIdentity(_)
            | Step::ExpectIdentityFiles(_)
            | Step::ExpectHttp(_)
            | Step::ExpectHttpPortFile(_)
            | Step::StartFrontDoor(_)
            | Step::Signal(_)
            | Step::ExpectExit(_)
            | Step::ExhaustFds(_) => {}
            Step::ExpectFile(file) => {
                self.matchers("expect_file.json", &file.json, scope, at);
            }
            Step::TcpSend(send) => {
                scope.tcp.insert(send.on.clone());
            }
            Step::ExpectTcpReply(reply) => {
                if !scope.tcp.contains(&reply.on) {
                    self.add(
                        at,
                        format!(
                            "TCP connection {:?} is not opened by an earlier tcp_send",
                            reply.on
                        ),
                    );
                }
            }
            Step::ExpectEventLog(log) => {
                self.eventually("expect_event_log", log.eventually, log.within_ms, at);
                let patterns = log.records.iter().map(|r| &r.kind);
                for kind in log.kinds.iter().chain(&log.absent_kinds).chain(patterns) {
                    if crate::proto::v1::EventKind::from_str_name(kind).is_none() {
                        self.add(
                            at,
                            format!("expect_event_log: {kind:?} is no EventKind value"),
                        );
                    }
                }
                self.captured(log.head_same_as.as_deref(), "head_same_as", scope, at);
            }
        }
    }

    /// `on` names `main` (open from first use) or a connection opened earlier.
    fn connection(&mut self, on: &ConnName, scope: &mut Scope, at: &str) {
        if on.is_main() {
            scope.connections.insert(on.clone());
        } else if !scope.connections.contains(on) {
            self.add(
                at,
                format!(
                    "connection {:?} is not opened by an earlier connect or send step",
                    on.as_str()
                ),
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

    /// A send opens its connection when it is not open yet.
    fn send(&mut self, send: &SendSpec, scope: &mut Scope, at: &str) {
        scope.connections.insert(send.on.clone());
        match &send.source {
            SendSource::Golden(name) => self.golden(name, at),
            SendSource::Hex(_) | SendSource::Admin(_) => {}
            SendSource::Hello(hello) => {
                let at = format!("{at}: send.hello");
                if !self.is_known(&hello.service) {
                    // Judged when the reply's expectation is seen.
                    if let Some((at, name)) = self
                        .unknown
                        .insert(send.on.clone(), (at.clone(), hello.service.clone()))
                    {
                        self.unknown_service(&name, &at);
                    }
                }
                self.hello_body(hello, &at);
            }
            SendSource::Frame(frame) => self.frame(frame, at),
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
        self.connection(&reply.on, scope, at);
        if let Some((sent_at, name)) = self.unknown.remove(&reply.on) {
            let unknown = Matcher::Equals(Literal::Str("ERROR_SERVICE_UNKNOWN".into()));
            if reply.fields.get("refused.code") != Some(&unknown) {
                self.unknown_service(&name, &sent_at);
            }
        }
        if let Some(name) = &reply.golden {
            self.golden(name, at);
        }
        for (key, checks) in [("frame", &reply.frame), ("ref_frame", &reply.ref_frame)] {
            for path in checks.keys() {
                let field = path.split('.').next().unwrap_or(path);
                if !has_field(FRAME, field) {
                    self.add(
                        at,
                        format!("expect_reply.{key}: Frame has no field {field:?}"),
                    );
                }
            }
        }
        for (key, checks) in [("json", &reply.json), ("ref_json", &reply.ref_json)] {
            for pointer in checks.keys() {
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    self.add(
                        at,
                        format!(
                            "expect_reply.{key}: {pointer:?} is not a JSON pointer (it starts with /)"
                        ),
                    );
                }
            }
        }
        for (key, checks) in [
            ("frame", &reply.frame),
            ("ref_frame", &reply.ref_frame),
            ("fields", &reply.fields),
            ("ref_fields", &reply.ref_fields),
            ("json", &reply.json),
            ("ref_json", &reply.ref_json),
        ] {
            self.matchers(&format!("expect_reply.{key}"), checks, scope, at);
        }
        if reply.result != Some(HelloResult::Refused) {
            // The engine captures these from any Negotiated reply.
            for (name, _) in NEGOTIATED_CAPTURES {
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
            ("ref_offers", &records.ref_offers),
            ("probes", &records.probes),
            ("sigterms", &records.sigterms),
            ("http_reports", &records.http_reports),
        ];
        for (name, value) in singles {
            if let Some(value) = value {
                self.matcher(&format!("expect_records.{name}"), value, scope, at);
            }
        }
        self.matchers("expect_records.env", &records.env, scope, at);
        self.matchers("expect_records.offer", &records.offer, scope, at);
        self.matchers(
            "expect_records.http_report",
            &records.http_report,
            scope,
            at,
        );
        for field in records.http_report.keys() {
            if !HTTP_REPORT_FIELDS.contains(&field.as_str()) {
                self.add(
                    at,
                    format!(
                        "expect_records.http_report.{field}: not a field ({})",
                        HTTP_REPORT_FIELDS.join(", ")
                    ),
                );
            }
        }
        self.eventually("expect_records", records.eventually, records.within_ms, at);
        for value in records.probe.values() {
            self.matcher("expect_records.probe", value, scope, at);
        }
    }

    /// `within_ms` bounds an `eventually` wait; alone it would mean nothing.
    fn eventually(&mut self, what: &str, eventually: bool, within_ms: Option<u64>, at: &str) {
        if within_ms.is_some() && !eventually {
            self.add(
                at,
                format!("{what}.within_ms bounds only an `eventually` wait"),
            );
        }
    }

    fn matchers(&mut self, what: &str, checks: &Checks, scope: &Scope, at: &str) {
        for (key, value) in checks {
            self.matcher(&format!("{what}.{key}"), value, scope, at);
        }
    }

    /// The captured values a matcher reads exist.
    fn matcher(&mut self, what: &str, value: &Matcher, scope: &Scope, at: &str) {
        for (matcher, name) in value.captures_read() {
            if !scope.captures.contains(name) {
                self.add(
                    at,
                    format!("{what}: {matcher} names {name:?}, which no earlier step captures"),
                );
            }
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
