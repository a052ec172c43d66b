//! A reference broker inside a test, the way Go's `httptest` stands up a
//! server: a private socket in a short temporary directory, its own
//! runtime, and cleanup when dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use super::auth::AuthTokens;
use super::config::{BrokerConfig, DEFAULT_MAX_CONNECTIONS, LogLevel};
use super::rooms::Rooms;
use super::server;
use super::startup::{BrokerError, bind};
use crate::http::BindPlan;
use crate::wire::DEFAULT_HELLO_TIMEOUT;

/// Options of an [`EmbeddedBroker`].
#[derive(Debug, Clone)]
pub struct EmbeddedBrokerBuilder {
    service_def_dir: Option<PathBuf>,
    event_log: bool,
    hello_timeout: Duration,
    auth_tokens: Vec<Vec<u8>>,
    owned_bind: bool,
    backends_outlive: bool,
    max_connections: usize,
    http: Option<BindPlan>,
}

impl Default for EmbeddedBrokerBuilder {
    fn default() -> Self {
        Self {
            service_def_dir: None,
            event_log: true,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            auth_tokens: Vec::new(),
            owned_bind: true,
            backends_outlive: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            http: None,
        }
    }
}

impl EmbeddedBrokerBuilder {
    /// Read service definitions from `dir` instead of a fresh private one.
    pub fn service_def_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.service_def_dir = Some(dir.into());
        self
    }

    /// Write the lifecycle event log to a file in the broker's directory (default on).
    pub fn event_log(mut self, on: bool) -> Self {
        self.event_log = on;
        self
    }

    /// The Hello deadline (FRM-9).
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = timeout;
        self
    }

    /// Require this auth token (HEL-12); may be called several times.
    pub fn auth_token(mut self, token: impl AsRef<[u8]>) -> Self {
        self.auth_tokens.push(token.as_ref().to_vec());
        self
    }

    /// Broker-owned bind (LCH-3), on by default.
    pub fn owned_bind(mut self, on: bool) -> Self {
        self.owned_bind = on;
        self
    }

    /// Leave launched backends running after the broker stops (default off:
    /// a test leaves no process behind).
    pub fn backends_outlive_broker(mut self, on: bool) -> Self {
        self.backends_outlive = on;
        self
    }

    /// The connection cap.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Serve the HTTP surface (V2W) per `plan`, e.g.
    /// `BindPlan::resolve(HttpPortSpec::Dynamic, &env)`; off by default.
    pub fn http(mut self, plan: BindPlan) -> Self {
        self.http = Some(plan);
        self
    }

    /// Binds and starts serving; returns once the socket accepts.
    pub fn start(self) -> Result<EmbeddedBroker, BrokerError> {
        let io = |what| move |source| BrokerError::Io { what, source };
        // Short, so socket paths stay far below the 108-byte limit.
        let dir = tempfile::Builder::new()
            .prefix("rpb.")
            .tempdir_in("/tmp")
            .map_err(io("creating the broker directory"))?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
            .map_err(io("chmod the broker directory"))?;
        let service_def_dir = match self.service_def_dir {
            Some(d) => d,
            None => {
                let d = dir.path().join("services");
                fs::create_dir(&d).map_err(io("creating the service definition directory"))?;
                fs::set_permissions(&d, fs::Permissions::from_mode(0o700))
                    .map_err(io("chmod services"))?;
                d
            }
        };
        let config = BrokerConfig {
            socket: dir.path().join("broker.sock"),
            service_def_dir: service_def_dir.clone(),
            max_connections: self.max_connections,
            accept_threads: super::config::DEFAULT_ACCEPT_THREADS,
            hello_timeout: self.hello_timeout,
            event_log: self.event_log.then(|| dir.path().join("events.log")),
            auth: AuthTokens::new(&self.auth_tokens),
            // A test fixture in a private temporary directory: SEC-4 guards
            // long-lived per-user brokers, not this.
            allow_privileged: true,
            owned_bind: self.owned_bind,
            instance: "shared".into(),
            log_level: LogLevel::Warn,
            backends_outlive_broker: self.backends_outlive,
            http: self.http,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embedded-broker")
            .enable_all()
            .build()
            .map_err(io("starting the broker runtime"))?;
        let (listener, rooms) = {
            let _enter = runtime.enter();
            bind(config)?
        };
        let task = runtime.spawn(server::serve(Arc::clone(&rooms), listener));
        Ok(EmbeddedBroker {
            endpoint: rooms.config.socket.clone(),
            service_def_dir,
            rooms,
            task: Some(task),
            runtime: Some(runtime),
            _dir: dir,
        })
    }
}

/// A running reference broker owned by a test.
///
/// ```no_run
/// let broker = broker_conformance::broker::EmbeddedBroker::start()?;
/// println!("broker at {}", broker.endpoint().display());
/// # Ok::<(), broker_conformance::broker::BrokerError>(())
/// ```
pub struct EmbeddedBroker {
    endpoint: PathBuf,
    service_def_dir: PathBuf,
    rooms: Arc<Rooms>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: TempDir,
}

impl EmbeddedBroker {
    /// Starts a broker with default options.
    pub fn start() -> Result<Self, BrokerError> {
        Self::builder().start()
    }

    /// Options.
    pub fn builder() -> EmbeddedBrokerBuilder {
        EmbeddedBrokerBuilder::default()
    }

    /// The broker socket.
    pub fn endpoint(&self) -> &Path {
        &self.endpoint
    }

    /// Where it reads service definitions.
    pub fn service_def_dir(&self) -> &Path {
        &self.service_def_dir
    }

    /// The HTTP surface's port (V2W), when one is served.
    pub fn http_port(&self) -> Option<u16> {
        Some(self.rooms.http_port()).filter(|port| *port != 0)
    }

    /// Its lifecycle event log file, when enabled.
    pub fn event_log(&self) -> Option<&Path> {
        self.rooms.config.event_log.as_deref()
    }

    /// Waits until the broker has reaped backend `pid` (it exited and its
    /// death was processed), at most `timeout`. Returns whether it happened.
    pub fn wait_backend_gone(&self, pid: u32, timeout: Duration) -> bool {
        let Some(runtime) = &self.runtime else {
            return !crate::sys::process_exists(pid);
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if !crate::sys::process_exists(pid) {
                return true;
            }
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            if remaining.is_zero() {
                return false;
            }
            // Re-check at least every 50 ms: a reap that lands between the
            // check and the wait would otherwise be missed.
            let slice = remaining.min(Duration::from_millis(50));
            let launcher = &self.rooms.launcher;
            let _ = runtime
                .block_on(async { tokio::time::timeout(slice, launcher.backend_reaped()).await });
        }
    }

    /// Stops accepting, drains (as SHUTDOWN does with `drain`) and waits.
    pub fn shutdown_with(mut self, drain: Duration) -> Result<(), BrokerError> {
        self.stop(drain)
    }

    /// Stops with the default drain bound.
    pub fn shutdown(self) -> Result<(), BrokerError> {
        self.shutdown_with(crate::wire::DEFAULT_DRAIN_DEADLINE)
    }

    fn stop(&mut self, drain: Duration) -> Result<(), BrokerError> {
        let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) else {
            return Ok(());
        };
        self.rooms.lifecycle.begin_shutdown(drain);
        let result = runtime.block_on(task);
        runtime.shutdown_timeout(Duration::from_secs(1));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(BrokerError::Io {
                what: "serving",
                source,
            }),
            Err(e) => Err(BrokerError::Io {
                what: "joining the broker",
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_millis(500));
    }
}
