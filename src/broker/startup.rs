//! Starting a broker: the privilege check (SEC-4), the socket (SEC-2,
//! SEC-6), the event log, and its rooms assembled.

use std::os::unix::net::UnixListener;
use std::sync::Arc;

use super::config::BrokerConfig;
use super::event_sink::EventSink;
use super::fd_pressure::FdPressure;
use super::handoff::HandoffTokens;
use super::hello::{Door, HelloPolicy};
use super::launcher::{Launcher, LauncherConfig};
use super::lifecycle::Lifecycle;
use super::metrics::Metrics;
use super::rooms::Rooms;
use super::security::{self, SecurityError};
use crate::definitions::ServiceDefinitionLoader;
use crate::events::{EventLog, EventLogError};
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

/// Binds the broker socket and assembles the rooms, checking SEC-2, SEC-4
/// and SEC-6. The broker serves once `server::serve` runs.
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
    };
    let events = Arc::new(EventSink::new(log, config.instance.clone()));
    let metrics = Arc::new(Metrics::default());
    let rooms = Rooms {
        policy: HelloPolicy {
            euid,
            auth: config.auth.clone(),
            door: Door::Launching,
        },
        loader: ServiceDefinitionLoader::new(config.service_def_dir.clone()),
        launcher: Launcher::new(launcher_config, Arc::clone(&events), Arc::clone(&metrics)),
        fd_pressure: FdPressure::new(Arc::clone(&events)),
        events,
        metrics,
        lifecycle: Lifecycle::new(),
        tokens: HandoffTokens::new(),
        config,
    };
    Ok((listener, Arc::new(rooms)))
}
