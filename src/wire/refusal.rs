//! Every refusal the spec prescribes (§1, §3, §4), as one type: its clause,
//! code, reason text and retry hint come from a single table.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::constants::{
    PROTOCOL_VERSION, RETRY_FD_PRESSURE_MS, RETRY_SHUTTING_DOWN_MS, RETRY_SPAWN_FAILED_MS,
    RETRY_SPAWN_IN_PROGRESS_MS, RETRY_VERSION_BLOCKED_MS,
};
use crate::proto::v1::{ErrorCode, Refused};

/// Why a broker refuses a connection's first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// FRM-4: the first byte is not 0x01.
    UnsupportedFramingVersion,
    /// FRM-3: a non-admin first frame over 64 KiB.
    HelloTooLarge,
    /// FRM-5: a declared length over 16 MiB (the body is never read); the
    /// reference broker answers rather than closing silently.
    OversizeLength,
    /// FRM-7: the body is not a valid `Frame`.
    MalformedFrame,
    /// FRM-8: the stream ended before the frame was complete.
    IncompleteFrame,
    /// HEL-1 / FRM-6: `envelope_version` is not 1.
    EnvelopeVersion,
    /// HEL-2: the frame kind is not REQUEST.
    FrameKindNotRequest,
    /// HEL-3: the payload protocol is not control (and not admin).
    PayloadProtocolNotControl,
    /// HEL-4: the payload is compressed.
    PayloadCompressed,
    /// HEL-5: the payload is not a valid `Hello`.
    MalformedHello,
    /// HEL-6: the client's protocol range does not include 1.
    ProtocolRange,
    /// HEL-7: `service_name` breaks its grammar.
    InvalidServiceName,
    /// HEL-8: `wanted_version` breaks its grammar or is over 64 bytes.
    InvalidWantedVersion,
    /// HEL-9: `client_version` is over 128 bytes.
    ClientVersionTooLong,
    /// HEL-10: `client_lib_name` or `client_lib_version` is over 64 bytes.
    ClientLibTooLong,
    /// HEL-11: the claimed pid differs from the kernel-verified one.
    PeerPidMismatch,
    /// HEL-12: auth tokens are configured and none matched; one generic
    /// reason for every auth failure.
    AuthenticationFailed,
    /// HEL-13: no service definition for the name.
    ServiceUnknown,
    /// HEL-14: the definition exists but cannot be loaded.
    ServiceDefinitionUnloadable {
        /// What is wrong with it.
        detail: String,
    },
    /// HEL-15: the wanted version is below the floor.
    BelowMinVersion,
    /// HEL-16: the wanted version is not in the allow-list.
    NotInAllowList,
    /// HEL-17: a launch for the key is already in flight.
    SpawnInProgress,
    /// HEL-18: the key's launch budget is spent.
    SpawnBudgetExhausted {
        /// Milliseconds until the window frees an attempt (at least 1).
        retry_after_ms: u64,
    },
    /// HEL-19: the backend could not be launched or failed its probe.
    SpawnFailed {
        /// What went wrong.
        detail: String,
    },
    /// HEL-20: the broker is draining after SHUTDOWN.
    ShuttingDown,
    /// ENV-3: the broker is short of file descriptors.
    FdPressure,
    /// v2 V2H-3: a front door's answer to a protocol range without 1.
    FrontDoorProtocolRange,
    /// v2 V2H-4: a front door's answer to an invalid `service_name`.
    FrontDoorInvalidServiceName,
    /// v2 V2H-7: below `min_version`, both quoted in the reason.
    FrontDoorBelowMinVersion {
        /// The client's `wanted_version`.
        wanted: String,
        /// The definition's `min_version`.
        min: String,
    },
    /// v2 V2H-8: not in `version_allow_list`, quoted in the reason.
    FrontDoorNotInAllowList {
        /// The client's `wanted_version`.
        wanted: String,
    },
}

impl Refusal {
    /// The spec clause that prescribes this refusal.
    pub fn clause(&self) -> &'static str {
        match self {
            Self::UnsupportedFramingVersion => "FRM-4",
            Self::HelloTooLarge => "FRM-3",
            Self::OversizeLength => "FRM-5",
            Self::MalformedFrame => "FRM-7",
            Self::IncompleteFrame => "FRM-8",
            Self::EnvelopeVersion => "HEL-1",
            Self::FrameKindNotRequest => "HEL-2",
            Self::PayloadProtocolNotControl => "HEL-3",
            Self::PayloadCompressed => "HEL-4",
            Self::MalformedHello => "HEL-5",
            Self::ProtocolRange => "HEL-6",
            Self::InvalidServiceName => "HEL-7",
            Self::InvalidWantedVersion => "HEL-8",
            Self::ClientVersionTooLong => "HEL-9",
            Self::ClientLibTooLong => "HEL-10",
            Self::PeerPidMismatch => "HEL-11",
            Self::AuthenticationFailed => "HEL-12",
            Self::ServiceUnknown => "HEL-13",
            Self::ServiceDefinitionUnloadable { .. } => "HEL-14",
            Self::BelowMinVersion => "HEL-15",
            Self::NotInAllowList => "HEL-16",
            Self::SpawnInProgress => "HEL-17",
            Self::SpawnBudgetExhausted { .. } => "HEL-18",
            Self::SpawnFailed { .. } => "HEL-19",
            Self::ShuttingDown => "HEL-20",
            Self::FdPressure => "ENV-3",
            Self::FrontDoorProtocolRange => "V2H-3",
            Self::FrontDoorInvalidServiceName => "V2H-4",
            Self::FrontDoorBelowMinVersion { .. } => "V2H-7",
            Self::FrontDoorNotInAllowList { .. } => "V2H-8",
        }
    }

    /// The error code on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedFramingVersion
            | Self::EnvelopeVersion
            | Self::ProtocolRange
            | Self::FrontDoorProtocolRange => ErrorCode::ErrorVersionUnsupported,
            Self::HelloTooLarge
            | Self::OversizeLength
            | Self::MalformedFrame
            | Self::IncompleteFrame
            | Self::FrameKindNotRequest
            | Self::PayloadProtocolNotControl
            | Self::PayloadCompressed
            | Self::MalformedHello
            | Self::InvalidServiceName
            | Self::InvalidWantedVersion
            | Self::ClientVersionTooLong
            | Self::ClientLibTooLong
            | Self::PeerPidMismatch
            | Self::AuthenticationFailed => ErrorCode::ErrorPeerRejected,
            Self::ServiceUnknown
            | Self::ServiceDefinitionUnloadable { .. }
            | Self::FrontDoorInvalidServiceName => ErrorCode::ErrorServiceUnknown,
            Self::BelowMinVersion
            | Self::NotInAllowList
            | Self::FrontDoorBelowMinVersion { .. }
            | Self::FrontDoorNotInAllowList { .. } => ErrorCode::ErrorVersionBlocked,
            Self::SpawnInProgress | Self::SpawnBudgetExhausted { .. } => {
                ErrorCode::ErrorRateLimited
            }
            Self::SpawnFailed { .. } => ErrorCode::ErrorBackendSpawnFailed,
            Self::ShuttingDown => ErrorCode::ErrorShuttingDown,
            Self::FdPressure => ErrorCode::ErrorFdPressure,
        }
    }

    /// The reason text (upstream's wording where upstream has one).
    pub fn reason(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::UnsupportedFramingVersion => "unsupported framing version",
            Self::HelloTooLarge | Self::OversizeLength => "initial Hello frame exceeds 64 KiB",
            Self::MalformedFrame => "malformed broker Frame",
            Self::IncompleteFrame => "incomplete Hello frame",
            Self::EnvelopeVersion => "frame envelope_version is not v1",
            Self::FrameKindNotRequest => "Hello frame kind must be REQUEST",
            Self::PayloadProtocolNotControl => "Hello frame payload_protocol must be control-plane",
            Self::PayloadCompressed => "Hello payload must not be compressed",
            Self::MalformedHello => "malformed Hello payload",
            Self::ProtocolRange => "client protocol range does not include v1",
            Self::InvalidServiceName => "invalid service_name",
            Self::InvalidWantedVersion => "invalid wanted_version",
            Self::ClientVersionTooLong => "client_version exceeds 128 bytes",
            Self::ClientLibTooLong => "client_lib fields exceed 64 bytes",
            Self::PeerPidMismatch => "peer_pid does not match verified peer",
            Self::AuthenticationFailed => "authentication failed",
            Self::ServiceUnknown => "service definition was not found",
            Self::ServiceDefinitionUnloadable { detail } => {
                return Cow::Owned(format!("service definition could not be loaded: {detail}"));
            }
            Self::BelowMinVersion => "wanted_version is below min_version",
            Self::NotInAllowList => "wanted_version is not in version_allow_list",
            Self::SpawnInProgress => "backend spawn already in progress",
            Self::SpawnBudgetExhausted { .. } => "backend spawn budget exhausted",
            Self::SpawnFailed { detail } => {
                return Cow::Owned(format!("backend spawn failed: {detail}"));
            }
            Self::ShuttingDown => "broker is shutting down",
            Self::FdPressure => "broker is under file-descriptor pressure",
            Self::FrontDoorProtocolRange => {
                "client protocol range does not include the version this broker speaks"
            }
            Self::FrontDoorInvalidServiceName => "service name is invalid",
            // V2H-7, V2H-8: the versions in Rust `Debug` quoting, as upstream.
            Self::FrontDoorBelowMinVersion { wanted, min } => {
                return Cow::Owned(format!(
                    "wanted_version {wanted:?} is below min_version {min:?}"
                ));
            }
            Self::FrontDoorNotInAllowList { wanted } => {
                return Cow::Owned(format!(
                    "wanted_version {wanted:?} is not in version_allow_list"
                ));
            }
        })
    }

    /// `retry_after_ms`: 0 for permanent refusals, the spec's figure for
    /// retryable ones (REF-2); 0 for every front-door refusal (v2 V2H-9).
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            Self::BelowMinVersion | Self::NotInAllowList => RETRY_VERSION_BLOCKED_MS,
            Self::SpawnInProgress => RETRY_SPAWN_IN_PROGRESS_MS,
            Self::SpawnBudgetExhausted { retry_after_ms } => (*retry_after_ms).max(1),
            Self::SpawnFailed { .. } => RETRY_SPAWN_FAILED_MS,
            Self::FdPressure => RETRY_FD_PRESSURE_MS,
            Self::ShuttingDown => RETRY_SHUTTING_DOWN_MS,
            _ => 0,
        }
    }

    /// The `Refused` message: code, reason, retry, and the daemon protocol
    /// range 1..1 (REF-1). `details` stays empty (REF-3).
    pub fn to_refused(&self) -> Refused {
        self.to_refused_with_details(BTreeMap::new())
    }

    /// [`to_refused`](Self::to_refused) with machine-readable details
    /// (REF-3: never secrets).
    pub fn to_refused_with_details(&self, details: BTreeMap<String, String>) -> Refused {
        Refused {
            reason: self.reason().into_owned(),
            daemon_min_protocol: PROTOCOL_VERSION,
            daemon_max_protocol: PROTOCOL_VERSION,
            code: self.code() as i32,
            details,
            retry_after_ms: self.retry_after_ms(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.code().as_str_name(),
            self.reason(),
            self.clause()
        )
    }
}
