//! The broker's protocol decisions, pure: frames, credentials, a service
//! definition and registry facts in; a refusal or the next step out. The
//! socket code in `server.rs` only moves bytes around these functions.

use std::path::PathBuf;

use crate::proto::v1::{Frame, Hello, Negotiated, ServiceDefinition};
use crate::wire::frames::negotiated;
use crate::wire::framing::FramingError;
use crate::wire::grammar::is_below_version_floor;
use crate::wire::{
    HANDOFF_TOKEN_LEN, MAX_HELLO_BYTES, PAYLOAD_PROTOCOL_ADMIN, Refusal, validate_hello,
};

/// Where a connection's first decoded frame goes (ENV-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstFrameRoute {
    /// Payload protocol 0xAD01: the admin path, whatever the kind and size.
    Admin,
    /// Refused before the Hello checks (FRM-3 size, ENV-3 fd pressure).
    Refuse(Refusal),
    /// On to the Hello checks.
    Hello,
}

/// ENV-3: admin first regardless of kind and size; then a body over 64 KiB
/// is refused (FRM-3); then fd-pressure demotion refuses; else the Hello path.
pub fn route_first_frame(frame: &Frame, body_len: usize, fd_pressure: bool) -> FirstFrameRoute {
    if frame.payload_protocol == PAYLOAD_PROTOCOL_ADMIN {
        FirstFrameRoute::Admin
    } else if body_len > MAX_HELLO_BYTES as usize {
        FirstFrameRoute::Refuse(Refusal::HelloTooLarge)
    } else if fd_pressure {
        FirstFrameRoute::Refuse(Refusal::FdPressure)
    } else {
        FirstFrameRoute::Hello
    }
}

/// The reply to a first frame that could not be read or decoded (FRM-4,
/// FRM-5, FRM-7, FRM-8); `None` when the connection just closes (an I/O
/// failure: nobody to answer).
pub fn framing_refusal(error: &FramingError) -> Option<Refusal> {
    match error {
        FramingError::BadFramingByte { .. } => Some(Refusal::UnsupportedFramingVersion),
        // FRM-5 allows a refusal or a silent close; the reference broker
        // answers, which tells the peer why.
        FramingError::Oversize { .. } => Some(Refusal::HelloTooLarge),
        FramingError::Malformed(_) | FramingError::TrailingBytes { .. } => {
            Some(Refusal::MalformedFrame)
        }
        FramingError::Truncated { .. } => Some(Refusal::IncompleteFrame),
        FramingError::Io(_) => None,
    }
}

/// Auth tokens from configuration, kept only as BLAKE3 digests (SEC-5).
#[derive(Clone, Default)]
pub struct AuthTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for AuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthTokens({} configured)", self.digests.len())
    }
}

impl AuthTokens {
    /// Digests the configured tokens.
    pub fn new<T: AsRef<[u8]>>(tokens: impl IntoIterator<Item = T>) -> Self {
        Self {
            digests: tokens
                .into_iter()
                .map(|t| *blake3::hash(t.as_ref()).as_bytes())
                .collect(),
        }
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when no token is configured (HEL-12 is then skipped).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// HEL-12 with SEC-5: when tokens are configured, `presented` must match
    /// one. Fixed-length digests are compared in constant time against every
    /// configured token, so neither the token nor its length leaks.
    pub fn check(&self, presented: &[u8]) -> Result<(), Refusal> {
        if self.digests.is_empty() {
            return Ok(());
        }
        let presented = blake3::hash(presented);
        let mut matched = false;
        for digest in &self.digests {
            // blake3::Hash equality is constant-time.
            matched |= presented == blake3::Hash::from_bytes(*digest);
        }
        if matched {
            Ok(())
        } else {
            Err(Refusal::AuthenticationFailed)
        }
    }
}

/// HEL-1…HEL-12: the checks that need no service definition, in order.
pub fn admit_hello(
    frame: &Frame,
    kernel_peer_pid: u32,
    auth: &AuthTokens,
) -> Result<Hello, Refusal> {
    let hello = validate_hello(frame, kernel_peer_pid)?;
    auth.check(&hello.auth_token)?;
    Ok(hello)
}

/// HEL-15, HEL-16: the version floor, then the allow-list.
pub fn check_version_policy(
    wanted_version: &str,
    definition: &ServiceDefinition,
) -> Result<(), Refusal> {
    if is_below_version_floor(wanted_version, &definition.min_version) {
        return Err(Refusal::BelowMinVersion);
    }
    if !definition.version_allow_list.is_empty()
        && !definition
            .version_allow_list
            .iter()
            .any(|v| v == wanted_version)
    {
        return Err(Refusal::NotInAllowList);
    }
    Ok(())
}

/// What identifies one backend (§7): instance, service, wanted version and
/// the BLAKE3 of the executable file, so a rebuilt binary is a new key (REG-1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    /// The instance id (§7.1).
    pub instance: String,
    /// The service name.
    pub service: String,
    /// The wanted version.
    pub version: String,
    /// BLAKE3 of the backend executable.
    pub exe_hash: [u8; 32],
}

impl BackendKey {
    /// The same backend slot ignoring the build: used to find superseded
    /// backends (REG-5).
    pub fn same_slot(&self, other: &Self) -> bool {
        self.instance == other.instance
            && self.service == other.service
            && self.version == other.version
    }
}

impl std::fmt::Display for BackendKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}@{} (blake3 {})",
            self.instance,
            self.service,
            self.version,
            crate::inspect::to_hex(&self.exe_hash[..6])
        )
    }
}

/// The backend facts a `Negotiated` reply needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendEndpoint {
    /// Where clients connect (NEG-2).
    pub backend_pipe: PathBuf,
}

/// NEG-1…NEG-8 for a backend that is up. `handoff_token` is set only when a
/// handoff will really be attempted (NEG-8).
pub fn negotiate(
    hello: &Hello,
    backend: &BackendEndpoint,
    connection_id: u64,
    handoff_token: Option<[u8; HANDOFF_TOKEN_LEN]>,
) -> Negotiated {
    negotiated(
        hello,
        &backend.backend_pipe.to_string_lossy(),
        connection_id,
        handoff_token,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::FrameKind;
    use crate::wire::frames::hello_request;
    use crate::wire::framing::FrameSection;

    fn admin_frame(kind: FrameKind) -> Frame {
        Frame {
            kind: kind as i32,
            payload_protocol: PAYLOAD_PROTOCOL_ADMIN,
            ..Frame::default()
        }
    }

    #[test]
    fn admin_goes_first_whatever_its_kind_and_size() {
        let big = MAX_HELLO_BYTES as usize * 4;
        assert_eq!(
            route_first_frame(&admin_frame(FrameKind::Event), big, true),
            FirstFrameRoute::Admin
        );
        let hello = hello_request(&Hello::default(), 1);
        assert_eq!(
            route_first_frame(&hello, MAX_HELLO_BYTES as usize + 1, true),
            FirstFrameRoute::Refuse(Refusal::HelloTooLarge)
        );
        assert_eq!(
            route_first_frame(&hello, MAX_HELLO_BYTES as usize, false),
            FirstFrameRoute::Hello
        );
        assert_eq!(
            route_first_frame(&hello, 10, true),
            FirstFrameRoute::Refuse(Refusal::FdPressure)
        );
    }

    #[test]
    fn framing_failures_map_to_the_spec_refusals() {
        let cases = [
            (
                FramingError::BadFramingByte { found: 2 },
                Some(Refusal::UnsupportedFramingVersion),
            ),
            (
                FramingError::Oversize {
                    declared: 1 << 25,
                    limit: 1 << 24,
                },
                Some(Refusal::HelloTooLarge),
            ),
            (
                FramingError::Truncated {
                    section: FrameSection::Header,
                    received: 0,
                    expected: 5,
                },
                Some(Refusal::IncompleteFrame),
            ),
            (FramingError::Io(std::io::Error::other("x")), None),
        ];
        for (error, expected) in cases {
            assert_eq!(framing_refusal(&error), expected, "{error}");
        }
    }

    #[test]
    fn auth_tokens_match_exactly_and_never_when_absent() {
        let none = AuthTokens::default();
        assert!(none.check(b"").is_ok());
        let tokens = AuthTokens::new(["s3cret", "other"]);
        assert!(tokens.check(b"s3cret").is_ok());
        assert!(tokens.check(b"other").is_ok());
        for wrong in [&b""[..], b"s3cre", b"s3cret!", b"S3CRET"] {
            assert_eq!(tokens.check(wrong), Err(Refusal::AuthenticationFailed));
        }
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }

    #[test]
    fn version_policy_checks_floor_then_allow_list() {
        let def = ServiceDefinition {
            min_version: "1.5.0".into(),
            version_allow_list: vec!["1.4.0".into(), "1.6.0-rc.1".into()],
            ..ServiceDefinition::default()
        };
        assert_eq!(
            check_version_policy("1.4.0", &def),
            Err(Refusal::BelowMinVersion)
        );
        assert_eq!(
            check_version_policy("1.7.0", &def),
            Err(Refusal::NotInAllowList)
        );
        assert_eq!(check_version_policy("1.6.0-rc.1", &def), Ok(()));
        assert_eq!(
            check_version_policy("0.0.1", &ServiceDefinition::default()),
            Ok(())
        );
    }
}
