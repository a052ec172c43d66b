//! The serve loop: accept until SHUTDOWN, then drain (ADM-7). Connections
//! are accepted on threads of their own (`acceptor`) and each is served by
//! `connection`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use std::os::unix::net::UnixListener;

use tokio::runtime::Handle;

use super::acceptor::Acceptor;
use super::config::BrokerConfig;
use super::launcher::remove_socket_file;
use super::lifecycle::Lifecycle;
use super::rooms::Rooms;
use super::startup::{BrokerError, bind};

/// A broker bound to its socket (SEC-2, SEC-4, SEC-6 checked), not yet
/// serving: whoever runs it can install signal handlers first.
pub struct BoundBroker {
    listener: UnixListener,
    rooms: Arc<Rooms>,
}

impl BoundBroker {
    /// Binds the socket (and the HTTP surface when configured) and
    /// assembles the broker. Call it inside a tokio runtime.
    pub fn bind(config: BrokerConfig) -> Result<Self, BrokerError> {
        let (listener, rooms) = bind(config)?;
        Ok(Self { listener, rooms })
    }

    /// A handle that starts SHUTDOWN's drain from elsewhere (a signal).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.rooms.lifecycle))
    }

    /// Serves until SHUTDOWN, then drains (ADM-7).
    pub async fn serve(self) -> Result<(), BrokerError> {
        serve(self.rooms, self.listener)
            .await
            .map_err(|source| BrokerError::Io {
                what: "serving",
                source,
            })
    }
}

/// Starts a broker's drain as SHUTDOWN does (ADM-7).
#[derive(Clone)]
pub struct ShutdownHandle(Arc<Lifecycle>);

impl ShutdownHandle {
    /// Stops accepting and drains within `drain_deadline`.
    pub fn shut_down(&self, drain_deadline: Duration) {
        self.0.begin_shutdown(drain_deadline);
    }
}

/// Serves `listener` until SHUTDOWN, then drains (ADM-7): stops accepting,
/// removes the socket, lets open connections and launches finish within
/// the drain deadline, and stops backends unless they outlive the broker.
pub(crate) async fn serve(rooms: Arc<Rooms>, listener: UnixListener) -> io::Result<()> {
    let acceptor = Acceptor::start(Arc::clone(&rooms), listener, Handle::current())?;
    let mut shutdown = rooms.lifecycle.shutdown_requested();
    let drain_deadline = shutdown
        .wait_for(Option::is_some)
        .await
        .map(|d| d.unwrap_or_default())
        .unwrap_or_default();
    acceptor.stop().await;
    if let Some(http) = rooms.take_http() {
        http.stop().await;
    }
    remove_socket_file(&rooms.config.socket);
    tracing::info!(
        drain_ms = drain_deadline.as_millis() as u64,
        "stopped accepting; draining"
    );
    drain(&rooms, drain_deadline).await;
    Ok(())
}

/// ADM-7: wait for open connections (and the launches they drive) up to
/// the deadline, then stop backends unless they outlive the broker.
async fn drain(rooms: &Rooms, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    if !rooms.lifecycle.connections_drained(until).await {
        tracing::warn!(
            open = rooms.lifecycle.connections_open(),
            "drain deadline reached; abandoning connections"
        );
    }
    if !rooms.config.backends_outlive_broker {
        rooms.launcher.stop_backends(deadline).await;
    }
}
