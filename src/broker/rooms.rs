//! The broker's rooms, assembled once at startup. Each room holds only its
//! own state and takes narrow handles to the others it needs (the launcher
//! the event sink and metrics, fd pressure the event sink); this struct
//! just keeps them together for the shells — the accept threads, the
//! connection loop and the serve loop.

use std::sync::{Arc, Mutex, PoisonError};

use super::admin::AdminSources;
use super::config::BrokerConfig;
use super::event_sink::EventSink;
use super::fd_pressure::FdPressure;
use super::hello::HelloPolicy;
use super::launcher::Launcher;
use super::lifecycle::Lifecycle;
use super::metrics::Metrics;
use crate::definitions::ServiceDefinitionLoader;
use crate::http::HttpSurface;

/// One broker's rooms.
pub(crate) struct Rooms {
    /// Resolved configuration.
    pub(crate) config: BrokerConfig,
    /// What the Hello machine needs of the configuration (SEC-1, HEL-12).
    pub(crate) policy: HelloPolicy,
    /// Service definitions, re-read on every Hello (SVC-2).
    pub(crate) loader: ServiceDefinitionLoader,
    /// Backends: registry, launches, probes, reaping.
    pub(crate) launcher: Arc<Launcher>,
    /// The lifecycle event log (EVT-2).
    pub(crate) events: Arc<EventSink>,
    /// Counters and histograms (ADM-6).
    pub(crate) metrics: Arc<Metrics>,
    /// Connection counts, ids, drain.
    pub(crate) lifecycle: Arc<Lifecycle>,
    /// ENV-3 demotion.
    pub(crate) fd_pressure: FdPressure,
    /// The HTTP surface, while one is served (V2W).
    pub(crate) http: Mutex<Option<HttpSurface>>,
}

impl Rooms {
    /// The HTTP surface's bound port, 0 while none is served (V2R-4, V2W-5).
    pub(crate) fn http_port(&self) -> u16 {
        self.http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, |surface| surface.local_addr().port())
    }

    /// Takes the HTTP surface out, to stop it (ADM-7, V2W-6).
    pub(crate) fn take_http(&self) -> Option<HttpSurface> {
        self.http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// What an admin snapshot reads.
    pub(crate) fn admin_sources(&self) -> AdminSources<'_> {
        AdminSources {
            config: &self.config,
            registry: self.launcher.registry(),
            lifecycle: &self.lifecycle,
            fd_pressure: &self.fd_pressure,
            events: &self.events,
            metrics: &self.metrics,
        }
    }
}
