//! [`HttpSurface`]: the thin hyper shell around [`route`]. Each connection
//! is its own task, so a slow or idle client never delays another
//! (V2W-12); headers must arrive within [`HEADER_READ_TIMEOUT`]; every
//! response says `Connection: close` and the connection closes after it
//! (V2W-7). At most [`MAX_HTTP_CONNECTIONS`] are served at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::bind::{BindPlan, bind_listener};
use super::discovery::{DiscoveryError, remove_discovery_file, write_discovery_file};
use super::render::{HttpReply, route};
use super::status::StatusSource;
use crate::sys::unix_now_ms;

/// How long a client may take to send its request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a connection may live, slow reader included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Connections served at once; past it, accepting waits for one to end,
/// so a flood of HTTP clients cannot take the broker's descriptors.
pub const MAX_HTTP_CONNECTIONS: usize = 512;

/// The surface could not start. Not fatal to a broker (V2W-5).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Binding the TCP listener failed.
    #[error("cannot bind the HTTP surface at {addr}: {source}")]
    Bind {
        /// What was tried.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The discovery file could not be written.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// What a surface answers: one reply per (method, path). The status
/// surface is one; a fake backend's own page is another.
pub trait Site: Send + Sync {
    /// The reply to `method` `path` (query string already stripped).
    fn answer(&self, method: &str, path: &str) -> HttpReply;
}

/// The broker's status surface: [`route`] over a [`StatusSource`], now.
struct StatusSite(Arc<dyn StatusSource>);

impl Site for StatusSite {
    fn answer(&self, method: &str, path: &str) -> HttpReply {
        route(method, path, self.0.entries(), unix_now_ms())
    }
}

/// A running HTTP surface: its listener task and its discovery file.
/// [`HttpSurface::stop`] ends it and removes the file; dropping it stops
/// accepting too but leaves the file (an unclean exit).
pub struct HttpSurface {
    addr: SocketAddr,
    discovery_file: Option<PathBuf>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpSurface {
    /// Binds per `plan` (V2W-2…V2W-4), writes the discovery file when one is
    /// given (V2W-6, V2W-13; call after the control socket is bound), and
    /// serves `source`'s listing on the current tokio runtime.
    pub fn start(
        plan: &BindPlan,
        source: Arc<dyn StatusSource>,
        discovery_file: Option<&Path>,
    ) -> Result<Self, HttpError> {
        Self::start_site(plan, Arc::new(StatusSite(source)), discovery_file)
    }

    /// [`HttpSurface::start`] for any [`Site`].
    pub fn start_site(
        plan: &BindPlan,
        site: Arc<dyn Site>,
        discovery_file: Option<&Path>,
    ) -> Result<Self, HttpError> {
        let bind_error = |source| HttpError::Bind {
            addr: plan.addr,
            source,
        };
        let listener = bind_listener(plan).map_err(bind_error)?;
        let listener = TcpListener::from_std(listener).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        if let Some(path) = discovery_file {
            write_discovery_file(path, addr)?;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, site, stopped));
        tracing::info!(%addr, "HTTP surface bound");
        Ok(Self {
            addr,
            discovery_file: discovery_file.map(Path::to_owned),
            stop,
            task,
        })
    }

    /// The address actually bound (after any fallback).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, removes the discovery file (V2W-6) and waits for
    /// the accept loop to end; connections in flight finish on their own.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(path) = &self.discovery_file {
            remove_discovery_file(path);
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for HttpSurface {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    site: Arc<dyn Site>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            _ = stopped.changed() => return,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            // Any change, or the sender dropped, means stop.
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: keep serving once descriptors free up.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let site = Arc::clone(&site);
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request| answer(Arc::clone(&site), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                Ok(Err(e)) => tracing::debug!(error = %e, "HTTP connection ended"),
                Err(_) => tracing::debug!("HTTP connection outlived its lifetime"),
                Ok(Ok(())) => {}
            }
        });
    }
}

/// One request through the site, framed per V2W-7.
async fn answer(
    site: Arc<dyn Site>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = site.answer(request.method().as_str(), request.uri().path());
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::NOT_FOUND);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}
