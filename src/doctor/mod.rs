//! `doctor`: read-only diagnostics of the environment a broker needs, for a
//! person setting one up or working out why a Hello was refused.
//!
//! Doctor gathers [`Facts`] (the environment through [`EnvSource`], the
//! machine through `lstat`, `stat`, one non-blocking connect, `statvfs` and
//! reads), then [`judge`] turns them into [`Finding`]s without touching the
//! machine again. It never creates, changes or deletes anything: a stale
//! socket is reported, not removed; a missing directory is reported, not
//! created. The only side effect is the connect that tells a live socket
//! from a stale one (it sends nothing and closes at once).
//!
//! ```text
//! $ broker-conformance doctor --service-def-dir ~/.config/running-process/services
//! socket
//!   [ok]      socket.path: /run/user/1000/running-process/broker/rpb-v1-…-shared.sock (default, spec §13)
//!   [ok]      socket-dir.exists: /run/user/1000/running-process/broker exists
//!   [ok]      socket-dir.type: /run/user/1000/running-process/broker is a real directory
//!   [ok]      socket-dir.owner: /run/user/1000/running-process/broker is owned by uid 1000
//!   [error]   socket-dir.mode: /run/user/1000/running-process/broker has mode 0755; SEC-2 needs exactly 0700, a broker refuses it
//!             fix: chmod 700 /run/user/1000/running-process/broker
//!   [warning] socket.state: /run/user/1000/running-process/broker/rpb-v1-…-shared.sock is a stale socket: …
//!             fix: rm /run/user/1000/running-process/broker/rpb-v1-…-shared.sock
//! definitions
//!   [info]    definition-dir.location: /home/me/.config/running-process/services (from --service-def-dir, SVC-1)
//!   …
//! unhealthy: 1 error, 1 warning
//! $ broker-conformance doctor --json | jq '.findings[] | select(.severity == "error") | .hint'
//! "chmod 700 /run/user/1000/running-process/broker"
//! ```
//!
//! Flags: `--socket PATH` (default: the per-user shared socket of §13; its
//! parent is the directory checked), `--service-def-dir DIR` (default: SVC-1
//! order), `--event-log PATH` (verify it too), `--json`.
//!
//! Each finding has a stable check id ([`Check::id`]), a [`Severity`], a
//! subject (the path, variable or limit it is about), a one-line message
//! and, when something can be done, a fix hint. `--json` prints one object:
//! `{"schema_version": 1, "command": "doctor", "healthy": …, "counts": {…},
//! "findings": [{"id", "area", "severity", "subject", "message", "hint"}]}`.
//!
//! Exit codes: 0 when no finding is an `error` — warnings do not fail the
//! run, because they describe things a broker copes with (a directory it
//! creates, a stale socket it replaces, a soft limit it raises) or choices a
//! person may have made on purpose; 1 when at least one finding is an
//! `error` (a broker would refuse to start or would refuse Hellos); 2 when
//! doctor itself cannot run (bad flags).
//!
//! | module | job |
//! |---|---|
//! | `facts` | gathering: the probe layer and the [`Facts`] it fills |
//! | `checks` | judging: pure functions from facts to findings |
//! | `report` | text and JSON renderings |

mod checks;
mod facts;
mod report;

use std::fmt;
use std::path::PathBuf;

pub use checks::{FDS_FOR_10K_CONNECTIONS, LOW_FREE_PERCENT, judge};
pub use facts::{
    BinaryFacts, DefinitionDirFacts, DefinitionFileFacts, Entry, EntryKind, EntryStat, EnvVarFacts,
    EventLogFacts, EventLogUnread, Facts, FdFacts, FilesystemFacts, FsStats, ManifestRegistryFacts,
    PATH_VARIABLES, SocketFacts, SocketSource, gather,
};
pub use report::{render_json, render_text};

use crate::env::EnvSource;

/// What to examine besides the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoctorOptions {
    /// The broker socket (`--socket`); default: the per-user shared socket
    /// of spec §13.
    pub socket: Option<PathBuf>,
    /// The service definition directory (`--service-def-dir`); default:
    /// SVC-1 order.
    pub service_def_dir: Option<PathBuf>,
    /// An event log to verify (`--event-log`, EVT-3).
    pub event_log: Option<PathBuf>,
}

/// Why doctor cannot run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoctorError {
    /// `--socket` is not an absolute path with a parent directory.
    #[error("--socket {}: must be an absolute path to a socket file", .0.display())]
    BadSocketPath(PathBuf),
}

/// Gathers the facts and judges them. Read-only.
pub fn diagnose(options: &DoctorOptions, env: &dyn EnvSource) -> Result<Report, DoctorError> {
    if let Some(socket) = &options.socket
        && (!socket.is_absolute() || socket.parent().is_none())
    {
        return Err(DoctorError::BadSocketPath(socket.clone()));
    }
    Ok(Report {
        findings: judge(&gather(options, env)),
    })
}

/// How much a finding matters, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Checked and fine.
    Ok,
    /// Worth knowing; nothing to fix.
    Info,
    /// Something a broker copes with or a person may want to change.
    Warning,
    /// A broker would refuse to start, refuse Hellos or fail launches.
    Error,
}

impl Severity {
    /// `ok`, `info`, `warning` or `error` (the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group of checks, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// The broker socket and its directory (SEC-2, SEC-6).
    Socket,
    /// Running as root (SEC-4).
    Privilege,
    /// The service definition directory and its files (SVC-1…SVC-3, SEC-3, LCH-1).
    Definitions,
    /// Path variables and the manifest registry (MAN-2).
    Paths,
    /// File descriptors.
    Limits,
    /// Free inodes and space.
    Filesystem,
    /// The lifecycle event log (EVT-3).
    EventLog,
}

impl Area {
    /// Every area, in report order.
    pub const ALL: [Self; 7] = [
        Self::Socket,
        Self::Privilege,
        Self::Definitions,
        Self::Paths,
        Self::Limits,
        Self::Filesystem,
        Self::EventLog,
    ];

    /// The area's name (text heading and JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Privilege => "privilege",
            Self::Definitions => "definitions",
            Self::Paths => "paths",
            Self::Limits => "limits",
            Self::Filesystem => "filesystem",
            Self::EventLog => "event-log",
        }
    }
}

/// Every check doctor runs; [`Check::id`] is the stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// Which socket path is examined, and whether it fits `sun_path`.
    SocketPath,
    /// The socket directory exists.
    SocketDirExists,
    /// It is a real directory, not a symlink (SEC-2).
    SocketDirType,
    /// It is owned by the current euid (SEC-2).
    SocketDirOwner,
    /// Its mode is exactly 0700 (SEC-2).
    SocketDirMode,
    /// Absent, live, stale or not a socket (SEC-6).
    SocketState,
    /// A live socket's mode is 0600 (SEC-2).
    SocketMode,
    /// Running as root and the opt-in (SEC-4).
    PrivilegeRoot,
    /// Which directory SVC-1 chose and why.
    DefinitionDirLocation,
    /// The definition directory exists.
    DefinitionDirExists,
    /// It grants no group or other bit (SEC-3).
    DefinitionDirMode,
    /// Its definition files.
    DefinitionDirListing,
    /// One file loads per SVC-3 (one finding per problem).
    DefinitionLoad,
    /// A v1 file hidden by a v2 file of the same service (SVC-2, V2-1).
    DefinitionShadowed,
    /// The binary exists and is a regular executable file.
    DefinitionBinary,
    /// The binary lies inside its canonical `per_version_binary_dir` (LCH-1).
    DefinitionContainment,
    /// The binary's BLAKE3, the registry key (REG-1).
    DefinitionHash,
    /// One path variable.
    EnvVariable,
    /// Which directory MAN-2 chose and why.
    ManifestRegistryLocation,
    /// The registry exists.
    ManifestRegistryExists,
    /// Its owner and mode 0700 (MAN-2).
    ManifestRegistryMode,
    /// RLIMIT_NOFILE against 10 000 connections.
    FdLimit,
    /// Descriptors this process has open.
    FdUsage,
    /// The file system is writable.
    FilesystemWritable,
    /// Free inodes.
    FilesystemInodes,
    /// Free space.
    FilesystemSpace,
    /// The event log's hash chain (EVT-3).
    EventLogVerify,
}

impl Check {
    /// The stable id, e.g. `socket-dir.mode`.
    pub fn id(self) -> &'static str {
        match self {
            Self::SocketPath => "socket.path",
            Self::SocketDirExists => "socket-dir.exists",
            Self::SocketDirType => "socket-dir.type",
            Self::SocketDirOwner => "socket-dir.owner",
            Self::SocketDirMode => "socket-dir.mode",
            Self::SocketState => "socket.state",
            Self::SocketMode => "socket.mode",
            Self::PrivilegeRoot => "privilege.root",
            Self::DefinitionDirLocation => "definition-dir.location",
            Self::DefinitionDirExists => "definition-dir.exists",
            Self::DefinitionDirMode => "definition-dir.mode",
            Self::DefinitionDirListing => "definition-dir.listing",
            Self::DefinitionLoad => "definition.load",
            Self::DefinitionShadowed => "definition.shadowed",
            Self::DefinitionBinary => "definition.binary",
            Self::DefinitionContainment => "definition.containment",
            Self::DefinitionHash => "definition.hash",
            Self::EnvVariable => "env.variable",
            Self::ManifestRegistryLocation => "manifest-registry.location",
            Self::ManifestRegistryExists => "manifest-registry.exists",
            Self::ManifestRegistryMode => "manifest-registry.mode",
            Self::FdLimit => "fds.limit",
            Self::FdUsage => "fds.usage",
            Self::FilesystemWritable => "filesystem.writable",
            Self::FilesystemInodes => "filesystem.inodes",
            Self::FilesystemSpace => "filesystem.space",
            Self::EventLogVerify => "event-log.verify",
        }
    }

    /// The area the check belongs to.
    pub fn area(self) -> Area {
        match self {
            Self::SocketPath
            | Self::SocketDirExists
            | Self::SocketDirType
            | Self::SocketDirOwner
            | Self::SocketDirMode
            | Self::SocketState
            | Self::SocketMode => Area::Socket,
            Self::PrivilegeRoot => Area::Privilege,
            Self::DefinitionDirLocation
            | Self::DefinitionDirExists
            | Self::DefinitionDirMode
            | Self::DefinitionDirListing
            | Self::DefinitionLoad
            | Self::DefinitionShadowed
            | Self::DefinitionBinary
            | Self::DefinitionContainment
            | Self::DefinitionHash => Area::Definitions,
            Self::EnvVariable
            | Self::ManifestRegistryLocation
            | Self::ManifestRegistryExists
            | Self::ManifestRegistryMode => Area::Paths,
            Self::FdLimit | Self::FdUsage => Area::Limits,
            Self::FilesystemWritable | Self::FilesystemInodes | Self::FilesystemSpace => {
                Area::Filesystem
            }
            Self::EventLogVerify => Area::EventLog,
        }
    }
}

/// One verdict about one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check that produced it.
    pub check: Check,
    /// How much it matters.
    pub severity: Severity,
    /// What it is about: a path, a variable name or a limit.
    pub subject: String,
    /// One line naming the path or value.
    pub message: String,
    /// A concrete command or action that fixes it, when there is one.
    pub hint: Option<String>,
}

/// Every finding of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The findings, in check order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when no finding is an error (warnings allowed).
    pub fn healthy(&self) -> bool {
        self.count(Severity::Error) == 0
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The findings of one check.
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }
}
