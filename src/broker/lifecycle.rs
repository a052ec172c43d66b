//! The broker's life as connections see it: connections counted in and out,
//! connection ids (NEG-5), and SHUTDOWN's drain (ADM-7, HEL-20).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

/// Connection counts, ids and the shutdown signal, shared by the accept
/// threads, the connections and the serve loop.
pub(crate) struct Lifecycle {
    started: Instant,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    next_connection_id: AtomicU64,
    draining: AtomicBool,
    connection_closed: Notify,
    shutdown: watch::Sender<Option<Duration>>,
}

impl Lifecycle {
    /// A broker that starts now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            next_connection_id: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            connection_closed: Notify::new(),
            shutdown: watch::channel(None).0,
        })
    }

    /// Time since start.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A fresh connection id (NEG-5: counts up from 1, never reused).
    pub(crate) fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a connection in; the guard counts it out when dropped.
    pub(crate) fn open_connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(Arc::clone(self))
    }

    /// Connections accepted and not closed.
    pub(crate) fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub(crate) fn connections_total(&self) -> u64 {
        self.connections_total.load(Ordering::Relaxed)
    }

    /// Resolves when a connection closes.
    pub(crate) async fn connection_closed(&self) {
        self.connection_closed.notified().await;
    }

    /// True after SHUTDOWN began (HEL-20).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining after SHUTDOWN (ADM-7); wakes whoever waits for it.
    pub(crate) fn begin_shutdown(&self, drain_deadline: Duration) {
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
    pub(crate) fn shutdown_requested(&self) -> watch::Receiver<Option<Duration>> {
        self.shutdown.subscribe()
    }

    /// ADM-7: waits for open connections (and what they drive) to close,
    /// up to `until`; false when the deadline came first.
    pub(crate) async fn connections_drained(&self, until: tokio::time::Instant) -> bool {
        while self.connections_open() > 0 {
            if tokio::time::timeout_at(until, self.connection_closed())
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// Counts one connection out when dropped, and wakes a drain waiting for it.
pub(crate) struct ConnectionGuard(Arc<Lifecycle>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
        self.0.connection_closed.notify_waiters();
    }
}
