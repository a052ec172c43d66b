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
use crate::http::{HttpSurface, StatusSource};
use crate::paths::launching_http_port_file;

/// A broker bound to its socket (SEC-2, SEC-4, SEC-6 checked), not yet
/// serving: whoever runs it can install signal handlers first.
pub struct BoundBroker {
    listener: UnixListener,
    rooms: Arc<Rooms>,
}

impl BoundBroker {
    /// Binds the socket and assembles the broker.
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
    let http = start_http(&rooms);
    let mut shutdown = rooms.lifecycle.shutdown_requested();
    let drain_deadline = shutdown
        .wait_for(Option::is_some)
        .await
        .map(|d| d.unwrap_or_default())
        .unwrap_or_default();
    acceptor.stop().await;
    if let Some(http) = http {
        rooms.set_http_port(0);
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

/// V2W-1…V2W-6, V2W-14: the HTTP surface when configured, with its
/// discovery file beside the control socket (bound already); a failed bind
/// is logged and the broker serves on without it (V2W-5).
fn start_http(rooms: &Rooms) -> Option<HttpSurface> {
    let plan = rooms.config.http.as_ref()?;
    let source: Arc<dyn StatusSource> = Arc::clone(rooms.launcher.endpoints()) as _;
    let discovery = launching_http_port_file(&rooms.config.socket);
    match HttpSurface::start(plan, source, Some(&discovery)) {
        Ok(surface) => {
            rooms.set_http_port(surface.local_addr().port());
            Some(surface)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no HTTP surface (V2W-5)");
            None
        }
    }
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
