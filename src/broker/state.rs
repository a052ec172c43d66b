//! What every connection of one broker shares: configuration, the service
//! definition loader, the registry, the event log, metrics and counters.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::{Notify, watch};

use super::admin::{AdminSnapshot, BackendView, BudgetView, EventLogView};
use super::backends::BinaryCache;
use super::config::BrokerConfig;
use super::launch::BaseEnvironment;
use super::metrics::{Gauges, Metrics};
use super::registry::{Registry, SlotState};
use crate::definitions::ServiceDefinitionLoader;
use crate::events::{EventLog, new_event};
use crate::proto::v1::EventKind;
use crate::sys::fd_usage;

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Recent events kept for admin replies.
pub const RECENT_EVENTS: usize = 64;

/// The shared state of one broker.
pub struct BrokerState {
    /// Resolved configuration.
    pub config: BrokerConfig,
    /// Service definitions, re-read on every Hello (SVC-2).
    pub loader: ServiceDefinitionLoader,
    /// Backends.
    pub registry: Arc<Registry>,
    /// Resolved and hashed service binaries, cached by file identity (LCH-1, REG-1).
    pub binaries: BinaryCache,
    /// The lifecycle event log (EVT-2).
    pub events: EventLog,
    /// Metrics (ADM-6).
    pub metrics: Metrics,
    /// The backend environment's fixed part (LCH-2).
    pub base_env: BaseEnvironment,
    /// One-time handoff tokens (HOF-7).
    pub handoff_tokens: super::handoff::HandoffTokens,
    /// The per-user hash used in backend socket names (§13).
    pub user_hash: String,
    /// This machine's boot id (PRB-3).
    pub boot_id: String,
    /// This broker's effective uid (SEC-1).
    pub euid: u32,
    started: Instant,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    next_connection_id: AtomicU64,
    draining: AtomicBool,
    fd_pressure: AtomicBool,
    /// A spare descriptor released to answer one connection under EMFILE.
    pub fd_reserve: Mutex<Option<File>>,
    connection_closed: Notify,
    reaped: Notify,
    shutdown: watch::Sender<Option<Duration>>,
    /// Pids the broker itself is stopping (their deaths are DIED_SHUTDOWN).
    pub stopping: Mutex<Vec<u32>>,
}

impl BrokerState {
    /// Assembles the state; `events` is opened by the caller.
    pub fn new(
        config: BrokerConfig,
        events: EventLog,
        user_hash: String,
        boot_id: String,
        euid: u32,
    ) -> Arc<Self> {
        let loader = ServiceDefinitionLoader::new(config.service_def_dir.clone());
        Arc::new(Self {
            loader,
            registry: Registry::new(),
            binaries: BinaryCache::default(),
            events,
            metrics: Metrics::default(),
            base_env: BaseEnvironment::from_this_process(),
            handoff_tokens: super::handoff::HandoffTokens::new(),
            user_hash,
            boot_id,
            euid,
            started: Instant::now(),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            next_connection_id: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            fd_pressure: AtomicBool::new(false),
            fd_reserve: Mutex::new(File::open("/dev/null").ok()),
            connection_closed: Notify::new(),
            reaped: Notify::new(),
            shutdown: watch::channel(None).0,
            stopping: Mutex::new(Vec::new()),
            config,
        })
    }

    /// A fresh connection id (NEG-5: counts up from 1, never reused).
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a connection in; the guard counts it out when dropped.
    pub fn open_connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(Arc::clone(self))
    }

    /// Connections accepted and not closed.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Waits until a connection closes.
    pub async fn connection_closed(&self) {
        self.connection_closed.notified().await;
    }

    /// Signals that a backend exit was processed.
    pub fn backend_reaped(&self) {
        self.reaped.notify_waiters();
    }

    /// Waits until a backend exit is processed.
    pub async fn wait_backend_reaped(&self) {
        self.reaped.notified().await;
    }

    /// True after SHUTDOWN began (HEL-20).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// True while in fd-pressure demotion (ENV-3).
    pub fn in_fd_pressure(&self) -> bool {
        self.fd_pressure.load(Ordering::Relaxed)
    }

    /// Enters or leaves fd-pressure demotion; records the change.
    pub fn set_fd_pressure(&self, on: bool) {
        if self.fd_pressure.swap(on, Ordering::Relaxed) != on {
            let reason = if on {
                "out of file descriptors: refusing Hellos with FD_PRESSURE"
            } else {
                "file descriptors available again: serving Hellos"
            };
            tracing::warn!(demoted = on, "{reason}");
            self.record(
                EventKind::ResourcePressure,
                "",
                reason,
                &[("fd_pressure", on.to_string())],
                0,
            );
        }
    }

    /// Starts draining after SHUTDOWN (ADM-7); wakes the accept loop.
    pub fn begin_shutdown(&self, drain_deadline: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        self.shutdown.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(drain_deadline);
                true
            } else {
                false
            }
        });
    }

    /// Resolves when shutdown begins, with its drain deadline.
    pub fn shutdown_requested(&self) -> watch::Receiver<Option<Duration>> {
        self.shutdown.subscribe()
    }

    /// Appends a lifecycle event (EVT-2) and logs a failure to append.
    pub fn record(
        &self,
        kind: EventKind,
        service: &str,
        reason: &str,
        extra: &[(&str, String)],
        connection_id: u64,
    ) {
        let mut event = new_event(kind, service, reason);
        event.connection_id = connection_id;
        event.broker_instance = self.config.instance.clone();
        for (k, v) in extra {
            event.extra.insert((*k).to_owned(), v.clone());
        }
        if let Err(e) = self.events.append(event) {
            tracing::error!(error = %e, "cannot append to the lifecycle event log");
        }
    }

    /// Everything admin verbs report, now (ADM-10: real figures).
    pub fn admin_snapshot(&self) -> AdminSnapshot {
        let now = Instant::now();
        let registry = self.registry.snapshot(now);
        let mut backends = Vec::new();
        let mut gauges = Gauges::default();
        let view = |state: &'static str, b: &super::registry::LiveBackend| BackendView {
            instance: b.key.instance.clone(),
            service: b.key.service.clone(),
            version: b.key.version.clone(),
            exe_hash: b.key.exe_hash,
            state,
            pid: Some(b.pid),
            backend_pipe: Some(b.backend_pipe.display().to_string()),
            handoff_pipe: b.handoff_pipe.as_ref().map(|p| p.display().to_string()),
            started_at_unix_ms: Some(b.started_at_unix_ms),
            alive: b.is_alive(),
        };
        for (key, slot) in &registry.slots {
            match slot {
                SlotState::Live(b) => {
                    *gauges
                        .active_backends
                        .entry(key.service.clone())
                        .or_default() += 1;
                    backends.push(view("live", b));
                }
                SlotState::Launching => backends.push(BackendView {
                    instance: key.instance.clone(),
                    service: key.service.clone(),
                    version: key.version.clone(),
                    exe_hash: key.exe_hash,
                    state: "launching",
                    pid: None,
                    backend_pipe: None,
                    handoff_pipe: None,
                    started_at_unix_ms: None,
                    alive: false,
                }),
            }
        }
        backends.extend(registry.superseded.iter().map(|b| view("superseded", b)));
        let budgets: Vec<BudgetView> = registry
            .budgets
            .iter()
            .map(|(key, (remaining, retry))| {
                gauges
                    .spawn_budget_remaining
                    .insert((key.service.clone(), key.version.clone()), *remaining);
                BudgetView {
                    instance: key.instance.clone(),
                    service: key.service.clone(),
                    version: key.version.clone(),
                    remaining: *remaining,
                    retry_after_ms: retry.map(|d| d.as_millis() as u64),
                }
            })
            .collect();
        let fd = fd_usage().ok();
        gauges.connections_open = self.connections_open();
        gauges.fd_usage_ratio = fd.map_or(0.0, |f| f.ratio());
        gauges.uptime = self.started.elapsed();
        AdminSnapshot {
            generated_at_unix_ms: unix_now_ms(),
            broker_instance: self.config.instance.clone(),
            broker_pid: std::process::id(),
            socket: self.config.socket.display().to_string(),
            uptime: self.started.elapsed(),
            draining: self.is_draining(),
            fd_pressure: self.in_fd_pressure(),
            connections_open: self.connections_open(),
            connections_total: self.connections_total.load(Ordering::Relaxed),
            fd_open: fd.map_or(0, |f| f.open),
            fd_limit: fd.map_or(0, |f| f.limit),
            backends,
            budgets,
            event_log: EventLogView {
                path: self.events.path().map(|p: &Path| p.display().to_string()),
                records: self.events.records_written(),
                head: self.events.head_hash(),
            },
            recent_events: self.events.recent(RECENT_EVENTS),
            config: self.config_json(),
            metrics: self.metrics.render(&gauges),
        }
    }

    /// The effective configuration as JSON; auth tokens only as a count.
    fn config_json(&self) -> serde_json::Value {
        let c = &self.config;
        json!({
            "socket": c.socket.display().to_string(),
            "service_def_dir": c.service_def_dir.display().to_string(),
            "max_connections": c.max_connections,
            "accept_threads": c.accept_threads,
            "hello_timeout_ms": c.hello_timeout.as_millis() as u64,
            "event_log": c.event_log.as_ref().map(|p| p.display().to_string()),
            "auth_tokens_configured": c.auth.len(),
            "allow_privileged": c.allow_privileged,
            "owned_bind": c.owned_bind,
            "broker_instance": c.instance,
            "backends_outlive_broker": c.backends_outlive_broker,
        })
    }
}

/// Counts one connection out when dropped, and wakes a drain waiting for it.
pub struct ConnectionGuard(Arc<BrokerState>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
        self.0.connection_closed.notify_waiters();
    }
}
