//! How a backend describes itself in the identity probe (PRB-2, PRB-3).

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::launch_env::LaunchEnv;
use crate::paths::boot_id;
use crate::proto::v1::{DaemonProcess, Endpoint};
use crate::sys::{blake3_file, process_exe};
use crate::wire::EXE_HASH_ALGORITHM;

/// This process's identity, computed once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendIdentity {
    process: DaemonProcess,
}

impl BackendIdentity {
    /// The truthful identity: own pid, canonical executable path and its
    /// BLAKE3, boot id, and the endpoint the broker allocated (PRB-3).
    pub fn of_this_process(env: &LaunchEnv) -> io::Result<Self> {
        let pid = std::process::id();
        let exe = process_exe(pid)?;
        let exe_hash = blake3_file(&exe)?;
        Ok(Self {
            process: DaemonProcess {
                pid,
                exe_path: exe.to_string_lossy().into_owned(),
                ipc_endpoint: Some(Endpoint {
                    namespace_id: env.namespace.clone(),
                    path: env.backend_pipe.to_string_lossy().into_owned(),
                }),
                started_at_unix_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                boot_id: boot_id()?,
                idle_timeout_secs: None,
                exe_hash_algorithm: EXE_HASH_ALGORITHM.to_owned(),
                exe_hash: Bytes::copy_from_slice(&exe_hash),
            },
        })
    }

    /// Wraps an identity built by hand (tests, deliberately lying backends).
    pub fn from_process(process: DaemonProcess) -> Self {
        Self { process }
    }

    /// The `DaemonProcess` sent in probe replies.
    pub fn daemon_process(&self) -> &DaemonProcess {
        &self.process
    }
}
