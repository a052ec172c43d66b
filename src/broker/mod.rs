//! The reference broker: every broker-side MUST and REF clause of the spec.
//!
//! A Hello's path: [`server`] reads one frame under the deadline →
//! [`decide`] routes and checks it (with `wire`) → the service definition
//! loader and [`decide::check_version_policy`] → [`backends`] finds or
//! launches the backend ([`registry`], [`launch`], [`probe`]) → a `wire`
//! constructor builds the reply → socket.
//!
//! Run it with `broker-conformance serve`, or embed it in a test with
//! [`EmbeddedBroker`].

mod acceptor;
pub mod admin;
pub mod backends;
pub mod config;
pub mod conn;
pub mod decide;
mod embedded;
pub mod handoff;
pub mod launch;
pub mod metrics;
pub mod probe;
pub mod registry;
pub mod security;
pub mod server;
pub mod state;

use std::os::unix::net::UnixListener;
use std::sync::Arc;

pub use config::{BrokerConfig, ConfigOverrides, LogLevel, resolve_config};
pub use embedded::{EmbeddedBroker, EmbeddedBrokerBuilder};
pub use security::SecurityError;
pub use state::BrokerState;

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

/// Binds the broker socket and assembles the state, checking SEC-2, SEC-4
/// and SEC-6. The broker serves once [`server::serve`] runs.
pub fn bind(config: BrokerConfig) -> Result<(UnixListener, Arc<BrokerState>), BrokerError> {
    let euid = euid();
    security::check_privilege(euid, config.allow_privileged)?;
    let listener = security::bind_broker_socket(&config.socket, euid)?;
    if let Err(e) = raise_fd_limit() {
        tracing::warn!(error = %e, "cannot raise the descriptor limit");
    }
    let events = match &config.event_log {
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
    let hash = user_hash(euid, &machine_id().map_err(io("reading the machine id"))?);
    let boot = boot_id().map_err(io("reading the boot id"))?;
    let state = BrokerState::new(config, events, hash, boot, euid);
    Ok((listener, state))
}

/// Binds and serves until SHUTDOWN (or [`BrokerState::begin_shutdown`]).
pub async fn run(config: BrokerConfig) -> Result<(), BrokerError> {
    let (listener, state) = bind(config)?;
    server::serve(state, listener)
        .await
        .map_err(|source| BrokerError::Io {
            what: "serving",
            source,
        })
}
