//! What a caller asks for ([`ConnectRequest`]), the routes a connection can
//! take ([`Route`]), and the pure decisions made before any socket opens.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use super::settings::ClientSettings;
use crate::proto::v1::{Frame, Hello};
use crate::wire::frames::hello_request;
use crate::wire::{DEFAULT_HANDOFF_READY_TIMEOUT, PROTOCOL_VERSION};

/// `client_lib_name` this library sends by default (HEL-10).
pub(crate) const CLIENT_LIB_NAME: &str = env!("CARGO_PKG_NAME");
/// `client_lib_version` this library sends by default (HEL-10).
pub(crate) const CLIENT_LIB_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything [`connect`](super::connect) needs to reach a backend.
///
/// Build one with [`ConnectRequest::new`] and adjust the public fields,
/// e.g. `ConnectRequest { adopt_handoff: true, ..ConnectRequest::new(b, s, v) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The broker socket.
    pub broker: PathBuf,
    /// `Hello.service_name` (HEL-7).
    pub service: String,
    /// `Hello.wanted_version` (HEL-8).
    pub wanted_version: String,
    /// The caller's own version, `Hello.client_version`; equal to
    /// `wanted_version` it allows Hello-skip (CLI-3). Default: empty.
    pub client_version: String,
    /// A backend endpoint remembered from an earlier negotiation (CLI-3).
    pub cached_backend: Option<PathBuf>,
    /// `Hello.client_lib_name`. Default: this crate's name.
    pub client_lib_name: String,
    /// `Hello.client_lib_version`. Default: this crate's version.
    pub client_lib_version: String,
    /// `Hello.request_id`, a free-form correlation string. Default: empty.
    pub request_id: String,
    /// `Hello.auth_token` (HEL-12). Default: none.
    pub auth_token: Option<Vec<u8>>,
    /// `Hello.client_keepalive_secs`; 0 lets the broker choose (NEG-4).
    pub keepalive_secs: u64,
    /// Whether to adopt a handed-off broker connection (HOF-8, CLI-5).
    /// Default: false.
    pub adopt_handoff: bool,
    /// How long to wait for the handoff EVENT (HOF-8).
    pub handoff_ready_timeout: Duration,
    /// Overrides [`ClientSettings::timeout`] for this request (CLI-6).
    pub timeout: Option<Duration>,
    /// `Frame.traceparent` and `Frame.tracestate` of the Hello.
    pub trace: Option<(String, String)>,
}

impl ConnectRequest {
    /// A request for `service` at `wanted_version` through `broker`, with
    /// every other field at its documented default.
    pub fn new(
        broker: impl Into<PathBuf>,
        service: impl Into<String>,
        wanted_version: impl Into<String>,
    ) -> Self {
        Self {
            broker: broker.into(),
            service: service.into(),
            wanted_version: wanted_version.into(),
            client_version: String::new(),
            cached_backend: None,
            client_lib_name: CLIENT_LIB_NAME.to_owned(),
            client_lib_version: CLIENT_LIB_VERSION.to_owned(),
            request_id: String::new(),
            auth_token: None,
            keepalive_secs: 0,
            adopt_handoff: false,
            handoff_ready_timeout: DEFAULT_HANDOFF_READY_TIMEOUT,
            timeout: None,
            trace: None,
        }
    }

    /// The Hello this request sends: protocol range 1..1, this process's
    /// pid, and `client_capabilities` whether or not adoption is wanted
    /// (CLI-5).
    pub fn hello_message(&self) -> Hello {
        Hello {
            client_min_protocol: PROTOCOL_VERSION,
            client_max_protocol: PROTOCOL_VERSION,
            service_name: self.service.clone(),
            wanted_version: self.wanted_version.clone(),
            client_version: self.client_version.clone(),
            client_capabilities: client_capabilities(),
            auth_token: self
                .auth_token
                .as_deref()
                .map_or_else(Bytes::new, Bytes::copy_from_slice),
            request_id: self.request_id.clone(),
            connection_id: 0,
            peer_pid: std::process::id(),
            client_lib_name: self.client_lib_name.clone(),
            client_lib_version: self.client_lib_version.clone(),
            peer_attestation_nonce: Bytes::new(),
            capability_token: Bytes::new(),
            client_keepalive_secs: self.keepalive_secs,
        }
    }

    /// The Hello request frame, carrying the trace fields.
    pub fn hello_frame(&self, frame_request_id: u64) -> Frame {
        let mut frame = hello_request(&self.hello_message(), frame_request_id);
        if let Some((traceparent, tracestate)) = &self.trace {
            frame.traceparent = traceparent.clone();
            frame.tracestate = tracestate.clone();
        }
        frame
    }

    /// CLI-3: the cached endpoint may be tried first only when the caller
    /// wants exactly its own version.
    pub fn may_skip_hello(&self) -> bool {
        self.cached_backend.is_some() && self.wanted_version == self.client_version
    }

    /// The round-trip bound in force: this request's, else the settings' (CLI-6).
    pub fn timeout_with(&self, settings: &ClientSettings) -> Duration {
        self.timeout.unwrap_or(settings.timeout)
    }
}

/// The capabilities this client advertises: [`CAP_HANDLE_PASSING`] where
/// the platform can pass a connection (Unix), regardless of whether the
/// caller opted into adoption (CLI-5, CAP-1).
///
/// [`CAP_HANDLE_PASSING`]: crate::wire::CAP_HANDLE_PASSING
pub(crate) fn client_capabilities() -> u64 {
    #[cfg(unix)]
    {
        crate::wire::CAP_HANDLE_PASSING
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// How a [`BackendConnection`](super::BackendConnection) reached its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Straight to `RUNNING_PROCESS_FAKE_BACKEND` (CLI-2).
    FakeBackendSeam,
    /// Straight to the cached backend endpoint, no Hello (CLI-3).
    HelloSkip,
    /// Hello, then a new connection to `backend_pipe` (NEG-2).
    BrokerNegotiated,
    /// Hello, then the broker handed this very connection to the backend (HOF-8).
    HandlePassed,
}

impl Route {
    /// A stable kebab-case name, for output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FakeBackendSeam => "fake-backend-seam",
            Self::HelloSkip => "hello-skip",
            Self::BrokerNegotiated => "broker-negotiated",
            Self::HandlePassed => "handle-passed",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first step of a connect, decided from the request and the settings
/// alone (CLI-1, CLI-2, CLI-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstStep<'a> {
    /// Broker use is disabled: return [`ClientError::Disabled`](super::ClientError::Disabled).
    Disabled,
    /// Connect to the seam endpoint and nothing else.
    Seam(&'a Path),
    /// Do the Hello, after first trying the cached endpoint if there is one.
    Hello {
        /// The cached endpoint to try first.
        try_cached: Option<&'a Path>,
    },
}

/// Decides the first step: disabled wins over the seam, the seam over
/// everything else (CLI-1, CLI-2), and the cached endpoint is tried only
/// under CLI-3's condition.
pub(crate) fn first_step<'a>(
    request: &'a ConnectRequest,
    settings: &'a ClientSettings,
) -> FirstStep<'a> {
    if settings.disabled {
        return FirstStep::Disabled;
    }
    if let Some(seam) = &settings.fake_backend {
        return FirstStep::Seam(seam);
    }
    FirstStep::Hello {
        try_cached: request
            .cached_backend
            .as_deref()
            .filter(|_| request.may_skip_hello()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CAP_HANDLE_PASSING;

    fn request() -> ConnectRequest {
        ConnectRequest::new("/b.sock", "svc", "1.2.3")
    }

    #[test]
    fn disabled_overrides_the_seam() {
        let settings = ClientSettings {
            disabled: true,
            fake_backend: Some("/seam".into()),
            ..ClientSettings::default()
        };
        assert_eq!(first_step(&request(), &settings), FirstStep::Disabled);
    }

    #[test]
    fn the_seam_skips_everything_else() {
        let settings = ClientSettings {
            fake_backend: Some("/seam".into()),
            ..ClientSettings::default()
        };
        let req = ConnectRequest {
            cached_backend: Some("/cached".into()),
            client_version: "1.2.3".into(),
            ..request()
        };
        assert_eq!(
            first_step(&req, &settings),
            FirstStep::Seam(Path::new("/seam"))
        );
    }

    #[test]
    fn the_cache_is_tried_only_when_versions_are_equal() {
        let settings = ClientSettings::default();
        let same = ConnectRequest {
            cached_backend: Some("/cached".into()),
            client_version: "1.2.3".into(),
            ..request()
        };
        assert_eq!(
            first_step(&same, &settings),
            FirstStep::Hello {
                try_cached: Some(Path::new("/cached"))
            }
        );
        let other = ConnectRequest {
            client_version: "1.2.4".into(),
            ..same
        };
        assert_eq!(
            first_step(&other, &settings),
            FirstStep::Hello { try_cached: None }
        );
    }

    #[test]
    fn the_hello_advertises_handle_passing_even_without_adoption() {
        let hello = request().hello_message();
        assert_eq!(hello.client_min_protocol, 1);
        assert_eq!(hello.client_max_protocol, 1);
        assert_eq!(hello.client_capabilities, CAP_HANDLE_PASSING);
        assert_eq!(hello.peer_pid, std::process::id());
        assert_eq!(hello.client_lib_name, CLIENT_LIB_NAME);
    }

    #[test]
    fn trace_fields_go_on_the_frame() {
        let req = ConnectRequest {
            trace: Some(("00-aa-bb-01".into(), "k=v".into())),
            ..request()
        };
        let frame = req.hello_frame(9);
        assert_eq!(frame.request_id, 9);
        assert_eq!(frame.traceparent, "00-aa-bb-01");
        assert_eq!(frame.tracestate, "k=v");
    }
}
