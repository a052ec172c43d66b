//! The case format of `conformance/cases/*.toml` (specified in
//! `conformance/README.md`), typed: what parses is well-formed, so `lint`
//! checks only what types cannot say (scopes, captures, clauses, goldens,
//! services).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::catalogue::{Level, ServiceSpec, Tombstone};
use super::matcher::{Checks, FileMode, HexBytes, Matcher};
use super::v2::{
    ExitSpec, HttpSpec, IdentityFilesSpec, IdentitySpec, PortFileSpec, SignalSpec,
    StartFrontDoorSpec, TcpReplySpec, TcpSendSpec,
};
use crate::proto::v1::AdminVerb;

/// What a case needs from the target; a target without it skips the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
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
    /// A launching broker that serves the v2 HTTP surface and control RPCs
    /// (V2W, V2R) when started with `--http-port`.
    HttpSurface,
    /// The case's fresh broker is a process the runner started, so its
    /// descriptor limit can be lowered (ENV-3); with `fresh-broker`.
    BrokerProcess,
}

/// The kind of v2 implementation a case binds (v2 spec §0); a case that
/// names none binds every v1 broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Binds {
    /// A v2 front door.
    FrontDoor,
    /// A v2-capable launching broker.
    Launching,
}

impl Binds {
    /// The name case files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::FrontDoor => "front-door",
            Self::Launching => "launching",
        }
    }
}

/// The one auth token a broker started for an `auth-token` case accepts.
pub(crate) const SUITE_AUTH_TOKEN: &str = "conformance-auth-token";

/// One case of the suite.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
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
    /// The kind of broker it binds: `front-door` or `launching` (v2);
    /// absent, any v1 broker (which a launching broker also is).
    #[serde(default)]
    pub binds: Option<Binds>,
    /// What it needs from the target.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// Arguments added to its fresh broker's command line (needs `fresh-broker`).
    #[serde(default)]
    pub broker_args: Vec<String>,
    /// Environment variables set for its fresh broker (needs `fresh-broker`).
    #[serde(default)]
    pub broker_env: BTreeMap<String, String>,
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

/// One file of cases (`cases/<area>.toml`, or `retired.toml`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseFile {
    /// The cases.
    #[serde(rename = "case", default)]
    pub cases: Vec<Case>,
    /// Retired ids (only in `retired.toml`).
    #[serde(rename = "retired", default)]
    pub retired: Vec<Tombstone>,
}

/// The connection every case has without opening it.
const MAIN: &str = "main";

/// A connection's name; `main` when a step names none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(transparent)]
pub struct ConnName(#[schemars(length(min = 1))] String);

impl ConnName {
    /// A named connection; `None` for a blank name.
    pub fn new(name: &str) -> Option<Self> {
        (!name.trim().is_empty()).then(|| Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the default connection.
    pub fn is_main(&self) -> bool {
        self.0 == MAIN
    }
}

impl Default for ConnName {
    fn default() -> Self {
        Self(MAIN.to_owned())
    }
}

impl fmt::Display for ConnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ConnName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::new(&name).ok_or_else(|| de::Error::custom("a connection name must not be blank"))
    }
}

/// Where a `send` step's bytes come from: exactly one source.
#[derive(Debug, Clone, PartialEq)]
pub enum SendSource {
    /// A golden file's bytes.
    Golden(String),
    /// Literal bytes.
    Hex(HexBytes),
    /// A Hello request built from these fields (protocol 1..1 unless given).
    Hello(HelloSpec),
    /// An admin request.
    Admin(AdminSpec),
    /// A frame in protobuf text format, with an optional typed payload.
    Frame(FrameSpec),
}

/// Sending in small chunks with pauses: a slow client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    /// Bytes per chunk.
    pub size: NonZeroUsize,
    /// Pause between chunks, in milliseconds (default 50).
    pub pause_ms: u64,
}

/// Bytes to send: one source, then patches, truncation and pacing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "SendFields")]
pub struct SendSpec {
    /// The connection (opened by this step when new).
    pub on: ConnName,
    /// The bytes before any modifier.
    pub source: SendSource,
    /// Byte edits applied after building the bytes.
    pub patch: Vec<Patch>,
    /// Send only the first N bytes.
    pub truncate: Option<usize>,
    /// Trickle the bytes (a slow client).
    pub chunking: Option<Chunking>,
}

impl JsonSchema for SendSpec {
    fn schema_name() -> Cow<'static, str> {
        SendFields::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        SendFields::json_schema(generator)
    }
}

/// `send` as written: five optional sources of which exactly one is set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["golden"] },
    { "required": ["hex"] },
    { "required": ["hello"] },
    { "required": ["admin"] },
    { "required": ["frame"] }
]))]
struct SendFields {
    /// The connection (default `main`).
    #[serde(default)]
    on: ConnName,
    /// A golden file's bytes.
    golden: Option<String>,
    /// Literal hex (white space ignored).
    hex: Option<HexBytes>,
    /// A Hello request.
    hello: Option<HelloSpec>,
    /// An admin request.
    admin: Option<AdminSpec>,
    /// A frame in protobuf text format.
    frame: Option<FrameSpec>,
    /// Byte edits applied after building the bytes.
    #[serde(default)]
    patch: Vec<Patch>,
    /// Send only the first N bytes.
    truncate: Option<usize>,
    /// Send in chunks of this many bytes, pausing between them.
    chunk: Option<NonZeroUsize>,
    /// Pause between chunks, in milliseconds (default 50).
    chunk_pause_ms: Option<u64>,
}

impl TryFrom<SendFields> for SendSpec {
    type Error = String;

    fn try_from(raw: SendFields) -> Result<Self, String> {
        let mut sources: Vec<(&str, SendSource)> = Vec::new();
        if let Some(name) = raw.golden {
            sources.push(("golden", SendSource::Golden(name)));
        }
        if let Some(bytes) = raw.hex {
            sources.push(("hex", SendSource::Hex(bytes)));
        }
        if let Some(hello) = raw.hello {
            sources.push(("hello", SendSource::Hello(hello)));
        }
        if let Some(admin) = raw.admin {
            sources.push(("admin", SendSource::Admin(admin)));
        }
        if let Some(frame) = raw.frame {
            sources.push(("frame", SendSource::Frame(frame)));
        }
        if sources.len() != 1 {
            let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "send needs exactly one source of golden, hex, hello, admin, frame (has {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        if let Some(i) = raw.patch.iter().position(|p| p.hex.0.is_empty()) {
            return Err(format!("patch {}: hex is empty", i + 1));
        }
        let chunking = match (raw.chunk, raw.chunk_pause_ms) {
            (Some(size), pause) => Some(Chunking {
                size,
                pause_ms: pause.unwrap_or(50),
            }),
            (None, Some(_)) => return Err("chunk_pause_ms without chunk does nothing".into()),
            (None, None) => None,
        };
        let (_, source) = sources.remove(0);
        Ok(Self {
            on: raw.on,
            source,
            patch: raw.patch,
            truncate: raw.truncate,
            chunking,
        })
    }
}

/// A Hello for `send.hello`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelloSpec {
    /// `service_name`.
    pub service: String,
    /// `wanted_version`.
    pub version: String,
    /// Other Hello fields in text format, e.g. `client_capabilities: 1`.
    #[serde(default)]
    pub text: Option<String>,
    /// `peer_pid` = the runner's own pid.
    #[serde(default)]
    pub own_pid: bool,
    /// The frame's `request_id` (default 1).
    #[serde(default)]
    pub request_id: Option<u64>,
    /// Frame fields in text format (`traceparent: "..."`).
    #[serde(default)]
    pub frame_text: Option<String>,
}

/// An `AdminVerb`: its name (`ADMIN_VERB_STATUS`) or any number (unknown verbs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb(pub i32);

impl<'de> Deserialize<'de> for Verb {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(i64),
            Name(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => i32::try_from(n)
                .map(Self)
                .map_err(|_| de::Error::custom(format!("verb {n} does not fit an enum (i32)"))),
            Written::Name(name) => AdminVerb::from_str_name(&name)
                .map(|v| Self(v as i32))
                .ok_or_else(|| {
                    de::Error::custom(format!(
                        "{name:?} is no AdminVerb value (use a number for unknown verbs)"
                    ))
                }),
        }
    }
}

impl JsonSchema for Verb {
    fn schema_name() -> Cow<'static, str> {
        "Verb".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = (0..=i32::from(u8::MAX))
            .filter_map(|n| AdminVerb::try_from(n).ok())
            .map(|v| v.as_str_name())
            .collect();
        json_schema!({
            "description": "An AdminVerb name, or a number (for unknown verbs).",
            "anyOf": [
                { "type": "string", "enum": names },
                { "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX }
            ]
        })
    }
}

/// An admin request for `send.admin`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// The verb.
    pub verb: Verb,
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Offset in the built bytes.
    pub at: usize,
    /// The new bytes.
    pub hex: HexBytes,
}

/// Which member of a HelloReply is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HelloResult {
    /// `negotiated`.
    Negotiated,
    /// `refused`.
    Refused,
}

impl HelloResult {
    /// The oneof member's field name.
    pub fn field(self) -> &'static str {
        match self {
            Self::Negotiated => "negotiated",
            Self::Refused => "refused",
        }
    }
}

/// Expectations on one reply frame. Each `ref_*` table holds checks that
/// bind only when REF is judged as MUST (against the reference broker);
/// elsewhere a miss is reported, not counted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplySpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: ConnName,
    /// How long to wait for it (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// The frame must equal this golden byte for byte.
    #[serde(default)]
    pub golden: Option<String>,
    /// Checks on Frame fields by path (`request_id`, `kind`, ...).
    #[serde(default)]
    pub frame: Checks,
    /// REF-only checks on Frame fields.
    #[serde(default)]
    pub ref_frame: Checks,
    /// Which oneof member of a HelloReply is set.
    #[serde(default)]
    pub result: Option<HelloResult>,
    /// Checks on payload fields by dotted path (`refused.code`, `body`, ...).
    #[serde(default)]
    pub fields: Checks,
    /// REF-only checks on payload fields.
    #[serde(default)]
    pub ref_fields: Checks,
    /// Values to remember for later steps: name → payload path
    /// (`frame.<field>` reads the envelope).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// JSON body checks for admin replies: JSON pointer → expected.
    #[serde(default)]
    pub json: Checks,
    /// REF-only JSON body checks.
    #[serde(default)]
    pub ref_json: Checks,
    /// Values of the JSON body to remember: name → JSON pointer.
    #[serde(default)]
    pub capture_json: BTreeMap<String, String>,
}

/// Expectations on the fake backend's records for one service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsSpec {
    /// The service whose backend installation recorded.
    pub service: String,
    /// Only records of backends serving this version.
    #[serde(default)]
    pub version: Option<String>,
    /// How many backend processes started.
    #[serde(default)]
    pub started: Option<Matcher>,
    /// How the listener was obtained (`inherited` / `bound`).
    #[serde(default)]
    pub listener: Option<Matcher>,
    /// Environment variables that must be present (name → expected value).
    #[serde(default)]
    pub env: Checks,
    /// The only variables allowed besides `LC_*` (LCH-2).
    #[serde(default)]
    pub env_only: Option<Vec<String>>,
    /// Handoff offers received.
    #[serde(default)]
    pub offers: Option<Matcher>,
    /// REF-only: handoff offers received.
    #[serde(default)]
    pub ref_offers: Option<Matcher>,
    /// Checks on the first offer (`with_fd`, `explicit_handle`, ...).
    #[serde(default)]
    pub offer: Checks,
    /// Identity probes received.
    #[serde(default)]
    pub probes: Option<Matcher>,
    /// Checks on the first probe.
    #[serde(default)]
    pub probe: BTreeMap<ProbeField, Matcher>,
    /// SIGTERMs the backend received (`ignore-term` records them).
    #[serde(default)]
    pub sigterms: Option<Matcher>,
    /// BackendHttpReady reports the backend made (V2K-7).
    #[serde(default)]
    pub http_reports: Option<Matcher>,
    /// Checks on the first report: `serving` (the port its page serves
    /// on), `reported` (the port it sent) and `outcome` (`accepted`,
    /// `rejected`, `no-broker` or `error: ...`).
    #[serde(default)]
    pub http_report: Checks,
    /// Read the records again until the checks pass or `within_ms` ends:
    /// a backend records a report only after its round trip, on its own time.
    #[serde(default)]
    pub eventually: bool,
    /// Bound on an `eventually` wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// A field of a recorded identity probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeField {
    /// The nonce's length.
    NonceLen,
    /// The probe frame's request_id.
    RequestId,
    /// The request_id was derived from the nonce.
    RequestIdFromNonce,
}

impl ProbeField {
    /// The field's name in the case file.
    pub fn name(self) -> &'static str {
        match self {
            Self::NonceLen => "nonce_len",
            Self::RequestId => "request_id",
            Self::RequestIdFromNonce => "request_id_from_nonce",
        }
    }
}

/// Concurrent Hellos for one key (REG-3, HEL-17).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
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

/// One step of a case.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Open another named connection (`main` opens by itself on first use).
    Connect(ConnName),
    /// Send bytes.
    Send(Box<SendSpec>),
    /// Shut down the writing half of a connection.
    HalfClose(ConnName),
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
    /// Change the definition directory's mode, restored after the case.
    ChmodDefinitions(FileMode),
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
    /// Write a daemon identity file in the front door's runtime directory (V2P).
    WriteIdentity(Box<IdentitySpec>),
    /// Identity files left as written, and none created (V2P-2).
    ExpectIdentityFiles(IdentityFilesSpec),
    /// One HTTP request to the broker's HTTP surface, and its checks (V2W).
    ExpectHttp(Box<HttpSpec>),
    /// Send raw bytes on a TCP connection to the HTTP surface (opened on first use).
    TcpSend(TcpSendSpec),
    /// Bytes read on a raw TCP connection come to contain a text.
    ExpectTcpReply(TcpReplySpec),
    /// The HTTP discovery file is there (with this content) or not.
    ExpectHttpPortFile(PortFileSpec),
    /// Start one more front door with the case broker's environment.
    StartFrontDoor(Box<StartFrontDoorSpec>),
    /// Send a signal to the case's broker (or a started front door) and expect its exit.
    Signal(SignalSpec),
    /// The case's broker (or a started front door) exits by itself with a code.
    ExpectExit(ExitSpec),
    /// A JSON file something wrote (a DIAGNOSE bundle), and its checks.
    ExpectFile(Box<FileSpec>),
    /// Run the case's broker out of descriptors (ENV-3): Hellos then get
    /// `Refused{FD_PRESSURE, retry_after_ms=1000}`, and once the
    /// connections are gone normal answers again (needs `broker-process`).
    ExhaustFds(ExhaustFdsSpec),
}

/// `expect_file`: a file read as JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Its path; `{tmp}` is the case's temporary directory.
    pub path: String,
    /// JSON pointer checks on its content (RFC 6901).
    #[serde(default)]
    pub json: Checks,
}

/// `exhaust_fds`: the stress tool's fd-exhaustion phase on the case's broker.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExhaustFdsSpec {
    /// Descriptors the broker may open beyond those open at the start (its
    /// RLIMIT_NOFILE is lowered to that) [default: 32].
    #[serde(default)]
    pub headroom: Option<u64>,
}

/// One alternative of `expect_one_of`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    /// A name for reports.
    pub name: String,
    /// The steps.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// `expect_close`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: ConnName,
    /// Bound on the wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Add the target's Hello deadline to the bound.
    #[serde(default)]
    pub after_hello_timeout: bool,
}

/// `expect_silence`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: ConnName,
    /// How long nothing may arrive.
    pub for_ms: std::num::NonZeroU64,
}

/// `expect_handoff_event`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffEventSpec {
    /// The connection (default `main`).
    #[serde(default)]
    pub on: ConnName,
    /// Captured value holding the token (default `token`).
    #[serde(default)]
    pub token: Option<String>,
    /// Bound on the wait (default 2 s, HOF-8).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_backend_serves`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServesSpec {
    /// Echo over this connection (an adopted one) instead of dialing the pipe.
    #[serde(default)]
    pub on: Option<ConnName>,
    /// The captured value holding the backend pipe (default `backend_pipe`).
    #[serde(default)]
    pub pipe: Option<String>,
}

/// `kill_backend`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSpec {
    /// The captured value holding its backend pipe (default `backend_pipe`).
    #[serde(default)]
    pub pipe: Option<String>,
    /// Let it exit by SIGTERM instead of SIGKILL.
    #[serde(default)]
    pub gentle: bool,
}

/// `send_as_uid`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UidSpec {
    /// The uid (and gid) to run as.
    pub uid: u32,
    /// The Hello to send.
    pub hello: HelloSpec,
}

/// `expect_stopped`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoppedSpec {
    /// Bound on the wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_event_log`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
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
    /// Event kinds that must not appear at all.
    #[serde(default)]
    pub absent_kinds: Vec<String>,
    /// Records that must each appear: a kind and `extra` entries the record
    /// carries (`{ kind = "RESOURCE_PRESSURE", extra = { fd_pressure = "false" } }`).
    #[serde(default)]
    pub records: Vec<RecordPattern>,
    /// At least this many records.
    #[serde(default)]
    pub min_records: Option<u64>,
    /// The chain head equals this captured value (hex string, e.g. from STATUS JSON).
    #[serde(default)]
    pub head_same_as: Option<String>,
    /// Read the log again until the checks pass or `within_ms` ends: the
    /// broker logs a Hello's outcome after the client may already have
    /// seen its last frame (a handoff's EVENT).
    #[serde(default)]
    pub eventually: bool,
    /// Bound on an `eventually` wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// One record `expect_event_log.records` looks for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPattern {
    /// The event kind (`RESOURCE_PRESSURE`, …).
    pub kind: String,
    /// Entries of the record's `extra` map, each with this exact value.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `expect_socket_modes`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocketModesSpec {
    /// Mode of the socket's directory.
    pub dir: FileMode,
    /// Mode of the socket file.
    pub socket: FileMode,
}
