//! Protocol constants: framing, limits, payload-protocol IDs and ranges,
//! capability bits, and the timing figures the spec fixes.

use std::ops::RangeInclusive;
use std::time::Duration;

/// First byte of every frame (FRM-1). Not to be confused with
/// [`PROTOCOL_VERSION`], which lives inside the body.
pub const FRAMING_VERSION: u8 = 0x01;

/// Size of the frame header: the framing byte plus a u32 LE body length (FRM-1).
pub const FRAME_HEADER_LEN: usize = 5;

/// `Frame.envelope_version` of every v1 frame, and the only protocol a v1
/// broker negotiates (HEL-1, HEL-6, NEG-1, REF-1).
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest legal frame body: 16 MiB; one byte more is rejected before the
/// body is read (FRM-2).
pub const MAX_FRAME_BYTES: u32 = 16 * 1024 * 1024;

/// Largest legal body of a non-admin first frame: 64 KiB (FRM-3).
pub const MAX_HELLO_BYTES: u32 = 64 * 1024;

/// Largest encoded lifecycle-event record, the POSIX minimum `PIPE_BUF`, so
/// one `write(2)` appends it atomically (EVT-1).
pub const LIFECYCLE_EVENT_PIPE_BUF_FLOOR: usize = 512;

/// Capability bit 0: the peer can pass a connection handle (CAP-1, HOF).
pub const CAP_HANDLE_PASSING: u64 = 1 << 0;

/// Every capability bit this protocol version defines (CAP-1).
pub const KNOWN_CAPABILITIES: u64 = CAP_HANDLE_PASSING;

/// Payload protocol of the Hello exchange (ENV-2).
pub const PAYLOAD_PROTOCOL_CONTROL: u32 = 0x0000;
/// Payload protocol of admin verbs (ENV-2, ADM-1).
pub const PAYLOAD_PROTOCOL_ADMIN: u32 = 0xAD01;
/// Payload protocol of the backend identity probe (ENV-2, PRB-1).
pub const PAYLOAD_PROTOCOL_IDENTITY_PROBE: u32 = 0xB232;
/// Payload protocol of connection handoff (ENV-2, HOF-3).
pub const PAYLOAD_PROTOCOL_HANDOFF: u32 = 0xD0FF;
/// Payload protocol of the v2 session lane (ENV-2, §11).
pub const PAYLOAD_PROTOCOL_V2_SESSION: u32 = 0x5350;
/// Control RPC GetBrokerHttpEndpoint, "HE" (v2 spec V2R, allocated by this project).
pub const PAYLOAD_PROTOCOL_HTTP_ENDPOINT: u32 = 0x4845;
/// Control RPC BackendHttpReady, "HR" (v2 spec V2R, allocated by this project).
pub const PAYLOAD_PROTOCOL_HTTP_READY: u32 = 0x4852;
/// Registered consumer protocol: zccache (ENV-2).
pub const PAYLOAD_PROTOCOL_ZCCACHE: u32 = 0x7A63;
/// Registered consumer protocol: clud (ENV-2).
pub const PAYLOAD_PROTOCOL_CLUD: u32 = 0x7C4C;
/// Registered consumer protocol: fbuild (ENV-2).
pub const PAYLOAD_PROTOCOL_FBUILD: u32 = 0x7EB1;

/// Payload-protocol IDs owned by the protocol itself (ENV-2).
pub const FIRST_PARTY_RANGE: RangeInclusive<u32> = 0x0000..=0x6FFF;
/// Payload-protocol IDs registered to named consumers (ENV-2).
pub const REGISTERED_CONSUMER_RANGE: RangeInclusive<u32> = 0x7000..=0x7EFF;
/// Payload-protocol IDs held back for the future (ENV-2).
pub const RESERVED_RANGE: RangeInclusive<u32> = 0x7F00..=0xEFFF;
/// Payload-protocol IDs free for private use (ENV-2).
pub const PRIVATE_USE_RANGE: RangeInclusive<u32> = 0xF000..=0xFFFF;

/// Where a payload-protocol ID falls in the ENV-2 allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadProtocolRange {
    /// `0x0000–0x6FFF`.
    FirstParty,
    /// `0x7000–0x7EFF`.
    RegisteredConsumer,
    /// `0x7F00–0xEFFF`.
    Reserved,
    /// `0xF000–0xFFFF`.
    PrivateUse,
    /// Above `0xFFFF`: the field is a u32 but IDs are 16-bit.
    OutOfRange,
}

impl PayloadProtocolRange {
    /// Classifies a payload-protocol ID (ENV-2).
    pub fn of(id: u32) -> Self {
        if FIRST_PARTY_RANGE.contains(&id) {
            Self::FirstParty
        } else if REGISTERED_CONSUMER_RANGE.contains(&id) {
            Self::RegisteredConsumer
        } else if RESERVED_RANGE.contains(&id) {
            Self::Reserved
        } else if PRIVATE_USE_RANGE.contains(&id) {
            Self::PrivateUse
        } else {
            Self::OutOfRange
        }
    }
}

/// Longest `service_name` (HEL-7), also the longest instance name.
pub const MAX_SERVICE_NAME_BYTES: usize = 64;
/// Longest `wanted_version` (HEL-8).
pub const MAX_WANTED_VERSION_BYTES: usize = 64;
/// Longest `client_version` (HEL-9).
pub const MAX_CLIENT_VERSION_BYTES: usize = 128;
/// Longest `client_lib_name` / `client_lib_version` (HEL-10).
pub const MAX_CLIENT_LIB_FIELD_BYTES: usize = 64;

/// `keepalive_interval_secs` when the client proposes none (NEG-4).
pub const DEFAULT_KEEPALIVE_SECS: u64 = 1800;
/// How long a broker waits for a connection's first frame (FRM-9).
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on a client's Hello or admin round trip (CLI-6).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `retry_after_ms` of VERSION_BLOCKED refusals (HEL-15, HEL-16).
pub const RETRY_VERSION_BLOCKED_MS: u64 = 30_000;
/// `retry_after_ms` when a launch for the key is already in flight (HEL-17).
pub const RETRY_SPAWN_IN_PROGRESS_MS: u64 = 1_000;
/// `retry_after_ms` of BACKEND_SPAWN_FAILED refusals (HEL-19).
pub const RETRY_SPAWN_FAILED_MS: u64 = 1_000;
/// `retry_after_ms` of FD_PRESSURE refusals (ENV-3).
pub const RETRY_FD_PRESSURE_MS: u64 = 1_000;
/// `retry_after_ms` of SHUTTING_DOWN refusals (HEL-20). The spec gives no
/// figure; REF-2 asks for a non-zero one, and a successor broker is
/// usually up within a second.
pub const RETRY_SHUTTING_DOWN_MS: u64 = 1_000;

/// Failed launches allowed per key within [`SPAWN_BUDGET_WINDOW`] (REG-3).
pub const SPAWN_BUDGET_ATTEMPTS: u32 = 3;
/// The sliding window of the launch budget (REG-3, HEL-18).
pub const SPAWN_BUDGET_WINDOW: Duration = Duration::from_secs(30);

/// Bound on the whole identity probe: connect, write, read (PRB-4).
pub const IDENTITY_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Length of the identity-probe nonce (PRB-1).
pub const IDENTITY_PROBE_NONCE_LEN: usize = 32;
/// Length of an executable digest (PRB-3).
pub const EXE_HASH_LEN: usize = 32;
/// The only identity hash algorithm (PRB-3).
pub const EXE_HASH_ALGORITHM: &str = "blake3";

/// Length of a handoff token (HOF-1).
pub const HANDOFF_TOKEN_LEN: usize = 16;
/// How long the broker waits for the backend's HandoffAck (HOF-4).
pub const HANDOFF_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an unused handoff token stays valid (HOF-7).
pub const HANDOFF_TOKEN_TTL: Duration = Duration::from_secs(30);
/// How long an adopting client waits for the handoff EVENT (HOF-8).
pub const DEFAULT_HANDOFF_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Drain bound of SHUTDOWN when `drain_deadline_ms` is 0 (ADM-7).
pub const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_millis(5_000);

/// The service-definition label key that opts a service into handoff (LCH-6).
pub const HANDOFF_LABEL_KEY: &str = "handoff";

/// The value of [`HANDOFF_LABEL_KEY`] that opts in (LCH-6).
pub const HANDOFF_LABEL_VALUE: &str = "1";

/// Media type of a sealed v1 cache manifest (MAN-1).
pub const CACHE_MANIFEST_MEDIA_TYPE: &str = "application/vnd.running-process.cache-manifest.v1";
/// The only cache-manifest schema version readers accept (MAN-1).
pub const CACHE_MANIFEST_SCHEMA_VERSION: u32 = 1;

/// `content_type` of TEXT admin replies (ADM-3).
pub const CONTENT_TYPE_TEXT: &str = "text/plain";
/// `content_type` of JSON admin replies (ADM-3, ADM-5).
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `content_type` of the METRICS reply (ADM-6).
pub const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text";

#[cfg(test)]
mod tests {
    use super::*;

    /// ENV-2: the assigned IDs and the four ranges.
    #[test]
    fn payload_protocol_ids_fall_in_their_ranges() {
        assert_eq!(
            PayloadProtocolRange::of(PAYLOAD_PROTOCOL_CONTROL),
            PayloadProtocolRange::FirstParty
        );
        assert_eq!(
            PayloadProtocolRange::of(PAYLOAD_PROTOCOL_V2_SESSION),
            PayloadProtocolRange::FirstParty
        );
        assert_eq!(
            PayloadProtocolRange::of(PAYLOAD_PROTOCOL_ZCCACHE),
            PayloadProtocolRange::RegisteredConsumer
        );
        assert_eq!(
            PayloadProtocolRange::of(PAYLOAD_PROTOCOL_FBUILD),
            PayloadProtocolRange::RegisteredConsumer
        );
        assert_eq!(
            PayloadProtocolRange::of(PAYLOAD_PROTOCOL_ADMIN),
            PayloadProtocolRange::Reserved
        );
        assert_eq!(
            PayloadProtocolRange::of(0xF000),
            PayloadProtocolRange::PrivateUse
        );
        assert_eq!(
            PayloadProtocolRange::of(0x1_0000),
            PayloadProtocolRange::OutOfRange
        );
    }
}
