//! The broker side of the identity probe (PRB-1…PRB-5): one attempt,
//! bounded by 500 ms, against a freshly launched backend.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::time::{Instant, timeout_at};

use super::error::LaunchError;
use crate::proto::v1::DaemonProcess;
use crate::sys::{blake3_file, process_exe, process_exists, random_bytes};
use crate::wire::frames::{decode_probe_response, probe_request};
use crate::wire::framing::async_io::{read_frame, write_frame};
use crate::wire::{EXE_HASH_ALGORITHM, EXE_HASH_LEN, IDENTITY_PROBE_NONCE_LEN, MAX_FRAME_BYTES};

/// What a launched backend must report about itself (PRB-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectedIdentity {
    /// The spawned child's pid.
    pub(crate) pid: u32,
    /// The canonical binary path.
    pub(crate) exe_path: PathBuf,
    /// BLAKE3 of the binary.
    pub(crate) exe_hash: [u8; 32],
    /// This machine's boot id.
    pub(crate) boot_id: String,
    /// The instance id (the endpoint namespace).
    pub(crate) namespace_id: String,
    /// The allocated backend socket.
    pub(crate) endpoint_path: PathBuf,
}

/// Wait between connect attempts while a self-binding backend starts.
const CONNECT_RETRY: Duration = Duration::from_millis(5);

/// PRB-1…PRB-5 within `budget` (500 ms by PRB-4): connect, send a fresh
/// nonce, read the reply, compare the claimed identity, then check the
/// process itself. Returns what failed.
pub(crate) async fn probe_backend(
    pipe: &Path,
    expected: &ExpectedIdentity,
    budget: Duration,
) -> Result<(), LaunchError> {
    let deadline = Instant::now() + budget;
    let claimed = timeout_at(deadline, exchange(pipe, deadline))
        .await
        .map_err(|_| LaunchError::ProbeTimeout {
            budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        })??;
    compare(&claimed, expected)?;
    check_process(expected)
}

async fn connect(pipe: &Path, deadline: Instant) -> Result<UnixStream, LaunchError> {
    let failed = |source| LaunchError::ProbeConnect {
        path: pipe.to_path_buf(),
        source,
    };
    loop {
        match UnixStream::connect(pipe).await {
            Ok(stream) => return Ok(stream),
            // A backend binding the pipe itself may not be listening yet.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                if Instant::now() + CONNECT_RETRY >= deadline {
                    return Err(failed(e));
                }
                tokio::time::sleep(CONNECT_RETRY).await;
            }
            Err(e) => return Err(failed(e)),
        }
    }
}

async fn exchange(pipe: &Path, deadline: Instant) -> Result<DaemonProcess, LaunchError> {
    let mut stream = connect(pipe, deadline).await?;
    let nonce: [u8; IDENTITY_PROBE_NONCE_LEN] =
        random_bytes().map_err(|e| LaunchError::exchange("nonce", e.into()))?;
    write_frame(&mut stream, &probe_request(&nonce))
        .await
        .map_err(|e| LaunchError::exchange("write", e))?;
    let reply = read_frame(&mut stream, MAX_FRAME_BYTES)
        .await
        .map_err(|e| LaunchError::exchange("read", e))?;
    Ok(decode_probe_response(&reply, &nonce)?)
}

/// PRB-3: the claimed identity against the expected one, field by field.
pub(crate) fn compare(
    claimed: &DaemonProcess,
    expected: &ExpectedIdentity,
) -> Result<(), LaunchError> {
    let mismatch = |field: &'static str, got: &dyn std::fmt::Debug, want: &dyn std::fmt::Debug| {
        Err(LaunchError::IdentityMismatch {
            field,
            claimed: format!("{got:?}"),
            expected: format!("{want:?}"),
        })
    };
    let Some(endpoint) = &claimed.ipc_endpoint else {
        return mismatch("ipc_endpoint", &"not set", &"set");
    };
    if claimed.exe_hash_algorithm != EXE_HASH_ALGORITHM {
        return mismatch(
            "exe_hash_algorithm",
            &claimed.exe_hash_algorithm,
            &EXE_HASH_ALGORITHM,
        );
    }
    if claimed.exe_hash.len() != EXE_HASH_LEN {
        return mismatch("exe_hash length", &claimed.exe_hash.len(), &EXE_HASH_LEN);
    }
    if claimed.pid != expected.pid {
        return mismatch("pid", &claimed.pid, &expected.pid);
    }
    let want_exe = expected.exe_path.to_string_lossy();
    if claimed.exe_path != want_exe {
        return mismatch("exe_path", &claimed.exe_path, &want_exe);
    }
    if claimed.exe_hash.as_ref() != expected.exe_hash {
        return mismatch(
            "exe_hash",
            &crate::inspect::to_hex(&claimed.exe_hash),
            &crate::inspect::to_hex(&expected.exe_hash),
        );
    }
    if claimed.boot_id != expected.boot_id {
        return mismatch("boot_id", &claimed.boot_id, &expected.boot_id);
    }
    if endpoint.namespace_id != expected.namespace_id {
        return mismatch(
            "ipc_endpoint.namespace_id",
            &endpoint.namespace_id,
            &expected.namespace_id,
        );
    }
    let want_path = expected.endpoint_path.to_string_lossy();
    if endpoint.path != want_path {
        return mismatch("ipc_endpoint.path", &endpoint.path, &want_path);
    }
    Ok(())
}

/// PRB-5: the process itself — it exists, `/proc/<pid>/exe` canonicalizes
/// to the binary, and that file hashes to the expected digest.
pub(crate) fn check_process(expected: &ExpectedIdentity) -> Result<(), LaunchError> {
    let failed = |detail: String| Err(LaunchError::Process { detail });
    if expected.pid == 0 || !process_exists(expected.pid) {
        return failed(format!("process {} does not exist", expected.pid));
    }
    let exe = match process_exe(expected.pid) {
        Ok(exe) => exe,
        Err(e) => return failed(format!("/proc/{}/exe: {e}", expected.pid)),
    };
    if exe != expected.exe_path {
        return failed(format!(
            "/proc/{}/exe is {}, expected {}",
            expected.pid,
            exe.display(),
            expected.exe_path.display()
        ));
    }
    match blake3_file(Path::new(&format!("/proc/{}/exe", expected.pid))) {
        Ok(hash) if hash == expected.exe_hash => {}
        Ok(_) => {
            return failed(format!(
                "/proc/{}/exe does not hash to the expected BLAKE3",
                expected.pid
            ));
        }
        Err(e) => return failed(format!("hashing /proc/{}/exe: {e}", expected.pid)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_process() -> ExpectedIdentity {
        let pid = std::process::id();
        let exe = process_exe(pid).unwrap_or_default();
        ExpectedIdentity {
            pid,
            exe_hash: blake3_file(&exe).unwrap_or_default(),
            exe_path: exe,
            boot_id: String::new(),
            namespace_id: String::new(),
            endpoint_path: PathBuf::new(),
        }
    }

    /// PRB-5: the process itself is checked, not only what it claims.
    #[test]
    fn process_checks_catch_a_wrong_path_a_wrong_hash_and_a_missing_process() {
        assert!(check_process(&this_process()).is_ok());
        let wrong_path = ExpectedIdentity {
            exe_path: "/bin/true".into(),
            ..this_process()
        };
        assert!(check_process(&wrong_path).is_err_and(|e| e.to_string().contains("/proc/")));
        let wrong_hash = ExpectedIdentity {
            exe_hash: [0; 32],
            ..this_process()
        };
        assert!(check_process(&wrong_hash).is_err_and(|e| e.to_string().contains("BLAKE3")));
        let gone = ExpectedIdentity {
            pid: 0,
            ..this_process()
        };
        assert!(check_process(&gone).is_err_and(|e| e.to_string().contains("does not exist")));
    }
}
