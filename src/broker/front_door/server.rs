//! Serving a front door (v2 spec §2): the accept loop with its cap
//! (V2L-6, V2L-7, V2L-8), `--once` (V2L-5), and the clean end on a signal
//! (V2L-3, V2L-9). Each connection is driven by `connection`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use super::connection::serve_connection;
use super::startup::{BoundFrontDoor, FrontDoorError, Shared};
use crate::broker::connection::Connection;
use crate::broker::launcher::remove_socket_file;

/// How long in-flight connections may finish after a signal (V2L-3).
pub const FRONT_DOOR_DRAIN: Duration = Duration::from_secs(5);

/// The longest pause after an accept failure when no connection closes (V2L-8).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Loop mode, or `--once` before its connection, ended by `stop` (exit 0).
    Stopped,
    /// `--once` served its connection: negotiated or not (exit 0 or 1, V2L-5).
    Once {
        /// The Hello was negotiated.
        negotiated: bool,
    },
}

impl BoundFrontDoor {
    /// Serves until `stop` resolves (loop mode) or one connection is done
    /// (`--once`); then stops accepting, lets in-flight connections finish
    /// within [`FRONT_DOOR_DRAIN`] and removes the socket and `.http_port`.
    pub async fn serve(self, stop: impl Future<Output = ()>) -> Result<Served, FrontDoorError> {
        let io = |what| move |source| FrontDoorError::Io { what, source };
        self.listener
            .set_nonblocking(true)
            .map_err(io("preparing the listener"))?;
        let listener =
            UnixListener::from_std(self.listener).map_err(io("registering the listener"))?;
        let shared = self.shared;
        let http = self.http;
        let served = if self.once {
            tokio::select! {
                negotiated = serve_once(&shared, &listener) => Served::Once { negotiated },
                () = stop => Served::Stopped,
            }
        } else {
            accept_until(&shared, &listener, stop).await;
            Served::Stopped
        };
        drop(listener);
        remove_socket_file(&shared.paths.socket);
        if let Some(http) = http {
            http.stop().await;
        }
        let until = tokio::time::Instant::now() + FRONT_DOOR_DRAIN;
        if !shared.lifecycle.connections_drained(until).await {
            tracing::warn!("drain deadline reached; abandoning connections (V2L-3)");
        }
        Ok(served)
    }
}

/// V2L-5: one connection, handled as loop mode would.
async fn serve_once(shared: &Shared, listener: &UnixListener) -> bool {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match stream.into_std() {
                Ok(stream) => return serve_connection(shared, Connection::new(stream)).await,
                Err(e) => tracing::warn!(error = %e, "cannot take the connection"),
            },
            Err(e) => after_accept_failure(shared, &e).await,
        }
    }
}

/// V2L-6, V2L-7: every connection on a task of its own, at most
/// `max_inflight` at once; one beyond the cap is closed unanswered.
async fn accept_until(
    shared: &Arc<Shared>,
    listener: &UnixListener,
    stop: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(shared.max_inflight));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                after_accept_failure(shared, &e).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!("over the in-flight cap: closed without a reply (V2L-7)");
            continue;
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the connection");
                continue;
            }
        };
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            serve_connection(&shared, Connection::new(stream)).await;
            drop(permit);
        });
    }
}

/// V2L-8: an accept failure (EMFILE, ENFILE, ECONNABORTED…) is not fatal;
/// wait for a connection to give a descriptor back, or a moment.
async fn after_accept_failure(shared: &Shared, error: &std::io::Error) {
    tracing::warn!(error = %error, "accept failed; still serving (V2L-8)");
    let _ = tokio::time::timeout(ACCEPT_RETRY, shared.lifecycle.connection_closed()).await;
}
