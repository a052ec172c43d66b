//! Gathering what `doctor` judges: the environment through [`EnvSource`] and
//! the machine through a small read-only probe layer (`lstat`, `stat`, a
//! non-blocking connect, `statvfs`, reads). Nothing here creates, changes or
//! deletes anything.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::DoctorOptions;
use crate::definitions::resolve_binary;
use crate::definitions::{
    DirProblem, DirSource, Generation, check_definition_dir, manifest_registry_dir_with_source,
    parse_service_def_file_name, read_definition_file, resolve_service_def_dir_with_source,
};
use crate::env::EnvSource;
use crate::events::{LogVerdict, verify_log};
use crate::paths::{broker_dir, default_broker_socket};
use crate::policy::SocketPathState;
use crate::proto::v1;
use crate::sys::probe_socket_path;
use crate::sys::{blake3_file, euid, fd_hard_limit, fd_limit, fd_usage};
use crate::wire::env_vars;

/// Everything `doctor` looked at, ready to be judged by
/// [`judge`](super::judge) without touching the machine again.
#[derive(Debug)]
pub struct Facts {
    /// The effective uid doctor runs as (the broker's, if started the same way).
    pub euid: u32,
    /// `RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED` as set (SEC-4).
    pub allow_privileged: Option<String>,
    /// The broker socket and its directory (SEC-2, SEC-6).
    pub socket: SocketFacts,
    /// The service definition directory and its files (SVC-1…SVC-3, SEC-3, LCH-1).
    pub definitions: DefinitionDirFacts,
    /// The path variables in use.
    pub env: Vec<EnvVarFacts>,
    /// The central manifest registry (MAN-2), `None` when no variable names one.
    pub manifest_registry: Option<ManifestRegistryFacts>,
    /// Descriptor limits and usage.
    pub fds: FdFacts,
    /// The file system holding the socket directory.
    pub filesystem: FilesystemFacts,
    /// The event log, when one was named.
    pub event_log: Option<EventLogFacts>,
}

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A regular file.
    RegularFile,
    /// A Unix socket.
    Socket,
    /// A symbolic link (only from `lstat`).
    Symlink,
    /// A FIFO, device or anything else.
    Other,
}

impl EntryKind {
    /// "a directory", "a regular file", … for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Directory => "a directory",
            Self::RegularFile => "a regular file",
            Self::Socket => "a socket",
            Self::Symlink => "a symlink",
            Self::Other => "a special file",
        }
    }

    fn of(file_type: fs::FileType) -> Self {
        if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_file() {
            Self::RegularFile
        } else if file_type.is_socket() {
            Self::Socket
        } else {
            Self::Other
        }
    }
}

/// The owner, mode and kind of an existing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStat {
    /// What it is.
    pub kind: EntryKind,
    /// Its owner's uid.
    pub uid: u32,
    /// Its permission bits (`mode & 0o7777`).
    pub mode: u32,
}

/// What is at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing.
    Missing,
    /// Something that could not be examined (the error text).
    Unreadable(String),
    /// Something, described.
    Present(EntryStat),
}

/// `lstat`: a symlink is described as itself.
fn lstat(path: &Path) -> Entry {
    entry_of(fs::symlink_metadata(path))
}

/// `stat`: symlinks are followed.
fn stat(path: &Path) -> Entry {
    entry_of(fs::metadata(path))
}

fn entry_of(meta: io::Result<fs::Metadata>) -> Entry {
    match meta {
        Ok(meta) => Entry::Present(EntryStat {
            kind: EntryKind::of(meta.file_type()),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Entry::Missing,
        Err(e) => Entry::Unreadable(e.to_string()),
    }
}

/// Where the broker socket path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketSource {
    /// `--socket`.
    Flag,
    /// The per-user shared socket of spec §13.
    Default,
}

/// The broker socket and its directory.
#[derive(Debug)]
pub struct SocketFacts {
    /// The socket path, or why the default could not be computed.
    pub path: Result<PathBuf, String>,
    /// Where the path came from.
    pub source: SocketSource,
    /// The socket's directory (computed even when the leaf name is not).
    pub dir: PathBuf,
    /// `lstat` of the directory.
    pub dir_entry: Entry,
    /// `lstat` of the socket path (`Missing` when the path is unknown).
    pub entry: Entry,
    /// What a connect found (SEC-6); `None` when the path is unknown.
    pub state: Option<Result<SocketPathState, String>>,
}

/// The service definition directory.
#[derive(Debug)]
pub enum DefinitionDirFacts {
    /// No flag or variable names a directory (SVC-1).
    Unresolved,
    /// The directory SVC-1 chose.
    Resolved {
        /// The directory.
        dir: PathBuf,
        /// Which setting chose it.
        source: DirSource,
        /// The SEC-3 check, exactly as the loader runs it.
        check: Result<(), DirProblem>,
        /// Its definition files sorted by name, or why it could not be
        /// listed; empty when the directory is missing or not a directory.
        files: Result<Vec<DefinitionFileFacts>, String>,
    },
}

/// One `*.servicedef` or `*.servicedef.v2` file.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionFileFacts {
    /// The file.
    pub path: PathBuf,
    /// The service its name stands for.
    pub service: String,
    /// Its generation (by extension).
    pub generation: Generation,
    /// The decoded definition (v1 view); `Ok(None)` when the name lists but
    /// nothing can be opened (a dangling symlink, which a broker treats as
    /// missing); `Err` with the loader's HEL-14 detail when it cannot be read
    /// or decoded.
    pub content: Result<Option<v1::ServiceDefinition>, String>,
    /// The backend binary; gathered only when `binary_path` is absolute.
    pub binary: Option<BinaryFacts>,
}

/// The backend binary a definition names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryFacts {
    /// `stat` of `binary_path` (symlinks followed, as exec does).
    pub entry: Entry,
    /// The LCH-1 verdict: the canonical binary, or why a launch is refused.
    pub resolved: Result<PathBuf, String>,
    /// BLAKE3 of the file, when it is a regular file.
    pub blake3: Option<Result<[u8; 32], String>>,
}

/// One path variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVarFacts {
    /// The variable.
    pub name: &'static str,
    /// Its value (`None` when unset or empty).
    pub value: Option<String>,
    /// `stat` of the value, when set.
    pub entry: Option<Entry>,
}

/// The variables `doctor` reports, in report order.
pub const PATH_VARIABLES: &[&str] = &[
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "HOME",
    env_vars::SERVICE_DEF_DIR,
    env_vars::MANIFEST_DIR,
];

/// The central manifest registry (MAN-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRegistryFacts {
    /// The directory.
    pub dir: PathBuf,
    /// Which variable chose it.
    pub source: DirSource,
    /// `stat` of the directory.
    pub entry: Entry,
}

/// RLIMIT_NOFILE and this process's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdFacts {
    /// Soft limit (`u64::MAX` when unlimited).
    pub soft: u64,
    /// Hard limit (`u64::MAX` when unlimited).
    pub hard: u64,
    /// Descriptors this process has open, or why they could not be counted.
    pub open: Result<u64, String>,
}

/// `statvfs` of a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Fragment size in bytes (the unit of the block counts).
    pub fragment_size: u64,
    /// Total blocks.
    pub blocks: u64,
    /// Blocks available to unprivileged users.
    pub blocks_available: u64,
    /// Total inodes (0 when the file system does not count them).
    pub files: u64,
    /// Inodes available to unprivileged users.
    pub files_available: u64,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The file system holding the socket directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemFacts {
    /// The path `statvfs` was run on: the socket directory, or its nearest
    /// existing ancestor when it does not exist yet.
    pub probed: PathBuf,
    /// The statistics, or why they could not be read.
    pub stats: Result<FsStats, String>,
}

/// The event log named by `--event-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogFacts {
    /// The file.
    pub path: PathBuf,
    /// The EVT-3 verdict, or why the file could not be read.
    pub verdict: Result<LogVerdict, EventLogUnread>,
}

/// Why an event log was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventLogUnread {
    /// The file does not exist (yet).
    Missing,
    /// It could not be read (the error text).
    Unreadable(String),
}

/// Gathers every fact `doctor` judges. Read-only.
pub fn gather(options: &DoctorOptions, env: &dyn EnvSource) -> Facts {
    let euid = euid();
    let socket = gather_socket(options, env, euid);
    let filesystem = gather_filesystem(&socket.dir);
    Facts {
        euid,
        allow_privileged: env.var(env_vars::ALLOW_PRIVILEGED),
        socket,
        definitions: gather_definitions(options.service_def_dir.as_deref(), env),
        env: PATH_VARIABLES
            .iter()
            .map(|&name| {
                let value = env.var(name);
                let entry = value.as_deref().map(|v| stat(Path::new(v)));
                EnvVarFacts { name, value, entry }
            })
            .collect(),
        manifest_registry: manifest_registry_dir_with_source(env).map(|(dir, source)| {
            let entry = stat(&dir);
            ManifestRegistryFacts { dir, source, entry }
        }),
        fds: FdFacts {
            soft: fd_limit(),
            hard: fd_hard_limit(),
            open: fd_usage().map(|u| u.open).map_err(|e| e.to_string()),
        },
        filesystem,
        event_log: options.event_log.as_deref().map(gather_event_log),
    }
}

fn gather_socket(options: &DoctorOptions, env: &dyn EnvSource, euid: u32) -> SocketFacts {
    let (path, source) = match &options.socket {
        Some(path) => (Ok(path.clone()), SocketSource::Flag),
        None => (
            default_broker_socket(env).map_err(|e| {
                format!("the default socket name cannot be computed without a machine id: {e}")
            }),
            SocketSource::Default,
        ),
    };
    let dir = match &path {
        Ok(path) => path
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        Err(_) => broker_dir(env, euid),
    };
    let (entry, state) = match &path {
        Ok(path) => (
            lstat(path),
            Some(probe_socket_path(path).map_err(|e| e.to_string())),
        ),
        Err(_) => (Entry::Missing, None),
    };
    SocketFacts {
        dir_entry: lstat(&dir),
        path,
        source,
        dir,
        entry,
        state,
    }
}

fn gather_definitions(flag: Option<&Path>, env: &dyn EnvSource) -> DefinitionDirFacts {
    let Some((dir, source)) = resolve_service_def_dir_with_source(flag, env) else {
        return DefinitionDirFacts::Unresolved;
    };
    let check = check_definition_dir(&dir);
    let files = match &check {
        Ok(()) | Err(DirProblem::Insecure { .. }) => list_definitions(&dir),
        Err(_) => Ok(Vec::new()),
    };
    DefinitionDirFacts::Resolved {
        dir,
        source,
        check,
        files,
    }
}

fn list_definitions(dir: &Path) -> Result<Vec<DefinitionFileFacts>, String> {
    let listing = fs::read_dir(dir).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| e.to_string())?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names
        .iter()
        .filter_map(|name| {
            let (service, generation) = parse_service_def_file_name(name)?;
            Some(examine_definition(&dir.join(name), service, generation))
        })
        .collect())
}

/// Reads one definition file and, when its binary path is absolute, the
/// binary it names.
fn examine_definition(path: &Path, service: &str, generation: Generation) -> DefinitionFileFacts {
    let content = read_definition_file(path, generation);
    let binary = content
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .filter(|def| Path::new(&def.binary_path).is_absolute())
        .map(examine_binary);
    DefinitionFileFacts {
        path: path.to_path_buf(),
        service: service.to_owned(),
        generation,
        content,
        binary,
    }
}

fn examine_binary(def: &v1::ServiceDefinition) -> BinaryFacts {
    let path = Path::new(&def.binary_path);
    let entry = stat(path);
    let blake3 = matches!(
        entry,
        Entry::Present(EntryStat {
            kind: EntryKind::RegularFile,
            ..
        })
    )
    .then(|| blake3_file(path).map_err(|e| e.to_string()));
    BinaryFacts {
        entry,
        resolved: resolve_binary(def).map_err(|e| e.to_string()),
        blake3,
    }
}

fn gather_filesystem(dir: &Path) -> FilesystemFacts {
    let probed = dir
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_ok())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let stats = rustix::fs::statvfs(&probed)
        .map(|s| FsStats {
            fragment_size: s.f_frsize,
            blocks: s.f_blocks,
            blocks_available: s.f_bavail,
            files: s.f_files,
            files_available: s.f_favail,
            read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        })
        .map_err(|e| io::Error::from(e).to_string());
    FilesystemFacts { probed, stats }
}

fn gather_event_log(path: &Path) -> EventLogFacts {
    // Only a regular file is opened: opening a FIFO would block.
    let verdict = match stat(path) {
        Entry::Missing => Err(EventLogUnread::Missing),
        Entry::Unreadable(e) => Err(EventLogUnread::Unreadable(e)),
        Entry::Present(EntryStat {
            kind: EntryKind::RegularFile,
            ..
        }) => verify_log(path).map_err(|e| EventLogUnread::Unreadable(e.to_string())),
        Entry::Present(other) => Err(EventLogUnread::Unreadable(format!(
            "it is {}, not a regular file",
            other.kind.describe()
        ))),
    };
    EventLogFacts {
        path: path.to_path_buf(),
        verdict,
    }
}
