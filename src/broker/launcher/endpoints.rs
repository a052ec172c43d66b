//! The launching broker's HTTP endpoint registry (V2W-15…V2W-17, V2R-5):
//! which backends launched from a definition declaring `http_server` exist,
//! their state and reported port. Pure bookkeeping over pids and times
//! passed in; the launcher's spawn, probe and reaper call its hooks.
//!
//! ```text
//!  spawned ──probe ok──▶ listed: starting ──BackendHttpReady──▶ ready
//!     │  └─report (V2R-5, counted from spawn)─┘        │
//!     └─probe failed / died: forgotten          died ──▶ gone ──same key launched──▶ replaced
//! ```

use std::sync::Mutex;

use crate::http::{BackendState, StatusEntry, StatusSource};

/// One tracked backend.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    /// What it was spawned for.
    spawned: SpawnedEndpoint,
    /// Its launch succeeded: the page lists it (V2W-16).
    listed: bool,
    /// The last accepted report (V2R-5).
    port: Option<u16>,
    /// The reaper saw it die.
    gone: bool,
}

impl Tracked {
    fn pid(&self) -> u32 {
        self.spawned.pid
    }

    fn same_slot(&self, other: &Self) -> bool {
        let (a, b) = (&self.spawned, &other.spawned);
        (&a.instance, &a.service, &a.version) == (&b.instance, &b.service, &b.version)
    }

    fn state(&self) -> BackendState {
        match (self.gone, self.port) {
            (true, _) => BackendState::Gone,
            (false, Some(port)) => BackendState::Ready { port },
            (false, None) => BackendState::Starting,
        }
    }
}

/// What a backend was spawned for: the (instance, service, version) of
/// V2W-17 and the spawn time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpawnedEndpoint {
    /// The instance id (§7.1).
    pub(crate) instance: String,
    /// The service.
    pub(crate) service: String,
    /// The version it was launched for.
    pub(crate) version: String,
    /// The child's pid.
    pub(crate) pid: u32,
    /// Spawn time, Unix milliseconds.
    pub(crate) started_at_unix_ms: u64,
}

/// The registry's state; every method is a pure transition.
#[derive(Debug, Default)]
pub(crate) struct EndpointBook {
    tracked: Vec<Tracked>,
}

impl EndpointBook {
    /// A backend was spawned for a definition declaring `http_server`: it
    /// may report from now on (V2R-5), but is listed only once its launch
    /// succeeds.
    pub(crate) fn spawned(&mut self, spawned: SpawnedEndpoint) {
        self.tracked.retain(|t| t.pid() != spawned.pid);
        self.tracked.push(Tracked {
            spawned,
            listed: false,
            port: None,
            gone: false,
        });
    }

    /// Its launch succeeded (probe passed): listed, replacing any `gone`
    /// entry of the same (instance, service, version) (V2W-16, V2W-17).
    pub(crate) fn launched(&mut self, pid: u32) {
        let Some(index) = self.tracked.iter().position(|t| t.pid() == pid && !t.gone) else {
            return;
        };
        self.tracked[index].listed = true;
        let new = self.tracked[index].clone();
        self.tracked.retain(|t| !(t.gone && t.same_slot(&new)));
    }

    /// V2R-5: a report from `pid` is accepted when `pid` is a live backend
    /// spawned for such a definition (the port range is the control-RPC
    /// parser's); the port replaces any earlier one. Returns whether it was
    /// accepted (V2R-6: a rejection changes nothing).
    pub(crate) fn report_ready(&mut self, pid: u32, port: u16) -> bool {
        match self.tracked.iter_mut().find(|t| t.pid() == pid && !t.gone) {
            Some(tracked) => {
                tracked.port = Some(port);
                true
            }
            None => false,
        }
    }

    /// The reaper saw `pid` exit: a listed entry turns `gone` and stays
    /// (V2W-17); an unlisted one (its launch failed) is forgotten.
    pub(crate) fn died(&mut self, pid: u32) {
        self.tracked.retain(|t| t.pid() != pid || t.listed);
        for tracked in self.tracked.iter_mut().filter(|t| t.pid() == pid) {
            tracked.gone = true;
        }
    }

    /// The page's entries: every listed backend.
    pub(crate) fn entries(&self) -> Vec<StatusEntry> {
        self.tracked
            .iter()
            .filter(|t| t.listed)
            .map(|t| StatusEntry {
                service: t.spawned.service.clone(),
                version: t.spawned.version.clone(),
                instance: t.spawned.instance.clone(),
                pid: Some(t.pid()),
                state: t.state(),
                started_at_unix_ms: t.spawned.started_at_unix_ms,
            })
            .collect()
    }
}

/// The book shared by the launcher, the control-RPC path and the HTTP
/// surface.
#[derive(Debug, Default)]
pub(crate) struct HttpEndpoints(Mutex<EndpointBook>);

impl HttpEndpoints {
    /// Applies one transition (a poisoned lock is recovered: the book holds
    /// no invariant a panic could break halfway).
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut EndpointBook) -> R) -> R {
        let mut book = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut book)
    }
}

impl StatusSource for HttpEndpoints {
    fn entries(&self) -> Vec<StatusEntry> {
        self.update(|book| book.entries())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned(pid: u32, version: &str, at: u64) -> SpawnedEndpoint {
        SpawnedEndpoint {
            instance: "private:web".into(),
            service: "web".into(),
            version: version.into(),
            pid,
            started_at_unix_ms: at,
        }
    }

    fn states(book: &EndpointBook) -> Vec<(u32, BackendState)> {
        book.entries()
            .into_iter()
            .map(|e| (e.pid.unwrap_or(0), e.state))
            .collect()
    }

    #[test]
    fn listed_only_once_the_launch_succeeded() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 5));
        assert!(book.entries().is_empty());
        book.launched(10);
        let entries = book.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].state, BackendState::Starting);
        assert_eq!(entries[0].started_at_unix_ms, 5);
        assert_eq!(entries[0].instance, "private:web");
    }

    #[test]
    fn a_report_during_the_probe_counts() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 0));
        assert!(book.report_ready(10, 8080));
        book.launched(10);
        assert_eq!(states(&book), [(10, BackendState::Ready { port: 8080 })]);
    }

    #[test]
    fn reports_from_strangers_are_refused_and_change_nothing() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 0));
        book.launched(10);
        assert!(!book.report_ready(11, 8080), "not a backend of this broker");
        assert_eq!(states(&book), [(10, BackendState::Starting)]);
        assert!(book.report_ready(10, 65_535));
        assert!(
            book.report_ready(10, 1),
            "a second report replaces the first"
        );
        assert_eq!(states(&book), [(10, BackendState::Ready { port: 1 })]);
    }

    #[test]
    fn death_makes_gone_and_a_gone_backend_cannot_report() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 0));
        book.launched(10);
        assert!(book.report_ready(10, 8080));
        book.died(10);
        assert_eq!(states(&book), [(10, BackendState::Gone)]);
        assert!(!book.report_ready(10, 8081));
        assert_eq!(book.entries()[0].state.http_port(), None);
    }

    #[test]
    fn a_failed_launch_is_forgotten() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 0));
        book.died(10);
        assert!(book.entries().is_empty());
        assert!(!book.report_ready(10, 8080));
    }

    #[test]
    fn a_new_launch_of_the_same_slot_replaces_the_gone_entry_only() {
        let mut book = EndpointBook::default();
        book.spawned(spawned(10, "1.0.0", 0));
        book.launched(10);
        book.spawned(spawned(20, "2.0.0", 1));
        book.launched(20);
        book.died(10);
        book.died(20);
        book.spawned(spawned(30, "1.0.0", 2));
        assert_eq!(
            book.entries().len(),
            2,
            "gone stays until the launch succeeds"
        );
        book.launched(30);
        assert_eq!(
            states(&book),
            [(20, BackendState::Gone), (30, BackendState::Starting)]
        );
    }
}
