//! The launch room: everything between "a Hello needs the backend for key
//! K" and a live, verified backend (HEL-17…HEL-19, LCH, PRB, REG): binary
//! resolution and its hash cache, the registry's verdict, spawning, the
//! identity probe, and reaping. Failures are [`LaunchError`]s naming their
//! clause; the Hello machine turns them into the HEL-19 refusal.

mod binary;
mod endpoints;
mod error;
mod probe;
mod reap;
mod registry;
mod spawn;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use binary::BinaryCache;
pub(crate) use binary::ResolvedBinary;
pub(crate) use endpoints::HttpEndpoints;
use endpoints::SpawnedEndpoint;
pub use error::LaunchError;
use probe::{ExpectedIdentity, probe_backend};
pub(crate) use spawn::remove_socket_file;
pub(crate) use spawn::{BaseEnvironment, TraceContext};
use spawn::{LaunchRequest, SpawnedBackend, spawn_backend};

use super::event_sink::EventSink;
use super::metrics::{Metrics, OutcomeLabels};
use crate::events::BrokerEvent;
use crate::paths::backend_socket_name;
use crate::proto::v1::ServiceDefinition;
use crate::sys::{ProcessHandle, kill, process_start_time, random_bytes, terminate, unix_now_ms};
use crate::wire::IDENTITY_PROBE_TIMEOUT;
use registry::Acquire;
pub(crate) use registry::{BackendKey, LiveBackend, Registry, SlotState};

/// How long SIGKILLed backends get for their deaths to be recorded.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// What the Hello machine asks the launcher for: the backend of `key`,
/// launched from `binary` if none is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LaunchPlan {
    /// The backend key (§7, REG-1).
    pub(crate) key: BackendKey,
    /// The canonical binary (LCH-1).
    pub(crate) binary: PathBuf,
    /// The service opted in to handoff (LCH-6): allocate a handoff socket.
    pub(crate) handoff: bool,
    /// The Hello's trace context, passed to a launched backend.
    pub(crate) trace: TraceContext,
    /// The definition declares `http_server` (V2D): the backend gets the
    /// control pipe (V2R-7) and an entry in the endpoint registry (V2W-16).
    pub(crate) http_server: bool,
}

/// Why no backend is had for a plan.
#[derive(Debug, Clone)]
pub(crate) enum AcquireError {
    /// HEL-18: the key's launch budget is spent for this long.
    Exhausted {
        /// Until an attempt frees up.
        retry_after: Duration,
    },
    /// HEL-19: this launch, or the one this Hello waited for, failed.
    Failed(Arc<LaunchError>),
}

/// The facts a launcher needs from the broker's configuration.
#[derive(Debug, Clone)]
pub(crate) struct LauncherConfig {
    /// Where backend sockets are allocated (the broker socket's directory, §13).
    pub(crate) socket_dir: PathBuf,
    /// The per-user hash in backend socket names (§13).
    pub(crate) user_hash: String,
    /// This machine's boot id (PRB-3).
    pub(crate) boot_id: String,
    /// Bind backend sockets and pass them down (LCH-3).
    pub(crate) owned_bind: bool,
    /// The broker's control socket, absolute, for V2R-7.
    pub(crate) control_pipe: PathBuf,
}

/// Finds or launches backends; owns their processes until they are reaped.
pub(crate) struct Launcher {
    config: LauncherConfig,
    registry: Arc<Registry>,
    binaries: Arc<BinaryCache>,
    base_env: BaseEnvironment,
    events: Arc<EventSink>,
    metrics: Arc<Metrics>,
    /// Backends launched for definitions declaring `http_server` (V2W-16).
    endpoints: Arc<HttpEndpoints>,
    /// Pids the broker itself is stopping (their deaths are DIED_SHUTDOWN).
    stopping: Mutex<HashSet<u32>>,
    /// Deaths the reaper is recording: from the exit until the DIED event
    /// is out, so a shutdown never ends between the prune and the record.
    reaping: AtomicUsize,
    reaped: Notify,
}

impl Launcher {
    /// A launcher with an empty registry.
    pub(crate) fn new(
        config: LauncherConfig,
        events: Arc<EventSink>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            registry: Registry::new(),
            binaries: Arc::default(),
            base_env: BaseEnvironment::from_this_process(),
            events,
            metrics,
            endpoints: Arc::default(),
            stopping: Mutex::default(),
            reaping: AtomicUsize::new(0),
            reaped: Notify::new(),
        })
    }

    /// The registry, for admin snapshots.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The HTTP endpoint registry (V2W-15…V2W-17, V2R-5).
    pub(crate) fn endpoints(&self) -> &Arc<HttpEndpoints> {
        &self.endpoints
    }

    /// LCH-1 and REG-1 for `definition`'s binary: remembered while its file
    /// is unchanged (two `stat`s), else resolved and hashed off the event loop.
    pub(crate) async fn resolve_binary(
        &self,
        definition: &ServiceDefinition,
    ) -> Result<ResolvedBinary, LaunchError> {
        if let Some(binary) = self.binaries.lookup(definition) {
            return Ok(binary);
        }
        let path = PathBuf::from(&definition.binary_path);
        let definition = definition.clone();
        let cache = Arc::clone(&self.binaries);
        tokio::task::spawn_blocking(move || cache.resolve(&definition))
            .await
            .map_err(|e| LaunchError::Hash {
                path,
                source: std::io::Error::other(format!("resolving off the event loop: {e}")),
            })?
    }

    /// REG-1…REG-3 and HEL-17…HEL-19: the live backend for the plan's key,
    /// the outcome of the launch in flight for it, or a new launch.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        plan: &LaunchPlan,
        connection_id: u64,
    ) -> Result<Arc<LiveBackend>, AcquireError> {
        match self.registry.acquire(&plan.key, Instant::now()) {
            Acquire::Ready(backend) => Ok(backend),
            Acquire::Wait(waiter) => waiter.outcome().await.map_err(AcquireError::Failed),
            Acquire::Exhausted { retry_after } => Err(AcquireError::Exhausted { retry_after }),
            Acquire::Launch(ticket) => {
                let launched = self.launch(plan, connection_id).await;
                self.metrics.record_spawn(OutcomeLabels {
                    service: plan.key.service.clone(),
                    version: plan.key.version.clone(),
                    outcome: if launched.is_ok() {
                        "success"
                    } else {
                        "failure"
                    },
                });
                let (outcome, retired) = ticket.finish(launched, Instant::now());
                for old in retired {
                    self.events.emit(BrokerEvent::Superseded {
                        service: old.key.service.clone(),
                        version: old.key.version.clone(),
                        pid: old.pid,
                        connection_id,
                    });
                }
                outcome.map_err(AcquireError::Failed)
            }
        }
    }

    /// A fresh backend socket path next to the broker socket (§13).
    fn allocate_socket(&self) -> Result<PathBuf, LaunchError> {
        let random: [u8; 16] = random_bytes().map_err(|e| LaunchError::SocketName {
            detail: format!("no randomness: {e}"),
        })?;
        Ok(self
            .config
            .socket_dir
            .join(backend_socket_name(&self.config.user_hash, &random)))
    }

    /// LCH-1…LCH-4 then PRB-1…PRB-5; on success the reaper takes the child.
    async fn launch(
        self: &Arc<Self>,
        plan: &LaunchPlan,
        connection_id: u64,
    ) -> Result<LiveBackend, LaunchError> {
        let key = &plan.key;
        let backend_pipe = self.allocate_socket()?;
        let handoff_pipe = match plan.handoff {
            true => Some(self.allocate_socket()?),
            false => None,
        };
        let request = LaunchRequest {
            binary: plan.binary.clone(),
            service: key.service.clone(),
            version: key.version.clone(),
            instance: key.instance.clone(),
            backend_pipe: backend_pipe.clone(),
            handoff_pipe: handoff_pipe.clone(),
            owned_bind: self.config.owned_bind,
            trace: plan.trace.clone(),
            control_pipe: plan.http_server.then(|| self.config.control_pipe.clone()),
        };
        self.events.emit(BrokerEvent::SpawnAttempt {
            service: key.service.clone(),
            version: key.version.clone(),
            binary: plan.binary.clone(),
            connection_id,
        });
        let spawn = || spawn_backend(&request, &self.base_env);
        // V2R-5 counts a backend's reports from its spawn: it is recorded
        // under the same lock that BackendHttpReady takes, so no report can
        // arrive before its entry does.
        let spawned = match plan.http_server {
            true => self.endpoints.update(|book| {
                let spawned = spawn()?;
                book.spawned(SpawnedEndpoint {
                    instance: key.instance.clone(),
                    service: key.service.clone(),
                    version: key.version.clone(),
                    pid: spawned.pid,
                    started_at_unix_ms: unix_now_ms(),
                });
                Ok(spawned)
            }),
            false => spawn(),
        };
        let SpawnedBackend { mut child, pid } = spawned.inspect_err(|e| {
            self.events.emit(BrokerEvent::SpawnFailed {
                service: key.service.clone(),
                detail: e.to_string(),
                connection_id,
            });
        })?;
        let start_time = process_start_time(pid).unwrap_or(0);
        // Opened before anything can reap the child, so it names this process.
        let process = ProcessHandle::open(pid).ok();
        let expected = ExpectedIdentity {
            pid,
            exe_path: plan.binary.clone(),
            exe_hash: key.exe_hash,
            boot_id: self.config.boot_id.clone(),
            namespace_id: key.instance.clone(),
            endpoint_path: backend_pipe.clone(),
        };
        if let Err(error) = probe_backend(&backend_pipe, &expected, IDENTITY_PROBE_TIMEOUT).await {
            // PRB-4: a failed probe kills the child and fails the launch.
            let _ = kill(pid);
            let _ = child.wait().await;
            self.endpoints.update(|book| book.died(pid));
            remove_socket_file(&backend_pipe);
            if let Some(p) = &handoff_pipe {
                remove_socket_file(p);
            }
            self.events.emit(BrokerEvent::LaunchKilled {
                service: key.service.clone(),
                version: key.version.clone(),
                pid,
                detail: error.to_string(),
                connection_id,
            });
            return Err(error);
        }
        let backend = LiveBackend {
            key: key.clone(),
            pid,
            start_time,
            backend_pipe,
            handoff_pipe,
            started_at_unix_ms: unix_now_ms(),
            process,
        };
        self.endpoints.update(|book| book.launched(pid));
        self.events.emit(BrokerEvent::Spawned {
            service: key.service.clone(),
            version: key.version.clone(),
            pid,
            backend_pipe: backend.backend_pipe.clone(),
            connection_id,
        });
        tokio::spawn(reap::reap(
            Arc::clone(self),
            Arc::new(backend.clone()),
            child,
        ));
        Ok(backend)
    }

    /// ADM-7: stops every backend, routed or superseded (SIGTERM, then
    /// SIGKILL for what is still up after `deadline`, at least 500 ms), and
    /// waits for the reaper to record their deaths.
    pub(crate) async fn stop_backends(&self, deadline: Duration) {
        let backends = self.registry.live_backends();
        if let Ok(mut stopping) = self.stopping.lock() {
            stopping.extend(backends.iter().map(|b| b.pid));
        }
        for backend in &backends {
            let _ = terminate(backend.pid);
        }
        let until = tokio::time::Instant::now() + deadline.max(Duration::from_millis(500));
        if !self.wait_reaped(until).await {
            for backend in self.registry.live_backends() {
                let _ = kill(backend.pid);
            }
            self.wait_reaped(tokio::time::Instant::now() + KILL_GRACE)
                .await;
        }
    }

    /// Waits until no backend is left and every death has been recorded,
    /// or `until`; returns whether that happened.
    async fn wait_reaped(&self, until: tokio::time::Instant) -> bool {
        loop {
            // Registered before the check, so a reap between the check and
            // the wait still wakes it.
            let reaped = self.reaped.notified();
            tokio::pin!(reaped);
            reaped.as_mut().enable();
            if self.registry.live_backends().is_empty() && self.reaping.load(Ordering::SeqCst) == 0
            {
                return true;
            }
            if tokio::time::timeout_at(until, reaped).await.is_err() {
                return false;
            }
        }
    }

    /// Resolves once a backend's exit has been processed.
    pub(crate) async fn backend_reaped(&self) {
        self.reaped.notified().await;
    }

    fn is_stopping(&self, pid: u32) -> bool {
        self.stopping.lock().is_ok_and(|s| s.contains(&pid))
    }
}
