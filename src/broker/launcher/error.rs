//! Why a backend could not be had (HEL-19's detail), each variant naming
//! the clause that failed. Turned into a `Refusal` only by the Hello
//! machine, at the wire boundary.

use std::io;
use std::path::PathBuf;

use crate::policy::ContainmentError;
use crate::wire::frames::ProbeReplyError;
use crate::wire::framing::FramingError;

/// A launch or its identity probe failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// LCH-1: the binary's paths are unset, relative, unresolvable or not contained.
    #[error("{}", containment_text(.0))]
    Containment(#[from] ContainmentError),
    /// REG-1: the binary could not be read to hash it.
    #[error("hashing {}: {source} (REG-1)", .path.display())]
    Hash {
        /// The binary.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// §13: no backend socket name could be made.
    #[error("allocating a backend socket: {detail} (LCH-2)")]
    SocketName {
        /// What was missing.
        detail: String,
    },
    /// LCH-3: the broker-owned bind failed.
    #[error("binding backend socket {}: {source} (LCH-3)", .path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// LCH-2: the process could not be started.
    #[error("spawning {}: {source} (LCH-2)", .binary.display())]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// PRB-4: no valid probe reply within the budget.
    #[error("identity probe timed out after {budget_ms} ms (PRB-4)")]
    ProbeTimeout {
        /// The budget (500 ms).
        budget_ms: u64,
    },
    /// PRB-1: the backend's socket did not accept the probe.
    #[error("identity probe could not connect to {}: {source} (PRB-1)", .path.display())]
    ProbeConnect {
        /// The backend socket.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// PRB-1: the probe could not be made or exchanged.
    #[error("identity probe {step} failed: {detail} (PRB-1)")]
    ProbeExchange {
        /// `nonce`, `write` or `read`.
        step: &'static str,
        /// The failure.
        detail: String,
    },
    /// PRB-2: the reply is not a probe response to this nonce.
    #[error("identity probe reply rejected: {0} (PRB-2)")]
    ProbeReply(#[from] ProbeReplyError),
    /// PRB-3: a claimed identity field differs from the expected one.
    #[error("identity probe: {field} is {claimed}, expected {expected} (PRB-3)")]
    IdentityMismatch {
        /// The field.
        field: &'static str,
        /// What the backend claimed.
        claimed: String,
        /// What the broker expected.
        expected: String,
    },
    /// PRB-5: the process itself is not the one launched.
    #[error("{detail} (PRB-5)")]
    Process {
        /// What the check of `/proc/<pid>` found.
        detail: String,
    },
    /// HEL-17: the launch this Hello waited for ended without an outcome.
    #[error("the launch this Hello waited on was abandoned (HEL-17)")]
    Abandoned,
}

/// A containment failure's text, always naming LCH-1.
fn containment_text(error: &ContainmentError) -> String {
    match error {
        ContainmentError::Unresolvable { .. } => format!("{error} (LCH-1)"),
        _ => error.to_string(),
    }
}

impl LaunchError {
    /// A framing failure of the probe exchange at `step`.
    pub(crate) fn exchange(step: &'static str, error: FramingError) -> Self {
        Self::ProbeExchange {
            step,
            detail: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clause each failure breaks, as its text must name it.
    fn clause(error: &LaunchError) -> &'static str {
        match error {
            LaunchError::Containment(_) => "LCH-1",
            LaunchError::Hash { .. } => "REG-1",
            LaunchError::SocketName { .. } | LaunchError::Spawn { .. } => "LCH-2",
            LaunchError::Bind { .. } => "LCH-3",
            LaunchError::ProbeTimeout { .. } => "PRB-4",
            LaunchError::ProbeConnect { .. } | LaunchError::ProbeExchange { .. } => "PRB-1",
            LaunchError::ProbeReply(_) => "PRB-2",
            LaunchError::IdentityMismatch { .. } => "PRB-3",
            LaunchError::Process { .. } => "PRB-5",
            LaunchError::Abandoned => "HEL-17",
        }
    }

    /// HEL-19: the refusal's detail names the clause that failed.
    #[test]
    fn every_launch_error_names_its_clause_in_its_text() {
        let errors = [
            LaunchError::Containment(ContainmentError::DirNotSet),
            LaunchError::Containment(ContainmentError::Unresolvable {
                field: "binary_path",
                path: "/x".into(),
                source: io::ErrorKind::NotFound.into(),
            }),
            LaunchError::Hash {
                path: "/x".into(),
                source: io::ErrorKind::PermissionDenied.into(),
            },
            LaunchError::SocketName {
                detail: "no directory".into(),
            },
            LaunchError::Bind {
                path: "/x".into(),
                source: io::ErrorKind::AddrInUse.into(),
            },
            LaunchError::Spawn {
                binary: "/x".into(),
                source: io::ErrorKind::NotFound.into(),
            },
            LaunchError::ProbeTimeout { budget_ms: 500 },
            LaunchError::ProbeConnect {
                path: "/x".into(),
                source: io::ErrorKind::ConnectionRefused.into(),
            },
            LaunchError::exchange(
                "read",
                FramingError::Io(io::ErrorKind::UnexpectedEof.into()),
            ),
            LaunchError::ProbeReply(ProbeReplyError::NonceMismatch),
            LaunchError::IdentityMismatch {
                field: "pid",
                claimed: "1".into(),
                expected: "2".into(),
            },
            LaunchError::Process {
                detail: "process 9 does not exist".into(),
            },
            LaunchError::Abandoned,
        ];
        for error in errors {
            let text = error.to_string();
            assert!(
                text.contains(&format!("({})", clause(&error))),
                "{text:?} does not name {}",
                clause(&error)
            );
        }
    }
}
