//! Everything a client call can fail with, each carrying the step or the
//! endpoint it failed at.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::proto::v1::ErrorCode;
use crate::wire::{EnvelopeError, FramingError};

/// Why a client call did not produce a connection or a reply.
///
/// Every I/O step after the connect happens on the broker socket, so
/// `during` names the step and the broker is the endpoint; connect failures
/// name their endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `RUNNING_PROCESS_DISABLE=1`: the caller takes its direct path (CLI-1).
    #[error("broker use is disabled by RUNNING_PROCESS_DISABLE=1 (CLI-1)")]
    Disabled,
    /// A client environment variable holds an unusable value (CLI-1, CLI-6).
    #[error("{variable}={value:?} is invalid: {problem}")]
    Config {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Connecting to a socket failed.
    #[error("cannot connect to {}: {source}", endpoint.display())]
    Connect {
        /// The socket path.
        endpoint: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The broker socket failed after the connect.
    #[error("i/o error while {during}: {source}")]
    Io {
        /// The step that failed.
        during: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The broker did not finish a round trip in time (CLI-6).
    #[error("timed out after {after:?} while {during} (CLI-6)")]
    Timeout {
        /// The step that was cut off.
        during: &'static str,
        /// The bound in force.
        after: Duration,
    },
    /// The broker's reply frame could not be read or decoded (FRM).
    #[error("the broker's reply frame is unusable: {0}")]
    Framing(FramingError),
    /// The broker's reply frame has the wrong envelope (ENV-1, CLI-4).
    #[error("the broker's reply envelope is wrong (ENV-1): {0}")]
    Envelope(EnvelopeError),
    /// The reply decoded but breaks the protocol (CLI-4, NEG-7).
    #[error("the broker's reply is malformed: {0}")]
    Malformed(String),
    /// The broker refused the Hello (CLI-4).
    #[error("the broker refused: {} ({reason:?}, retry after {retry_after_ms} ms)", code_name(*raw_code))]
    Refused {
        /// The refusal code; `Unspecified` for numbers this schema does not know.
        code: ErrorCode,
        /// The code exactly as received.
        raw_code: i32,
        /// The broker's reason text.
        reason: String,
        /// When to retry; 0 for permanent refusals (REF-2).
        retry_after_ms: u64,
    },
}

/// The name of a raw `ErrorCode` value, or the number when unknown.
pub fn code_name(code: i32) -> String {
    ErrorCode::try_from(code).map_or_else(
        |_| format!("unknown error code {code}"),
        |c| c.as_str_name().to_owned(),
    )
}

impl ClientError {
    /// True for a refusal the broker marked retryable (`retry_after_ms > 0`, REF-2).
    pub fn is_retryable_refusal(&self) -> bool {
        matches!(self, Self::Refused { retry_after_ms, .. } if *retry_after_ms > 0)
    }

    /// Classifies an I/O error of `during`: a read or write timeout becomes
    /// [`ClientError::Timeout`], anything else [`ClientError::Io`].
    pub(crate) fn io(during: &'static str, after: Duration, source: io::Error) -> Self {
        if is_timeout(&source) {
            Self::Timeout { during, after }
        } else {
            Self::Io { during, source }
        }
    }

    /// Classifies a framing error of `during`: timeouts become
    /// [`ClientError::Timeout`], other stream failures [`ClientError::Io`],
    /// the rest (EOF, bad bytes) [`ClientError::Framing`].
    pub(crate) fn framing(during: &'static str, after: Duration, error: FramingError) -> Self {
        match error {
            FramingError::Io(source) => Self::io(during, after, source),
            other => Self::Framing(other),
        }
    }
}

/// True when `error` is what a socket read or write timeout produces.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
