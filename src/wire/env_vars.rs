//! Names of the environment variables the protocol defines: the launch
//! contract a backend reads (LCH-2, LCH-3, LCH-6), the broker's settings
//! (FRM-9, SEC-4, SVC-1, MAN-2) and the client's seams (CLI-1, CLI-2, CLI-6).

/// Backend: the service it was launched for (LCH-2).
pub const BACKEND_SERVICE_NAME: &str = "RUNNING_PROCESS_BROKER_V1_SERVICE_NAME";
/// Backend: the version it must serve, the client's `wanted_version` (LCH-2).
pub const BACKEND_SERVICE_VERSION: &str = "RUNNING_PROCESS_BROKER_V1_SERVICE_VERSION";
/// Backend: the socket path to serve frames on (LCH-2).
pub const BACKEND_PIPE: &str = "RUNNING_PROCESS_BROKER_V1_BACKEND_PIPE";
/// Backend: the endpoint namespace, i.e. the instance id (LCH-2).
pub const BACKEND_NAMESPACE: &str = "RUNNING_PROCESS_BROKER_V1_BACKEND_NAMESPACE";
/// Backend: the instance id (LCH-2).
pub const BACKEND_INSTANCE: &str = "RUNNING_PROCESS_BROKER_V1_INSTANCE";
/// Backend: the Hello's `traceparent`, only when it had one (LCH-2).
pub const BACKEND_TRACEPARENT: &str = "RUNNING_PROCESS_BROKER_V1_TRACEPARENT";
/// Backend: the Hello's `tracestate`, only when it had one (LCH-2).
pub const BACKEND_TRACESTATE: &str = "RUNNING_PROCESS_BROKER_V1_TRACESTATE";
/// Backend: where to listen for handoff connections (LCH-6).
pub const BACKEND_HANDOFF_PIPE: &str = "RUNNING_PROCESS_BROKER_V1_HANDOFF_PIPE";
/// Backend: always `1` for processes a broker launched (LCH-2).
pub const IS_DAEMON: &str = "RUNNING_PROCESS_IS_DAEMON";
/// Backend: the inherited listening socket's descriptor number (LCH-3).
pub const LISTENER_FD: &str = "RUNNING_PROCESS_BROKER_LISTENER_FD";
/// Broker: `0` disables broker-owned bind (LCH-3).
pub const OWNED_BIND: &str = "RUNNING_PROCESS_BROKER_OWNED_BIND";

/// Broker: Hello deadline in milliseconds; `0` or garbage means 30 s (FRM-9).
pub const HELLO_TIMEOUT_MS: &str = "RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS";
/// Broker: `1` allows running as root (SEC-4).
pub const ALLOW_PRIVILEGED: &str = "RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED";
/// Broker and tools: the service-definition directory (SVC-1).
pub const SERVICE_DEF_DIR: &str = "RUNNING_PROCESS_SERVICE_DEF_DIR";
/// Broker and tools: the central manifest registry (MAN-2).
pub const MANIFEST_DIR: &str = "RUNNING_PROCESS_MANIFEST_DIR";

/// Client: `1` disables broker use; unset allows it; anything else is an
/// error (CLI-1).
pub const DISABLE: &str = "RUNNING_PROCESS_DISABLE";
/// Client test seam: connect straight to this backend endpoint (CLI-2).
pub const FAKE_BACKEND: &str = "RUNNING_PROCESS_FAKE_BACKEND";
/// Client: bound on a Hello or admin round trip in milliseconds (CLI-6).
pub const CLIENT_TIMEOUT_MS: &str = "RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS";

/// v2: the launching broker's control socket, given to backends whose
/// definition declares `http_server` (V2R-7).
pub const V2_CONTROL_PIPE: &str = "RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE";
/// v2: front-door cap on connections handled at once (V2L-7).
pub const MAX_INFLIGHT_HANDLERS: &str = "RUNNING_PROCESS_BROKER_MAX_INFLIGHT_HANDLERS";
/// v2: exact HTTP port, overriding `--http-port`'s mode (V2W-3).
pub const HTTP_PORT: &str = "RUNNING_PROCESS_BROKER_HTTP_PORT";
/// v2: the HTTP bind address (V2W-4).
pub const HTTP_BIND: &str = "RUNNING_PROCESS_BROKER_HTTP_BIND";

/// Variables a broker passes to a backend, besides the carried user ones
/// (LCH-2, LCH-3, LCH-6).
pub const LAUNCH_CONTRACT: &[&str] = &[
    BACKEND_SERVICE_NAME,
    BACKEND_SERVICE_VERSION,
    BACKEND_PIPE,
    BACKEND_NAMESPACE,
    BACKEND_INSTANCE,
    BACKEND_TRACEPARENT,
    BACKEND_TRACESTATE,
    BACKEND_HANDOFF_PIPE,
    IS_DAEMON,
    LISTENER_FD,
];
