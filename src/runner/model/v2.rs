//! The steps v2 cases add (v2 spec): identity files a front door reads
//! (V2P), the HTTP surface through an HTTP client and through raw TCP
//! (V2W), its discovery file, and a front door's lifecycle (V2L).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::matcher::{Checks, FileMode, Matcher};

/// Which process the identity file names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityPid {
    /// The runner itself: alive, its `/proc/<pid>/exe` is `exe_path`.
    #[default]
    Runner,
    /// A process that has exited.
    Dead,
    /// pid 1 with an all-zero hash (upstream trusts it, V2G-4).
    Init,
}

/// `write_identity`: a `daemon-<service>.json` in the front door's runtime
/// directory (V2P-1). Valid unless `set`, `remove` or `raw` break it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// The service (the file is `daemon-<service>.json`).
    pub service: String,
    /// `ipc_endpoint.path`.
    #[serde(default)]
    pub pipe: String,
    /// The process it names [default: the runner].
    #[serde(default)]
    pub pid: IdentityPid,
    /// Keys replaced by this JSON text (`exe_hash_algorithm = '"sha256"'`).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys left out.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The file's whole content instead (malformed files).
    #[serde(default)]
    pub raw: Option<String>,
    /// Grow the file to exactly this many bytes with an extra key,
    /// `padding`, which V2P-1 says readers ignore.
    #[serde(default)]
    pub pad_to: Option<usize>,
    /// A FIFO instead of a file: opening it for reading blocks (V2H-11).
    #[serde(default)]
    pub fifo: bool,
}

/// `expect_identity_files`: what the front door did to identity files (V2P-2).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityFilesSpec {
    /// Services whose file is still exactly what `write_identity` wrote.
    #[serde(default)]
    pub unchanged: Vec<String>,
    /// Services that have no file.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// `expect_http`: one request to the broker's HTTP surface, found through
/// its discovery file, and the response's checks.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The request target [default: `/`].
    #[serde(default = "root")]
    pub path: String,
    /// The method [default: `GET`].
    #[serde(default = "get")]
    pub method: String,
    /// Bound on the wait for the discovery file and the response (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Ask again until the checks pass or `within_ms` ends (state that a
    /// backend reports on its own time, V2R-5).
    #[serde(default)]
    pub eventually: bool,
    /// The status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// Header checks, by lower-case name (`content-type`).
    #[serde(default)]
    pub headers: Checks,
    /// The body as text.
    #[serde(default)]
    pub body: Option<Matcher>,
    /// REF-only checks on the body as text.
    #[serde(default)]
    pub ref_body: Option<Matcher>,
    /// JSON body checks: JSON pointer → expected.
    #[serde(default)]
    pub json: Checks,
    /// REF-only JSON body checks.
    #[serde(default)]
    pub ref_json: Checks,
}

fn root() -> String {
    "/".to_owned()
}

fn get() -> String {
    "GET".to_owned()
}

/// `tcp_send`: a raw TCP client of the HTTP surface (malformed and idle
/// clients): opens connection `on` on first use, then sends `text`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpSendSpec {
    /// The connection's name.
    pub on: String,
    /// What to send (empty: only connect, an idle client).
    #[serde(default)]
    pub text: String,
}

/// `expect_tcp_reply`: the bytes read on a raw TCP connection, without
/// closing its writing half, come to contain `contains` in time.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpReplySpec {
    /// The connection's name.
    pub on: String,
    /// Text the reply must contain (e.g. `HTTP/1.1 200`).
    pub contains: String,
    /// Bound on the wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_http_port_file`: the HTTP discovery file (V2W-6, V2W-13, V2W-14).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortFileSpec {
    /// It exists (waited for up to `within_ms`), or it does not.
    pub present: bool,
    /// Its content.
    #[serde(default)]
    pub content: Option<Matcher>,
    /// Its mode (V2W-13, a REF clause: cite it in REF cases).
    #[serde(default)]
    pub mode: Option<FileMode>,
    /// Bound on waiting for it to appear (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `start_front_door`: one more front door process with the case broker's
/// environment and program, plus `args` and `env`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFrontDoorSpec {
    /// Arguments added to its command line.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables set for it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// It exits with this code within `within_ms`.
    #[serde(default)]
    pub expect_exit: Option<i32>,
    /// It stays: wait until it is bound and keep it (stopped at the case's end).
    #[serde(default)]
    pub keep: bool,
    /// Bound on the exit or the bind (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Start it in a runtime directory of its own whose socket directory
    /// exists already with this mode (V2N-4, SEC-2: anything but 0700 is
    /// refused at startup).
    #[serde(default)]
    pub socket_dir_mode: Option<FileMode>,
}

/// A signal a case sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SignalName {
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGKILL.
    Kill,
}

/// Which process a lifecycle step acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Process {
    /// The case's own (fresh) broker.
    #[default]
    Broker,
    /// The last front door a `start_front_door` step kept.
    Started,
}

/// `signal`: send a signal and, unless it is SIGKILL, expect an exit code.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    /// The signal.
    pub signal: SignalName,
    /// The process [default: the case's broker].
    #[serde(default)]
    pub of: Process,
    /// The exit code expected within `within_ms`.
    #[serde(default)]
    pub expect_exit: Option<i32>,
    /// Bound on the exit (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// `expect_exit`: a process ends by itself with a code (`--once`, V2L-5).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitSpec {
    /// The process [default: the case's broker].
    #[serde(default)]
    pub of: Process,
    /// The exit code.
    pub code: i32,
    /// Bound on the wait (default 10 s).
    #[serde(default)]
    pub within_ms: Option<u64>,
}
