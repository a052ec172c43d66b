//! A daemon's identity file, `<runtime>/daemon-<service>.json` (v2 spec
//! V2P): the strict parser (V2P-1) is pure; reading the file and judging
//! whether the published process still lives (V2G-4) are thin shells over
//! the file system and `/proc`. The front door only ever reads these files
//! (V2P-2).

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest identity file read; a real one is a few hundred bytes.
const MAX_IDENTITY_BYTES: u64 = 64 * 1024;

/// The hash algorithm an identity file names: exactly `"blake3"` (V2P-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExeHashAlgorithm {
    /// BLAKE3, the only one defined.
    #[serde(rename = "blake3")]
    Blake3,
}

/// Where the daemon serves (V2P-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcEndpoint {
    /// The endpoint namespace (may be empty).
    pub namespace_id: String,
    /// The socket path a front door hands out as `backend_pipe` (V2G-2).
    pub path: String,
}

/// One published daemon, as V2P-1 defines the file; unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonIdentity {
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's executable.
    pub exe_path: PathBuf,
    /// Always BLAKE3.
    pub exe_hash_algorithm: ExeHashAlgorithm,
    /// The executable's hash: exactly 32 integers 0-255.
    pub exe_hash: [u8; 32],
    /// The boot the process belongs to.
    pub boot_id: String,
    /// Where it serves.
    pub ipc_endpoint: IpcEndpoint,
    /// When it started, in Unix milliseconds.
    pub started_at_unix_ms: u64,
    /// An older SHA-256 of the executable, when published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_exe_sha256: Option<[u8; 32]>,
    /// How long it stays up idle; `null` for no limit.
    #[serde(default)]
    pub idle_timeout_secs: Option<u32>,
}

/// Why an identity file counts as absent (V2P-1).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file is missing or cannot be read.
    #[error("{}: cannot be read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Not a regular file (a FIFO must not hang the Hello), or too large.
    #[error("{}: {problem}", path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        problem: String,
    },
    /// The content breaks V2P-1.
    #[error("identity file breaks V2P-1: {0}")]
    Invalid(String),
}

impl DaemonIdentity {
    /// V2P-1: one JSON object with every required key in range, `ipc_endpoint`
    /// an object too; extra keys are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, IdentityError> {
        let invalid = |e: serde_json::Error| IdentityError::Invalid(e.to_string());
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
        // serde would also take a struct from an array; V2P-1 wants objects.
        let endpoint_is_object = value
            .get("ipc_endpoint")
            .is_none_or(serde_json::Value::is_object);
        if !value.is_object() || !endpoint_is_object {
            return Err(IdentityError::Invalid(
                "the file and its ipc_endpoint must be JSON objects".into(),
            ));
        }
        Self::deserialize(value).map_err(invalid)
    }

    /// Reads and parses `path` without blocking (V2P-2: read only).
    pub fn read(path: &Path) -> Result<Self, IdentityError> {
        let unreadable = |source| IdentityError::Unreadable {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() || meta.len() > MAX_IDENTITY_BYTES {
            return Err(IdentityError::NotAFile {
                path: path.to_path_buf(),
                problem: format!("not a regular file of at most {MAX_IDENTITY_BYTES} bytes"),
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_IDENTITY_BYTES)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        Self::parse(&bytes)
    }

    /// V2G-4 (REF), pure: the published process is alive when its pid is
    /// not 0, its boot is this boot, and its executable (as `exe_of` finds
    /// `/proc/<pid>/exe`, `None` when no such process) is `exe_path`.
    pub fn is_live(
        &self,
        current_boot_id: &str,
        exe_of: impl FnOnce(u32) -> Option<PathBuf>,
    ) -> bool {
        self.pid != 0
            && self.boot_id == current_boot_id
            && exe_of(self.pid).is_some_and(|exe| exe == self.exe_path)
    }
}

/// `/proc/<pid>/exe`, resolved; `None` when the process is gone or hidden.
fn proc_exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// V2G-2, V2G-4: the `backend_pipe` a front door hands out for the identity
/// file at `path`: its endpoint while the published process lives, else
/// `None` (absent, unreadable, invalid or dead all count as absent).
pub fn published_pipe(path: &Path, current_boot_id: &str) -> Option<String> {
    match DaemonIdentity::read(path) {
        Ok(identity) if identity.is_live(current_boot_id, proc_exe) => {
            Some(identity.ipc_endpoint.path)
        }
        Ok(identity) => {
            tracing::debug!(path = %path.display(), pid = identity.pid, "published daemon is not alive (V2G-4)");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "no published daemon (V2P-1)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn valid() -> Value {
        json!({
            "pid": 12345, "exe_path": "/usr/bin/zccache", "exe_hash_algorithm": "blake3",
            "exe_hash": ([0_u8; 32].to_vec()), "boot_id": "b0b7a6f2-3d41-4c1e-9a57-2f0d6c8e1a90",
            "ipc_endpoint": { "namespace_id": "", "path": "/run/user/1000/zccache-backend.sock" },
            "started_at_unix_ms": 1_764_700_000_000_u64, "idle_timeout_secs": null
        })
    }

    fn parse(value: &Value) -> Result<DaemonIdentity, IdentityError> {
        DaemonIdentity::parse(value.to_string().as_bytes())
    }

    fn edited(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let mut value = valid();
        if let Some(object) = value.as_object_mut() {
            edit(object);
        }
        value
    }

    #[test]
    fn the_spec_example_parses_and_extra_keys_are_ignored() {
        let identity = parse(&valid()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.pid, 12345);
        assert_eq!(
            identity.ipc_endpoint.path,
            "/run/user/1000/zccache-backend.sock"
        );
        assert_eq!(identity.idle_timeout_secs, None);
        let extra = edited(|o| {
            o.insert("future".into(), json!({"any": [1, 2]}));
            o.insert("legacy_exe_sha256".into(), json!([255_u8; 32].to_vec()));
            o.insert("idle_timeout_secs".into(), json!(60));
        });
        let identity = parse(&extra).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.legacy_exe_sha256, Some([255; 32]));
        assert_eq!(identity.idle_timeout_secs, Some(60));
    }

    #[test]
    fn every_breach_of_v2p1_is_rejected() {
        let breaches: Vec<(&str, Value)> = vec![
            ("missing pid", edited(|o| drop(o.remove("pid")))),
            ("missing boot_id", edited(|o| drop(o.remove("boot_id")))),
            (
                "missing started_at",
                edited(|o| drop(o.remove("started_at_unix_ms"))),
            ),
            (
                "pid over u32",
                edited(|o| drop(o.insert("pid".into(), json!(1_u64 << 32)))),
            ),
            (
                "negative pid",
                edited(|o| drop(o.insert("pid".into(), json!(-1)))),
            ),
            (
                "pid as text",
                edited(|o| drop(o.insert("pid".into(), json!("1")))),
            ),
            (
                "sha256",
                edited(|o| drop(o.insert("exe_hash_algorithm".into(), json!("sha256")))),
            ),
            (
                "31 ints",
                edited(|o| drop(o.insert("exe_hash".into(), json!([0_u8; 31].to_vec())))),
            ),
            (
                "33 ints",
                edited(|o| drop(o.insert("exe_hash".into(), json!([0_u8; 33].to_vec())))),
            ),
            (
                "256 in hash",
                edited(|o| {
                    let mut hash = vec![json!(0); 31];
                    hash.push(json!(256));
                    o.insert("exe_hash".into(), Value::Array(hash));
                }),
            ),
            (
                "endpoint without path",
                edited(|o| drop(o.insert("ipc_endpoint".into(), json!({"namespace_id": ""})))),
            ),
            (
                "endpoint as array",
                edited(|o| drop(o.insert("ipc_endpoint".into(), json!(["", "/p"])))),
            ),
            (
                "idle over u32",
                edited(|o| drop(o.insert("idle_timeout_secs".into(), json!(1_u64 << 32)))),
            ),
            (
                "legacy of 2",
                edited(|o| drop(o.insert("legacy_exe_sha256".into(), json!([1, 2])))),
            ),
            ("an array", json!([1, 2, 3])),
        ];
        for (what, value) in breaches {
            assert!(parse(&value).is_err(), "{what} must be rejected");
        }
        assert!(DaemonIdentity::parse(b"").is_err());
        assert!(DaemonIdentity::parse(b"{").is_err());
    }

    #[test]
    fn v2g4_live_only_with_pid_boot_and_executable_matching() {
        let identity = parse(&valid()).unwrap_or_else(|e| panic!("{e}"));
        let boot = identity.boot_id.clone();
        let zccache = |_| Some(PathBuf::from("/usr/bin/zccache"));
        assert!(identity.is_live(&boot, zccache));
        assert!(!identity.is_live("another-boot", zccache));
        assert!(!identity.is_live(&boot, |_| None), "no such process");
        assert!(!identity.is_live(&boot, |_| Some(PathBuf::from("/usr/bin/other"))));
        let pid_zero = DaemonIdentity { pid: 0, ..identity };
        assert!(!pid_zero.is_live(&boot, zccache));
    }

    #[test]
    fn a_published_pipe_is_handed_out_only_for_a_live_process_and_never_written() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("daemon-svc.json");
        let boot = crate::paths::boot_id().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(published_pipe(&path, &boot), None, "absent");
        let me = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let live = edited(|o| {
            o.insert("pid".into(), json!(std::process::id()));
            o.insert("exe_path".into(), json!(me));
            o.insert("boot_id".into(), json!(boot));
        });
        let text = live.to_string();
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            published_pipe(&path, &boot).as_deref(),
            Some("/run/user/1000/zccache-backend.sock")
        );
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some(text.as_str()),
            "V2P-2: read only"
        );
        std::fs::write(&path, valid().to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            published_pipe(&path, &boot),
            None,
            "pid 12345 of another boot"
        );
        let fifo = dir.path().join("daemon-fifo.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(published_pipe(&fifo, &boot), None, "a FIFO never blocks");
    }
}
