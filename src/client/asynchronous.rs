//! The tokio flavour of [`connect`](super::connect()) and
//! [`admin`](super::admin()): the blocking client run on tokio's blocking
//! pool, so the routes, checks, timeouts and errors are the same code.
//!
//! A blocking `connect(2)` is what the client wants anyway: a non-blocking
//! connect fails with `EAGAIN` when the listener's backlog is full instead
//! of waiting its turn. Dropping one of these futures does not cancel the
//! blocking work, which still ends within its own bounds.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::net::UnixStream;

use super::error::ClientError;
use super::request::ConnectRequest;
use super::settings::ClientSettings;
use crate::proto::v1::{AdminReply, AdminRequest};

/// A tokio connection to a backend and how it got there.
pub type BackendConnection = super::BackendConnection<UnixStream>;

/// [`super::connect`] on tokio: disabled, seam, Hello-skip, Hello, handoff
/// adoption or reconnect (CLI-1…CLI-5, HOF-8).
pub async fn connect(
    request: &ConnectRequest,
    settings: &ClientSettings,
) -> Result<BackendConnection, ClientError> {
    let (request, settings) = (request.clone(), settings.clone());
    let connection = on_blocking_pool(move || super::connect(&request, &settings)).await?;
    connection.try_map_stream(|stream| {
        into_tokio(stream).map_err(|source| ClientError::Io {
            during: "handing the backend connection to tokio",
            source,
        })
    })
}

/// [`super::admin`] on tokio (ADM-1, CLI-6).
pub async fn admin(
    broker: &Path,
    request: &AdminRequest,
    timeout: Duration,
) -> Result<AdminReply, ClientError> {
    let (broker, request) = (broker.to_owned(), request.clone());
    on_blocking_pool(move || super::admin(&broker, &request, timeout)).await
}

async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| ClientError::Io {
            during: "running the blocking client on tokio's blocking pool",
            source: io::Error::other(join),
        })?
}

fn into_tokio(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
    stream.set_nonblocking(true)?;
    UnixStream::from_std(stream)
}
