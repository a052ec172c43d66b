//! Finding or launching the backend for a Hello (HEL-17…HEL-19, LCH,
//! PRB, REG): the registry decides, this module launches, probes, records
//! and reaps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::decide::BackendKey;
use super::launch::{
    LaunchRequest, SpawnedBackend, remove_socket_file, resolve_binary, spawn_backend,
};
use super::metrics::OutcomeLabels;
use super::probe::{ExpectedIdentity, probe_backend};
use super::registry::{Acquire, LiveBackend};
use super::state::{BrokerState, unix_now_ms};
use crate::definitions::instance_id;
use crate::paths::backend_socket_name;
use crate::proto::v1::{EventKind, Frame, Hello, ServiceDefinition};
use crate::sys::{FileStamp, ProcessHandle, blake3_file, kill, process_start_time, random_bytes};
use crate::wire::{HANDOFF_LABEL, IDENTITY_PROBE_TIMEOUT, Refusal};

/// A service's binary as a launch needs it: its canonical path (LCH-1)
/// and the BLAKE3 of its bytes (REG-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBinary {
    /// The canonical path, inside the canonical per-version directory.
    pub path: PathBuf,
    /// Its BLAKE3 digest.
    pub hash: [u8; 32],
}

#[derive(Debug, Clone)]
struct CachedBinary {
    /// The definition's `per_version_binary_dir` (the map's key is its
    /// `binary_path`).
    dir: String,
    /// The binary's and the per-version directory's, from [`stamps_of`].
    stamps: (FileStamp, FileStamp),
    resolved: ResolvedBinary,
}

/// Resolved binaries, by `binary_path` (and `per_version_binary_dir`).
///
/// Resolving canonicalizes two paths (a `readlink` per component) and
/// hashing reads the whole file, so both are remembered and trusted while
/// the file the binary path names and the directory are the same files,
/// unchanged: two `stat`s per Hello, looked up by `&str` with no key to
/// build. Any rebuild (a new inode, or a rewrite, which moves ctime) or
/// a different file behind the path shows in a stamp and forces both again.
#[derive(Debug, Default)]
pub struct BinaryCache {
    cache: Mutex<HashMap<String, CachedBinary>>,
}

impl BinaryCache {
    /// The resolution remembered for `definition`'s binary, when both
    /// stamps still match; `None` when it must be resolved again.
    pub fn lookup(&self, definition: &ServiceDefinition) -> Option<ResolvedBinary> {
        let stamps = stamps_of(definition)?;
        self.lock()
            .get(definition.binary_path.as_str())
            .filter(|c| c.dir == definition.per_version_binary_dir && c.stamps == stamps)
            .map(|c| c.resolved.clone())
    }

    /// Resolves (LCH-1) and hashes the binary, reading the whole file: call
    /// it off the event loop. The result is remembered only if neither
    /// stamp moved while it was computed.
    pub fn resolve(&self, definition: &ServiceDefinition) -> Result<ResolvedBinary, String> {
        let before = stamps_of(definition);
        let path = resolve_binary(definition)?;
        let hash = blake3_file(&path).map_err(|e| format!("hashing {}: {e}", path.display()))?;
        let resolved = ResolvedBinary { path, hash };
        if let Some(stamps) = before
            && stamps_of(definition) == Some(stamps)
        {
            self.lock().insert(
                definition.binary_path.clone(),
                CachedBinary {
                    dir: definition.per_version_binary_dir.clone(),
                    stamps,
                    resolved: resolved.clone(),
                },
            );
        }
        Ok(resolved)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedBinary>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stamps of the file `binary_path` names and of the per-version
/// directory: what must not move for a remembered resolution to stand.
fn stamps_of(definition: &ServiceDefinition) -> Option<(FileStamp, FileStamp)> {
    Some((
        FileStamp::at(Path::new(&definition.binary_path)).ok()?,
        FileStamp::at(Path::new(&definition.per_version_binary_dir)).ok()?,
    ))
}

/// The backend serving `hello` under `definition`: reused, awaited, or
/// launched and probed (HEL-17…HEL-19, REG-1…REG-3).
pub async fn backend_for(
    state: &Arc<BrokerState>,
    hello: &Hello,
    frame: &Frame,
    definition: &ServiceDefinition,
    connection_id: u64,
) -> Result<Arc<LiveBackend>, Refusal> {
    let spawn_failed = |detail: String| Refusal::SpawnFailed { detail };
    let binary = match state.binaries.lookup(definition) {
        // The usual case: two stats show nothing changed.
        Some(binary) => binary,
        // New or changed: resolve and hash it off the event loop.
        None => {
            let resolving = Arc::clone(state);
            let definition = definition.clone();
            tokio::task::spawn_blocking(move || resolving.binaries.resolve(&definition))
                .await
                .map_err(|e| spawn_failed(format!("resolving the binary: {e}")))?
                .map_err(spawn_failed)?
        }
    };
    let ResolvedBinary {
        path: binary,
        hash: exe_hash,
    } = binary;
    let key = BackendKey {
        instance: instance_id(definition),
        service: hello.service_name.clone(),
        version: hello.wanted_version.clone(),
        exe_hash,
    };
    match state.registry.acquire(&key, Instant::now()) {
        Acquire::Ready(backend) => Ok(backend),
        Acquire::Wait(waiter) => waiter.outcome().await.map_err(spawn_failed),
        Acquire::Exhausted { retry_after } => Err(Refusal::SpawnBudgetExhausted {
            retry_after_ms: u64::try_from(retry_after.as_nanos().div_ceil(1_000_000))
                .unwrap_or(u64::MAX),
        }),
        Acquire::Launch(ticket) => {
            let handoff =
                definition.labels.get(HANDOFF_LABEL.0).map(String::as_str) == Some(HANDOFF_LABEL.1);
            let launched = launch(state, &key, binary, handoff, frame, connection_id).await;
            let labels = OutcomeLabels {
                service: key.service.clone(),
                version: key.version.clone(),
                outcome: if launched.is_ok() {
                    "success"
                } else {
                    "failure"
                }
                .into(),
            };
            state.metrics.record_spawn(labels);
            let (outcome, retired) = ticket.finish(launched, Instant::now());
            for old in retired {
                state.record(
                    EventKind::ReplacedByNewer,
                    &old.key.service,
                    &format!(
                        "pid {} replaced by a rebuilt binary; it keeps serving its clients",
                        old.pid
                    ),
                    &[
                        ("version", old.key.version.clone()),
                        ("pid", old.pid.to_string()),
                    ],
                    connection_id,
                );
            }
            outcome.map_err(spawn_failed)
        }
    }
}

/// Allocates a fresh backend socket path next to the broker socket (§13).
fn allocate_socket(state: &BrokerState) -> Result<PathBuf, String> {
    let dir = state
        .config
        .socket
        .parent()
        .ok_or_else(|| "the broker socket has no directory".to_owned())?;
    let random: [u8; 16] =
        random_bytes().map_err(|e| format!("no randomness for a socket name: {e}"))?;
    Ok(dir.join(backend_socket_name(&state.user_hash, &random)))
}

/// LCH-1…LCH-4 then PRB-1…PRB-5; on success the reaper takes the child.
async fn launch(
    state: &Arc<BrokerState>,
    key: &BackendKey,
    binary: PathBuf,
    handoff: bool,
    frame: &Frame,
    connection_id: u64,
) -> Result<LiveBackend, String> {
    let backend_pipe = allocate_socket(state)?;
    let handoff_pipe = if handoff {
        Some(allocate_socket(state)?)
    } else {
        None
    };
    let request = LaunchRequest {
        binary: binary.clone(),
        service: key.service.clone(),
        version: key.version.clone(),
        instance: key.instance.clone(),
        backend_pipe: backend_pipe.clone(),
        handoff_pipe: handoff_pipe.clone(),
        owned_bind: state.config.owned_bind,
        trace: (
            Some(frame.traceparent.clone()),
            Some(frame.tracestate.clone()),
        ),
    };
    state.record(
        EventKind::SpawnAttempt,
        &key.service,
        &format!("launching {}", binary.display()),
        &[("version", key.version.clone())],
        connection_id,
    );
    let SpawnedBackend { mut child, pid } =
        spawn_backend(&request, &state.base_env).map_err(|detail| {
            state.record(
                EventKind::SpawnAttempt,
                &key.service,
                &format!("spawn failed: {detail}"),
                &[],
                connection_id,
            );
            detail
        })?;
    let start_time = process_start_time(pid).unwrap_or(0);
    // Opened before anything can reap the child, so it names this process.
    let process = ProcessHandle::open(pid).ok();
    let expected = ExpectedIdentity {
        pid,
        exe_path: binary,
        exe_hash: key.exe_hash,
        boot_id: state.boot_id.clone(),
        namespace_id: key.instance.clone(),
        endpoint_path: backend_pipe.clone(),
    };
    if let Err(detail) = probe_backend(&backend_pipe, &expected, IDENTITY_PROBE_TIMEOUT).await {
        // PRB-4: a failed probe kills the child and fails the launch.
        let _ = kill(pid);
        let _ = child.wait().await;
        remove_socket_file(&backend_pipe);
        if let Some(p) = &handoff_pipe {
            remove_socket_file(p);
        }
        state.record(
            EventKind::DiedCrash,
            &key.service,
            &format!("killed after a failed launch: {detail}"),
            &[("version", key.version.clone()), ("pid", pid.to_string())],
            connection_id,
        );
        return Err(detail);
    }
    let backend = LiveBackend {
        key: key.clone(),
        pid,
        start_time,
        backend_pipe,
        handoff_pipe,
        started_at_unix_ms: unix_now_ms(),
        process,
    };
    state.record(
        EventKind::Spawn,
        &key.service,
        &format!("backend pid {pid} passed its identity probe"),
        &[
            ("version", key.version.clone()),
            ("pid", pid.to_string()),
            ("backend_pipe", backend.backend_pipe.display().to_string()),
        ],
        connection_id,
    );
    tokio::spawn(reap(Arc::clone(state), Arc::new(backend.clone()), child));
    Ok(backend)
}

/// LCH-5: waits for the backend to exit, then records its death, prunes it
/// from the registry (identity-guarded, REG-4) and removes its sockets.
async fn reap(
    state: Arc<BrokerState>,
    backend: Arc<LiveBackend>,
    mut child: tokio::process::Child,
) {
    let status = child.wait().await;
    let stopping = state
        .stopping
        .lock()
        .map(|s| s.contains(&backend.pid))
        .unwrap_or(false);
    let (kind, reason) = match &status {
        _ if stopping => (
            EventKind::DiedShutdown,
            "stopped by the broker's shutdown".to_owned(),
        ),
        Ok(s) if s.success() => (EventKind::DiedIdle, "exited with status 0".to_owned()),
        Ok(s) => (EventKind::DiedCrash, format!("exited: {s}")),
        Err(e) => (EventKind::DiedCrash, format!("wait failed: {e}")),
    };
    state
        .registry
        .remove_if_same(&backend.key, backend.pid, backend.start_time);
    remove_socket_file(&backend.backend_pipe);
    if let Some(p) = &backend.handoff_pipe {
        remove_socket_file(p);
    }
    tracing::info!(pid = backend.pid, service = %backend.key.service, "{reason}");
    state.record(
        kind,
        &backend.key.service,
        &reason,
        &[
            ("version", backend.key.version.clone()),
            ("pid", backend.pid.to_string()),
        ],
        0,
    );
    state.backend_reaped();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_cache_sees_a_same_size_rewrite_and_a_new_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bin");
        std::fs::write(&path, b"aaaa").unwrap_or_else(|e| panic!("{e}"));
        let definition = ServiceDefinition {
            binary_path: path.display().to_string(),
            per_version_binary_dir: dir.path().display().to_string(),
            ..ServiceDefinition::default()
        };
        let cache = BinaryCache::default();
        assert_eq!(cache.lookup(&definition), None, "nothing resolved yet");
        let first = cache.resolve(&definition).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.hash, *blake3::hash(b"aaaa").as_bytes());
        assert_eq!(cache.lookup(&definition), Some(first.clone()));
        std::fs::write(&path, b"bbbb").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup(&definition), None, "ctime moved");
        let second = cache.resolve(&definition).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.hash, *blake3::hash(b"bbbb").as_bytes());
        let replacement = dir.path().join("bin.new");
        std::fs::write(&replacement, b"bbbb").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&replacement, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup(&definition), None, "another inode");
    }

    #[test]
    fn a_binary_outside_its_directory_is_refused_and_not_remembered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let inside = dir.path().join("v1");
        std::fs::create_dir(&inside).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bin");
        std::fs::write(&path, b"x").unwrap_or_else(|e| panic!("{e}"));
        let definition = ServiceDefinition {
            binary_path: path.display().to_string(),
            per_version_binary_dir: inside.display().to_string(),
            ..ServiceDefinition::default()
        };
        let cache = BinaryCache::default();
        assert!(
            cache
                .resolve(&definition)
                .is_err_and(|e| e.contains("LCH-1"))
        );
        assert_eq!(cache.lookup(&definition), None);
    }
}
