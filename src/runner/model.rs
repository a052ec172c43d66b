//! The suite as data: cases, steps and matchers, as written in
//! `conformance/cases/*.toml` (the format is documented in
//! `conformance/README.md`), and the results a run produces.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How strongly the spec requires what a case checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Every conforming broker.
    #[serde(rename = "MUST")]
    Must,
    /// The documented intent; deployed brokers may differ.
    #[serde(rename = "SHOULD")]
    Should,
    /// The reference broker's choice: informational for other brokers.
    #[serde(rename = "REF")]
    Ref,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::Ref => "REF",
        })
    }
}

/// What a case needs from the target; a target without it skips the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// A broker started for this case alone (it shuts it down, or changes
    /// something every later case would see).
    FreshBroker,
    /// Root, to act as another uid.
    Root,
    /// The broker's lifecycle event log file.
    EventLog,
    /// The runner wrote the service definitions and may change them.
    OwnDefinitions,
    /// Runs with no other case at the same time.
    Alone,
    /// A fresh broker that requires the auth token [`SUITE_AUTH_TOKEN`]
    /// (HEL-12); implies `fresh-broker`.
    AuthToken,
}

/// The one auth token a broker started for an `auth-token` case accepts.
pub const SUITE_AUTH_TOKEN: &str = "conformance-auth-token";

/// One case of the suite.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Immutable id `<area>.<slug>`, never reused.
    pub id: String,
    /// The spec clauses it proves.
    pub clauses: Vec<String>,
    /// How strongly the spec requires it.
    pub level: Level,
    /// One line saying what it checks.
    pub summary: String,
    /// What it needs from the target.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// The steps, run in order.
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
}

impl Case {
    /// The area: the id up to the first dot.
    pub fn area(&self) -> &str {
        self.id.split('.').next().unwrap_or(&self.id)
    }
}

/// A retired case id: kept so it is never reused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// The retired id.
    pub id: String,
    /// Why it was retired.
    pub reason: String,
}

/// One file of cases.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases.
    #[serde(rename = "case", default)]
    pub cases: Vec<Case>,
    /// Retired ids (only in `retired.toml`).
    #[serde(rename = "retired", default)]
    pub retired: Vec<Tombstone>,
}

/// Bytes to send, from one source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: Option<String>,
    /// A golden file's bytes.
    #[serde(default)]
    pub golden: Option<String>,
    /// Literal hex (white space ignored).
    #[serde(default)]
    pub hex: Option<String>,
    /// A Hello request built from these fields (protocol 1..1 unless given).
    #[serde(default)]
    pub hello: Option<HelloSpec>,
    /// An admin request.
    #[serde(default)]
    pub admin: Option<AdminSpec>,
    /// A frame in protobuf text format, with an optional typed payload.
    #[serde(default)]
    pub frame: Option<FrameSpec>,
    /// Byte edits applied after building the bytes.
    #[serde(default)]
    pub patch: Vec<Patch>,
    /// Send only the first N bytes.
    #[serde(default)]
    pub truncate: Option<usize>,
    /// Send in chunks of this many bytes, pausing between them (a slow client).
    #[serde(default)]
    pub chunk: Option<usize>,
    /// Pause between chunks, in milliseconds.
    #[serde(default)]
    pub chunk_pause_ms: Option<u64>,
}

/// A Hello for `send.hello`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HelloSpec {
    /// `service_name`.
    pub service: String,
    /// `wanted_version`.
    pub version: String,
    /// Other Hello fields in text format, e.g. `client_capabilities: 1`.
    #[serde(default)]
    pub text: Option<String>,
    /// `peer_pid` = the runner's own pid (true) or this number.
    #[serde(default)]
    pub own_pid: bool,
    /// The frame's `request_id` (default 1).
    #[serde(default)]
    pub request_id: Option<u64>,
    /// Frame fields in text format (`traceparent: "..."`).
    #[serde(default)]
    pub frame_text: Option<String>,
}

/// An admin request for `send.admin`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// The verb's enum name (`ADMIN_VERB_STATUS`) or number.
    pub verb: toml::Value,
    /// Ask for JSON.
    #[serde(default)]
    pub json: bool,
    /// BACKEND_HEALTH service.
    #[serde(default)]
    pub service_name: Option<String>,
    /// DIAGNOSE output path; `{tmp}` is the case's temporary directory.
    #[serde(default)]
    pub output_path: Option<String>,
    /// SHUTDOWN drain bound.
    #[serde(default)]
    pub drain_deadline_ms: Option<u64>,
    /// The frame's `request_id` (default 1).
    #[serde(default)]
    pub request_id: Option<u64>,
    /// Frame fields in text format (`traceparent: "..."`).
    #[serde(default)]
    pub frame_text: Option<String>,
}

/// A frame in text format for `send.frame`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSpec {
    /// The Frame's fields in text format.
    #[serde(default)]
    pub text: String,
    /// Full name of the payload message, encoded from `payload_text`.
    #[serde(default)]
    pub payload_type: Option<String>,
    /// The payload message in text format.
    #[serde(default)]
    pub payload_text: Option<String>,
    /// Pad the frame body to exactly this many bytes (with a reserved, skipped field).
    #[serde(default)]
    pub body_len: Option<usize>,
}

/// Overwrite bytes at an offset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Offset in the built bytes.
    pub at: usize,
    /// The new bytes.
    pub hex: String,
}

/// A value check: a literal, or a table with one matcher.
pub type Expected = toml::Value;

/// Expectations on one reply frame.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: Option<String>,
    /// How long to wait for it (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// The frame must equal this golden byte for byte.
    #[serde(default)]
    pub golden: Option<String>,
    /// Checks on Frame fields by path (`request_id`, `kind`, ...).
    #[serde(default)]
    pub frame: BTreeMap<String, Expected>,
    /// Which oneof member of a HelloReply is set: `negotiated` or `refused`.
    #[serde(default)]
    pub result: Option<String>,
    /// Checks on payload fields by dotted path (`refused.code`, `body`, ...).
    #[serde(default)]
    pub fields: BTreeMap<String, Expected>,
    /// Values to remember for later steps: name → payload path.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// JSON body checks for admin replies: JSON pointer → expected.
    #[serde(default)]
    pub json: BTreeMap<String, Expected>,
    /// Values of the JSON body to remember: name → JSON pointer.
    #[serde(default)]
    pub capture_json: BTreeMap<String, String>,
}

/// Expectations on the fake backend's records for one service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSpec {
    /// The service whose backend installation recorded.
    pub service: String,
    /// Only records of backends serving this version.
    #[serde(default)]
    pub version: Option<String>,
    /// How many backend processes started.
    #[serde(default)]
    pub started: Option<Expected>,
    /// How the listener was obtained (`inherited` / `bound`).
    #[serde(default)]
    pub listener: Option<Expected>,
    /// Environment variables that must be present (name → expected value).
    #[serde(default)]
    pub env: BTreeMap<String, Expected>,
    /// The only variables allowed besides `LC_*` (LCH-2).
    #[serde(default)]
    pub env_only: Option<Vec<String>>,
    /// Handoff offers received, with checks on their fields.
    #[serde(default)]
    pub offers: Option<Expected>,
    /// Checks on the first offer (`with_fd`, `explicit_handle`, ...).
    #[serde(default)]
    pub offer: BTreeMap<String, Expected>,
    /// Identity probes received.
    #[serde(default)]
    pub probes: Option<Expected>,
    /// Checks on the first probe (`request_id_from_nonce`, `nonce_len`).
    #[serde(default)]
    pub probe: BTreeMap<String, Expected>,
}

/// Concurrent Hellos for one key (REG-3, HEL-17).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelSpec {
    /// How many at once.
    pub count: usize,
    /// The Hello each sends.
    pub hello: HelloSpec,
    /// Codes accepted besides Negotiated (e.g. `ERROR_RATE_LIMITED`).
    #[serde(default)]
    pub also_accept: Vec<String>,
    /// Every Negotiated names the same backend_pipe.
    #[serde(default)]
    pub same_backend: bool,
}

pub use crate::testbed::ServiceSpec;

/// `conformance/services.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesFile {
    /// The services.
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceSpec>,
}

/// One clause of the spec as the suite tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseInfo {
    /// Its id.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its rule, shortened.
    pub rule: String,
    /// False when no case can observe it from outside a broker.
    #[serde(default = "yes")]
    pub observable: bool,
    /// Why not, and where else it is proved.
    #[serde(default)]
    pub why: Option<String>,
}

fn yes() -> bool {
    true
}

/// `conformance/clauses.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClausesFile {
    /// The clauses.
    #[serde(rename = "clause", default)]
    pub clauses: Vec<ClauseInfo>,
}

/// One step of a case.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Open another named connection (`main` opens by itself on first use).
    Connect(String),
    /// Send bytes.
    Send(Box<SendSpec>),
    /// Shut down the writing half of a connection (default `main`).
    HalfClose(String),
    /// Read one frame and check it.
    ExpectReply(Box<ReplySpec>),
    /// The peer closes the connection, with no (further) bytes.
    ExpectClose(CloseSpec),
    /// Nothing arrives and the connection stays open for a while.
    ExpectSilence(SilenceSpec),
    /// One of several alternative step lists must pass.
    ExpectOneOf(Vec<Alternative>),
    /// A HandoffAck EVENT on the connection (HOF-5) for the captured token.
    ExpectHandoffEvent(Box<HandoffEventSpec>),
    /// The backend named by the last Negotiated (or the connection itself)
    /// answers an echo request.
    ExpectBackendServes(ServesSpec),
    /// The fake backend's records for a service.
    ExpectRecords(Box<RecordsSpec>),
    /// Several Hellos at once.
    Parallel(Box<ParallelSpec>),
    /// Kill the backend serving the captured backend pipe and wait for it to go.
    KillBackend(KillSpec),
    /// Write a service definition.
    Define(Box<ServiceSpec>),
    /// Replace a service's fake-backend binary with a rebuilt one (new hash).
    RebuildBackend(String),
    /// Change the definition directory's mode (octal string), restored after the case.
    ChmodDefinitions(String),
    /// Send from a child process running as another uid; expect no reply.
    SendAsUid(Box<UidSpec>),
    /// Check the broker socket and its directory (SEC-2).
    ExpectSocketModes(SocketModesSpec),
    /// The broker stopped: its socket file is gone and nothing accepts (ADM-7).
    ExpectStopped(StoppedSpec),
    /// Check the broker's lifecycle event log file (EVT-1…EVT-3).
    ExpectEventLog(Box<EventLogSpec>),
    /// Wait: only to act as a slow client, never to let things settle.
    PauseMs(u64),
}

/// One alternative of `expect_one_of`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    /// A name for reports.
    pub name: String,
    /// The steps.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// `expect_close`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloseSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: Option<String>,
    /// Bound on the wait (default 10 s); `hello_timeout` adds the target's Hello deadline.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Add the target's Hello deadline to the bound.
    #[serde(default)]
    pub after_hello_timeout: bool,
}

/// `expect_silence`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: Option<String>,
    /// How long nothing may arrive.
    pub for_ms: u64,
}

/// `expect_handoff_event`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffEventSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: Option<String>,
    /// Captured value holding the token (default `token`).
    #[serde(default)]
    pub token: Option<String>,
    /// Bound on the wait (default 2 s, HOF-8).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_backend_serves`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServesSpec {
    /// Echo over this connection (an adopted one) instead of dialing the pipe.
    #[serde(default)]
    pub on: Option<String>,
    /// The captured value holding the backend pipe (default `backend_pipe`).
    #[serde(default)]
    pub pipe: Option<String>,
}

/// `kill_backend`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KillSpec {
    /// The captured value holding its backend pipe (default `backend_pipe`).
    #[serde(default)]
    pub pipe: Option<String>,
    /// Kill with SIGKILL (default) or let it exit by SIGTERM.
    #[serde(default)]
    pub gentle: bool,
}

/// `send_as_uid`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UidSpec {
    /// The uid (and gid) to run as.
    pub uid: u32,
    /// The Hello to send.
    pub hello: HelloSpec,
}

/// `expect_stopped`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoppedSpec {
    /// Bound on the wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_event_log`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogSpec {
    /// The hash chain verifies (EVT-3).
    #[serde(default)]
    pub intact: Option<bool>,
    /// No record, length prefix included, is longer than this (EVT-1).
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
    /// Event kinds (`HELLO_REFUSED`, …) that must each appear at least once.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// At least this many records.
    #[serde(default)]
    pub min_records: Option<u64>,
    /// The chain head equals this captured value (hex string, e.g. from STATUS JSON).
    #[serde(default)]
    pub head_same_as: Option<String>,
}

/// `expect_socket_modes`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SocketModesSpec {
    /// Mode of the socket's directory (octal string).
    pub dir: String,
    /// Mode of the socket file (octal string).
    pub socket: String,
}

/// The verdict on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Passed.
    Pass,
    /// Failed a MUST/SHOULD (or a REF on the reference broker).
    Fail,
    /// Failed, and listed as an expected failure.
    ExpectedFail,
    /// Passed, but listed as an expected failure: the list is stale.
    UnexpectedPass,
    /// A REF case failed on another broker: reported, not counted.
    Info,
    /// The target lacks what the case needs.
    Skip,
    /// The harness could not run the case.
    Error,
}

impl Verdict {
    /// True when this verdict fails the run.
    pub fn fails_run(self) -> bool {
        matches!(self, Self::Fail | Self::UnexpectedPass | Self::Error)
    }

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::ExpectedFail => "xfail",
            Self::UnexpectedPass => "XPASS",
            Self::Info => "info",
            Self::Skip => "skip",
            Self::Error => "ERROR",
        }
    }
}

/// One event of a case's wire log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// The connection.
    pub conn: String,
    /// `send`, `recv`, `close`, `note`.
    pub what: String,
    /// Bytes in hex, for sends and receives.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hex: String,
    /// A description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Clauses it proves.
    pub clauses: Vec<String>,
    /// Its level.
    pub level: Level,
    /// Its summary.
    pub summary: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it failed, was skipped or errored; the expected-failure reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Details: expected vs actual, hex diffs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// How long it took.
    pub duration_ms: u64,
    /// The wire log (kept for failures, or always with --trace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEvent>,
}

impl CaseResult {
    /// `case`'s result with this verdict and message, nothing else yet.
    pub fn of(case: &Case, verdict: Verdict, message: String) -> Self {
        Self {
            id: case.id.clone(),
            clauses: case.clauses.clone(),
            level: case.level,
            summary: case.summary.clone(),
            verdict,
            message,
            detail: String::new(),
            duration_ms: 0,
            trace: Vec::new(),
        }
    }
}

pub use crate::testbed::TargetInfo;

/// A whole run, as written by `run --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Format version of this file.
    pub schema_version: u32,
    /// This tool's version.
    pub tool_version: String,
    /// The target.
    pub target: TargetInfo,
    /// When the run started (Unix ms).
    pub started_at_unix_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
    /// Every case result, in suite order.
    pub cases: Vec<CaseResult>,
}

impl RunReport {
    /// Count of results per verdict.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for case in &self.cases {
            *counts.entry(case.verdict.label()).or_default() += 1;
        }
        counts
    }

    /// True when no result fails the run.
    pub fn passed(&self) -> bool {
        !self.cases.iter().any(|c| c.verdict.fails_run())
    }
}
