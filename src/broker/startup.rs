//! Starting a broker: the privilege check (SEC-4), the socket (SEC-2,
//! SEC-6), the event log, and its rooms assembled.

use std::os::unix::net::UnixListener;
use std::sync::Arc;

use super::config::BrokerConfig;
use super::event_sink::EventSink;
use super::fd_pressure::FdPressure;
use super::hello::{Door, HelloPolicy};
use super::launcher::{Launcher, LauncherConfig};
use super::lifecycle::Lifecycle;
use super::metrics::Metrics;
use super::rooms::Rooms;
use super::security::{self, SecurityError};
use crate::definitions::ServiceDefinitionLoader;
use crate::events::{EventLog, EventLogError};
use crate::http::{HttpSurface, StatusSource};
use crate::paths::launching_http_port_file;
use crate::paths::{boot_id, machine_id, user_hash};
use crate::sys::{euid, raise_fd_limit};

/// Why a broker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A security precondition failed (SEC-2, SEC-4, SEC-6).
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// The event log could not be opened.
    #[error("event log: {0}")]
    EventLog(#[from] EventLogError),
    /// Another startup step failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

/// V2W-1…V2W-6, V2W-14: the HTTP surface when configured, bound once the
/// control socket is, with its discovery file beside that socket; a failed
/// bind is logged and the broker serves on without it (V2W-5). Needs a
/// tokio runtime context, as binding does.
fn start_http(config: &BrokerConfig, launcher: &Launcher) -> Option<HttpSurface> {
    let plan = config.http.as_ref()?;
    let source: Arc<dyn StatusSource> = Arc::clone(launcher.endpoints()) as _;
    let discovery = launching_http_port_file(&config.socket);
    HttpSurface::start(plan, source, Some(&discovery))
        .inspect_err(|e| tracing::warn!(error = %e, "no HTTP surface (V2W-5)"))
        .ok()
}

/// Binds the broker socket (and the HTTP surface, when configured) and
/// assembles the rooms, checking SEC-2, SEC-4 and SEC-6. The broker serves once `server::serve` runs.
pub(crate) fn bind(config: BrokerConfig) -> Result<(UnixListener, Arc<Rooms>), BrokerError> {
    let euid = euid();
    security::check_privilege(euid, config.allow_privileged)?;
    let listener = security::bind_broker_socket(&config.socket, euid)?;
    if let Err(e) = raise_fd_limit() {
        tracing::warn!(error = %e, "cannot raise the descriptor limit");
    }
    let log = match &config.event_log {
        Some(path) => {
            let log = EventLog::open(path)?;
            if let Some(notice) = log.opened_broken() {
                tracing::warn!(
                    "event log {} was broken: {notice}; continuing after the last intact record",
                    path.display()
                );
            }
            log
        }
        None => EventLog::in_memory(),
    };
    let io = |what| move |source| BrokerError::Io { what, source };
    let launcher_config = LauncherConfig {
        socket_dir: config
            .socket
            .parent()
            .map(std::path::Path::to_path_buf)
            .ok_or_else(|| {
                io("locating the socket directory")(std::io::ErrorKind::NotFound.into())
            })?,
        user_hash: user_hash(euid, &machine_id().map_err(io("reading the machine id"))?),
        boot_id: boot_id().map_err(io("reading the boot id"))?,
        owned_bind: config.owned_bind,
        control_pipe: std::path::absolute(&config.socket)
            .map_err(io("making the control socket path absolute"))?,
    };
    let events = Arc::new(EventSink::new(log, config.instance.clone()));
    let metrics = Arc::new(Metrics::default());
    let launcher = Launcher::new(launcher_config, Arc::clone(&events), Arc::clone(&metrics));
    let http = start_http(&config, &launcher);
    let rooms = Rooms {
        policy: HelloPolicy {
            euid,
            auth: config.auth.clone(),
            door: Door::Launching,
        },
        loader: ServiceDefinitionLoader::new(config.service_def_dir.clone()),
        launcher,
        fd_pressure: FdPressure::new(Arc::clone(&events)),
        events,
        metrics,
        lifecycle: Lifecycle::new(),
        http: std::sync::Mutex::new(http),
        config,
    };
    Ok((listener, Arc::new(rooms)))
}
