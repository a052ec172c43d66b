//! ENV-3's fd-pressure demotion, in one place: the broker enters it when
//! `accept` fails with EMFILE/ENFILE, spends a reserve descriptor to answer
//! one waiting connection with FD_PRESSURE, and leaves it once the reserve
//! is back and [`FD_HEADROOM`] more descriptors can be opened.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::event_sink::EventSink;
use crate::events::{BrokerEvent, fd_pressure_reason};

/// Spare descriptors that must open for demotion to end.
const FD_HEADROOM: usize = 16;

/// The demotion flag and its reserve descriptor.
pub(crate) struct FdPressure {
    demoted: AtomicBool,
    reserve: Mutex<Option<File>>,
    events: Arc<EventSink>,
}

impl FdPressure {
    /// Not demoted, with a reserve descriptor open.
    pub(crate) fn new(events: Arc<EventSink>) -> Self {
        Self {
            demoted: AtomicBool::new(false),
            reserve: Mutex::new(File::open("/dev/null").ok()),
            events,
        }
    }

    /// True while demoted, as last decided.
    pub(crate) fn is_demoted(&self) -> bool {
        self.demoted.load(Ordering::Relaxed)
    }

    /// Whether the broker is demoted right now: when it is, leaving is tried
    /// first, since connections that closed meanwhile may have given
    /// descriptors back.
    pub(crate) fn demoted_now(&self) -> bool {
        if self.is_demoted() {
            self.try_leave();
        }
        self.is_demoted()
    }

    /// EMFILE: enters demotion and hands out the reserve descriptor, if it
    /// is still there, so one connection can be accepted and refused.
    pub(crate) fn enter(&self) -> Option<File> {
        self.set(true);
        self.reserve.lock().ok().and_then(|mut r| r.take())
    }

    /// Leaves demotion once the reserve is back and [`FD_HEADROOM`] more
    /// descriptors open.
    pub(crate) fn try_leave(&self) {
        let Ok(mut reserve) = self.reserve.lock() else {
            return;
        };
        if reserve.is_none() {
            *reserve = File::open("/dev/null").ok();
        }
        if reserve.is_none() {
            return;
        }
        let headroom: Vec<File> = (0..FD_HEADROOM)
            .filter_map(|_| File::open("/dev/null").ok())
            .collect();
        if headroom.len() == FD_HEADROOM {
            self.set(false);
        }
    }

    fn set(&self, demoted: bool) {
        if self.demoted.swap(demoted, Ordering::Relaxed) != demoted {
            tracing::warn!(demoted, "{}", fd_pressure_reason(demoted));
            self.events.emit(BrokerEvent::FdPressure { demoted });
        }
    }
}
