//! Where the broker's lifecycle events go (EVT-2): typed [`BrokerEvent`]s
//! in, appended to the event log stamped with this broker's instance.

use crate::events::{BrokerEvent, EventLog};

/// The event log, as the broker's rooms write to it.
pub(crate) struct EventSink {
    log: EventLog,
    instance: String,
}

impl EventSink {
    /// Events of broker `instance` into `log`.
    pub(crate) fn new(log: EventLog, instance: String) -> Self {
        Self { log, instance }
    }

    /// Appends one event; a failure to append is logged, never fatal.
    pub(crate) fn emit(&self, event: BrokerEvent) {
        if let Err(e) = self.log.append(event.into_lifecycle(&self.instance)) {
            tracing::error!(error = %e, "cannot append to the lifecycle event log");
        }
    }

    /// The log itself, for admin views (EVT-3).
    pub(crate) fn log(&self) -> &EventLog {
        &self.log
    }
}
