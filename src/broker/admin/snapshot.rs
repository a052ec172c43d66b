//! What admin verbs report (ADM-3…ADM-6, ADM-10): a snapshot of the
//! broker's figures, captured at one instant from the rooms that keep them.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::broker::config::BrokerConfig;
use crate::broker::event_sink::EventSink;
use crate::broker::fd_pressure::FdPressure;
use crate::broker::launcher::{LiveBackend, Registry, SlotState};
use crate::broker::lifecycle::Lifecycle;
use crate::broker::metrics::{Gauges, Metrics};
use crate::proto::v1::LifecycleEvent;
use crate::sys::{fd_usage, unix_now_ms};

/// Recent events kept for admin replies.
const RECENT_EVENTS: usize = 64;

/// One backend as admin replies show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendView {
    /// Instance id.
    pub(crate) instance: String,
    /// Service name.
    pub(crate) service: String,
    /// Service version.
    pub(crate) version: String,
    /// BLAKE3 of its executable.
    pub(crate) exe_hash: [u8; 32],
    /// `live`, `launching` or `superseded`.
    pub(crate) state: &'static str,
    /// Its pid, once launched.
    pub(crate) pid: Option<u32>,
    /// Where clients connect.
    pub(crate) backend_pipe: Option<String>,
    /// Where handoffs go.
    pub(crate) handoff_pipe: Option<String>,
    /// When it was launched.
    pub(crate) started_at_unix_ms: Option<u64>,
    /// Whether its process is still there.
    pub(crate) alive: bool,
}

/// One key's launch budget (REG-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BudgetView {
    /// Instance id.
    pub(crate) instance: String,
    /// Service name.
    pub(crate) service: String,
    /// Service version.
    pub(crate) version: String,
    /// Attempts left in the window.
    pub(crate) remaining: u32,
    /// Until an attempt frees up, when none is left.
    pub(crate) retry_after_ms: Option<u64>,
}

/// The event log as admin replies show it (EVT-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventLogView {
    /// The log file, if one is configured.
    pub(crate) path: Option<String>,
    /// Records appended by this broker.
    pub(crate) records: u64,
    /// BLAKE3 chain head.
    pub(crate) head: Option<[u8; 32]>,
}

/// Everything admin verbs report, captured at one instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdminSnapshot {
    /// When the snapshot was taken.
    pub(crate) generated_at_unix_ms: u64,
    /// The broker's instance id.
    pub(crate) broker_instance: String,
    /// The broker's pid.
    pub(crate) broker_pid: u32,
    /// The broker's socket.
    pub(crate) socket: String,
    /// Time since start.
    pub(crate) uptime: Duration,
    /// Draining after SHUTDOWN.
    pub(crate) draining: bool,
    /// In fd-pressure demotion.
    pub(crate) fd_pressure: bool,
    /// Connections accepted and not yet closed.
    pub(crate) connections_open: u64,
    /// Connections accepted since start.
    pub(crate) connections_total: u64,
    /// Open descriptors and their limit.
    pub(crate) fd_open: u64,
    /// RLIMIT_NOFILE.
    pub(crate) fd_limit: u64,
    /// Backends.
    pub(crate) backends: Vec<BackendView>,
    /// Launch budgets.
    pub(crate) budgets: Vec<BudgetView>,
    /// The event log.
    pub(crate) event_log: EventLogView,
    /// The most recent lifecycle events, oldest first.
    pub(crate) recent_events: Vec<LifecycleEvent>,
    /// Effective configuration, never secrets.
    pub(crate) config: Value,
    /// OpenMetrics text (ADM-6).
    pub(crate) metrics: String,
}

impl AdminSnapshot {
    /// Whether a Hello would be served now (ADM-3, ADM-4).
    pub(crate) fn accepting_hello(&self) -> bool {
        !self.draining && !self.fd_pressure
    }
}

/// The rooms a snapshot reads.
pub(crate) struct AdminSources<'a> {
    /// Effective configuration.
    pub(crate) config: &'a BrokerConfig,
    /// Backends and budgets.
    pub(crate) registry: &'a Registry,
    /// Connections, drain.
    pub(crate) lifecycle: &'a Lifecycle,
    /// ENV-3 demotion.
    pub(crate) fd_pressure: &'a FdPressure,
    /// The event log.
    pub(crate) events: &'a EventSink,
    /// Counters.
    pub(crate) metrics: &'a Metrics,
}

impl AdminSnapshot {
    /// Everything admin verbs report, now (ADM-10: real figures).
    pub(crate) fn capture(sources: &AdminSources<'_>) -> Self {
        let AdminSources {
            config,
            registry,
            lifecycle,
            fd_pressure,
            events,
            metrics,
        } = sources;
        let now = Instant::now();
        let registry = registry.snapshot(now);
        let mut backends = Vec::new();
        let mut gauges = Gauges::default();
        let view = |state: &'static str, b: &LiveBackend| BackendView {
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
            .map(|(key, budget)| {
                gauges
                    .spawn_budget_remaining
                    .insert((key.service.clone(), key.version.clone()), budget.remaining);
                BudgetView {
                    instance: key.instance.clone(),
                    service: key.service.clone(),
                    version: key.version.clone(),
                    remaining: budget.remaining,
                    retry_after_ms: budget.retry_after.map(|d| d.as_millis() as u64),
                }
            })
            .collect();
        let fd = fd_usage().ok();
        gauges.connections_open = lifecycle.connections_open();
        gauges.fd_usage_ratio = fd.map_or(0.0, |f| f.ratio());
        gauges.uptime = lifecycle.uptime();
        Self {
            generated_at_unix_ms: unix_now_ms(),
            broker_instance: config.instance.clone(),
            broker_pid: std::process::id(),
            socket: config.socket.display().to_string(),
            uptime: lifecycle.uptime(),
            draining: lifecycle.is_draining(),
            fd_pressure: fd_pressure.is_demoted(),
            connections_open: lifecycle.connections_open(),
            connections_total: lifecycle.connections_total(),
            fd_open: fd.map_or(0, |f| f.open),
            fd_limit: fd.map_or(0, |f| f.limit),
            backends,
            budgets,
            event_log: EventLogView {
                path: events.log().path().map(|p: &Path| p.display().to_string()),
                records: events.log().records_written(),
                head: events.log().head_hash(),
            },
            recent_events: events.log().recent(RECENT_EVENTS),
            config: config_json(config),
            metrics: metrics.render(&gauges),
        }
    }
}

/// The effective configuration as JSON; auth tokens only as a count.
fn config_json(c: &BrokerConfig) -> Value {
    json!({
            "socket": c.socket.display().to_string(),
            "service_def_dir": c.service_def_dir.display().to_string(),
            "max_connections": c.max_connections,
            "accept_threads": c.accept_threads,
            "hello_timeout_ms": c.hello_timeout.as_millis() as u64,
            "event_log": c.event_log.as_ref().map(|p| p.display().to_string()),
            "auth_tokens_configured": c.auth.count(),
            "allow_privileged": c.allow_privileged,
            "owned_bind": c.owned_bind,
            "broker_instance": c.instance,
            "backends_outlive_broker": c.backends_outlive_broker,
    })
}
