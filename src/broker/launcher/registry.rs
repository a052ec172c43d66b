//! The backend registry (REG-1…REG-5): one slot per backend key holding a
//! live backend or a launch in flight, the per-key launch budget, and
//! identity-guarded removal. Time is passed in, so it is testable without
//! clocks or processes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::LaunchError;
use crate::sys::{ProcessHandle, process_running, process_start_time};
use crate::wire::{SPAWN_BUDGET_ATTEMPTS, SPAWN_BUDGET_WINDOW};

/// What identifies one backend (§7): instance, service, wanted version and
/// the BLAKE3 of the executable file, so a rebuilt binary is a new key (REG-1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct BackendKey {
    /// The instance id (§7.1).
    pub instance: String,
    /// The service name.
    pub service: String,
    /// The wanted version.
    pub version: String,
    /// BLAKE3 of the backend executable.
    pub exe_hash: [u8; 32],
}

impl BackendKey {
    /// The same backend slot ignoring the build: used to find superseded
    /// backends (REG-5).
    pub(crate) fn same_slot(&self, other: &Self) -> bool {
        self.instance == other.instance
            && self.service == other.service
            && self.version == other.version
    }
}

/// A backend that passed its identity probe and serves clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveBackend {
    /// Its key.
    pub key: BackendKey,
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks (`/proc/<pid>/stat`): with the pid,
    /// its identity across pid reuse (REG-4).
    pub start_time: u64,
    /// Where clients connect.
    pub backend_pipe: PathBuf,
    /// Where the broker hands connections over (LCH-6), if the service opted in.
    pub handoff_pipe: Option<PathBuf>,
    /// When it was launched.
    pub started_at_unix_ms: u64,
    /// A pidfd on it, when one could be opened: liveness in one `poll`.
    pub process: Option<ProcessHandle>,
}

impl LiveBackend {
    /// True while the same process (pid and start time) still runs
    /// (REG-2, REG-4). A zombie is dead: it exited and waits to be reaped.
    pub(crate) fn is_alive(&self) -> bool {
        match &self.process {
            // A pidfd names this very process: no reuse to guard against.
            Some(process) => !process.has_exited(),
            None => {
                process_running(self.pid)
                    && process_start_time(self.pid).is_ok_and(|t| t == self.start_time)
            }
        }
    }
}

/// The outcome of a launch, shared with every Hello waiting on it.
pub(super) type LaunchOutcome = Result<Arc<LiveBackend>, Arc<LaunchError>>;

/// Failed launch attempts of one key within the sliding window (REG-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SpawnBudget {
    failures: VecDeque<Instant>,
}

impl SpawnBudget {
    fn prune(&mut self, now: Instant) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= SPAWN_BUDGET_WINDOW)
        {
            self.failures.pop_front();
        }
    }

    /// Attempts left in the window.
    pub(super) fn remaining(&mut self, now: Instant) -> u32 {
        self.prune(now);
        SPAWN_BUDGET_ATTEMPTS.saturating_sub(self.failures.len() as u32)
    }

    /// When no attempt is left: how long until the oldest failure leaves the
    /// window (HEL-18).
    pub(super) fn exhausted_for(&mut self, now: Instant) -> Option<Duration> {
        if self.remaining(now) > 0 {
            return None;
        }
        let oldest = *self.failures.front()?;
        Some(SPAWN_BUDGET_WINDOW.saturating_sub(now.saturating_duration_since(oldest)))
    }

    /// Records a failed attempt.
    pub(super) fn record_failure(&mut self, now: Instant) {
        self.prune(now);
        self.failures.push_back(now);
    }

    /// A success resets the budget (REG-3).
    pub(super) fn reset(&mut self) {
        self.failures.clear();
    }
}

enum Slot {
    Live(Arc<LiveBackend>),
    Launching(watch::Receiver<Option<LaunchOutcome>>),
}

/// What a Hello gets from the registry.
pub(crate) enum Acquire {
    /// A live backend to negotiate.
    Ready(Arc<LiveBackend>),
    /// Another Hello is launching this key: wait for its outcome (HEL-17, REF).
    Wait(LaunchWaiter),
    /// This Hello must launch the key and report through the ticket.
    Launch(LaunchTicket),
    /// The key's budget is spent (HEL-18).
    Exhausted {
        /// Until an attempt frees up.
        retry_after: Duration,
    },
}

/// Waits for a launch started by another Hello.
pub(crate) struct LaunchWaiter(watch::Receiver<Option<LaunchOutcome>>);

impl LaunchWaiter {
    /// The launch's outcome.
    pub(crate) async fn outcome(mut self) -> LaunchOutcome {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(Arc::new(LaunchError::Abandoned))),
            Err(_) => Err(Arc::new(LaunchError::Abandoned)),
        }
    }
}

/// The right and duty to launch one key. Dropping it unfinished reports a
/// failure, so waiters never hang.
pub(crate) struct LaunchTicket {
    key: BackendKey,
    registry: Arc<Registry>,
    sender: Option<watch::Sender<Option<LaunchOutcome>>>,
}

impl LaunchTicket {
    /// Records the outcome, wakes every waiter and returns what superseded
    /// backends were retired (REG-5).
    pub(crate) fn finish(
        mut self,
        outcome: Result<LiveBackend, LaunchError>,
        now: Instant,
    ) -> (LaunchOutcome, Vec<Arc<LiveBackend>>) {
        let outcome = outcome.map(Arc::new).map_err(Arc::new);
        let retired = self.registry.settle(&self.key, &outcome, now);
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(outcome.clone()));
        }
        (outcome, retired)
    }
}

impl Drop for LaunchTicket {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let outcome = Err(Arc::new(LaunchError::Abandoned));
            self.registry.settle(&self.key, &outcome, Instant::now());
            sender.send_replace(Some(outcome));
        }
    }
}

/// A backend as admin verbs report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Up and routed to.
    Live(Arc<LiveBackend>),
    /// Being launched.
    Launching,
}

/// One key's launch budget at an instant (REG-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BudgetState {
    /// Attempts left in the window.
    pub remaining: u32,
    /// Until an attempt frees up, when none is left.
    pub retry_after: Option<Duration>,
}

/// A point-in-time view of the registry for admin replies and metrics.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistrySnapshot {
    /// Every slot.
    pub slots: BTreeMap<BackendKey, SlotState>,
    /// Launch budgets per key that has an entry (REG-3).
    pub budgets: BTreeMap<BackendKey, BudgetState>,
    /// Backends retired by newer builds, still running for their clients.
    pub superseded: Vec<Arc<LiveBackend>>,
}

/// The registry, shared by every connection.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<BackendKey, Slot>,
    budgets: HashMap<BackendKey, SpawnBudget>,
    superseded: Vec<Arc<LiveBackend>>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// REG-1…REG-3: the live backend for `key` (dead ones pruned first), the
    /// launch in flight, the budget verdict, or a ticket to launch.
    pub(crate) fn acquire(self: &Arc<Self>, key: &BackendKey, now: Instant) -> Acquire {
        let mut inner = self.lock();
        match inner.slots.get(key) {
            Some(Slot::Live(backend)) if backend.is_alive() => {
                return Acquire::Ready(Arc::clone(backend));
            }
            Some(Slot::Live(_)) => {
                // REG-2: died without its reaper having run yet.
                inner.slots.remove(key);
            }
            Some(Slot::Launching(receiver)) => {
                return Acquire::Wait(LaunchWaiter(receiver.clone()));
            }
            None => {}
        }
        if let Some(retry_after) = inner
            .budgets
            .entry(key.clone())
            .or_default()
            .exhausted_for(now)
        {
            return Acquire::Exhausted { retry_after };
        }
        let (sender, receiver) = watch::channel(None);
        inner.slots.insert(key.clone(), Slot::Launching(receiver));
        Acquire::Launch(LaunchTicket {
            key: key.clone(),
            registry: Arc::clone(self),
            sender: Some(sender),
        })
    }

    /// Applies a launch outcome; returns backends superseded by it (REG-5).
    fn settle(
        &self,
        key: &BackendKey,
        outcome: &LaunchOutcome,
        now: Instant,
    ) -> Vec<Arc<LiveBackend>> {
        let mut inner = self.lock();
        let budget = inner.budgets.entry(key.clone()).or_default();
        match outcome {
            Ok(backend) => {
                budget.reset();
                let older: Vec<BackendKey> = inner
                    .slots
                    .keys()
                    .filter(|k| *k != key && k.same_slot(key))
                    .cloned()
                    .collect();
                let mut retired = Vec::new();
                for old in older {
                    if let Some(Slot::Live(b)) = inner.slots.remove(&old) {
                        retired.push(b);
                    }
                }
                inner.superseded.extend(retired.iter().cloned());
                inner
                    .slots
                    .insert(key.clone(), Slot::Live(Arc::clone(backend)));
                retired
            }
            Err(_) => {
                budget.record_failure(now);
                inner.slots.remove(key);
                Vec::new()
            }
        }
    }

    /// REG-4: removes `key`'s backend only if it is still the process
    /// (pid, start time) that died; a late death notice never evicts a successor.
    pub(crate) fn remove_if_same(&self, key: &BackendKey, pid: u32, start_time: u64) -> bool {
        let mut inner = self.lock();
        inner
            .superseded
            .retain(|b| !(b.pid == pid && b.start_time == start_time));
        let same = matches!(inner.slots.get(key), Some(Slot::Live(b)) if b.pid == pid && b.start_time == start_time);
        if same {
            inner.slots.remove(key);
        }
        same
    }

    /// Every live backend, routed or superseded (for shutdown and reaping).
    pub(crate) fn live_backends(&self) -> Vec<Arc<LiveBackend>> {
        let inner = self.lock();
        let mut all: Vec<Arc<LiveBackend>> = inner
            .slots
            .values()
            .filter_map(|s| match s {
                Slot::Live(b) => Some(Arc::clone(b)),
                Slot::Launching(_) => None,
            })
            .collect();
        all.extend(inner.superseded.iter().cloned());
        all
    }

    /// A view for admin replies (ADM-10 real figures).
    pub(crate) fn snapshot(&self, now: Instant) -> RegistrySnapshot {
        let mut inner = self.lock();
        let slots = inner
            .slots
            .iter()
            .map(|(k, s)| {
                let state = match s {
                    Slot::Live(b) => SlotState::Live(Arc::clone(b)),
                    Slot::Launching(_) => SlotState::Launching,
                };
                (k.clone(), state)
            })
            .collect();
        let budgets = inner
            .budgets
            .iter_mut()
            .map(|(k, b)| {
                let state = BudgetState {
                    remaining: b.remaining(now),
                    retry_after: b.exhausted_for(now),
                };
                (k.clone(), state)
            })
            .collect();
        RegistrySnapshot {
            slots,
            budgets,
            superseded: inner.superseded.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str, hash: u8) -> BackendKey {
        BackendKey {
            instance: "shared".into(),
            service: "svc".into(),
            version: version.into(),
            exe_hash: [hash; 32],
        }
    }

    fn this_process(key: &BackendKey) -> LiveBackend {
        let pid = std::process::id();
        LiveBackend {
            key: key.clone(),
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            backend_pipe: "/tmp/b.sock".into(),
            handoff_pipe: None,
            started_at_unix_ms: 0,
            process: None,
        }
    }

    #[test]
    fn budget_allows_three_failures_per_thirty_seconds() {
        let t0 = Instant::now();
        let mut budget = SpawnBudget::default();
        for i in 0..3 {
            assert_eq!(budget.exhausted_for(t0), None, "attempt {i}");
            budget.record_failure(t0 + Duration::from_secs(i));
        }
        assert_eq!(
            budget.exhausted_for(t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            budget.exhausted_for(t0 + Duration::from_secs(30)),
            None,
            "the oldest left the window"
        );
        budget.reset();
        assert_eq!(budget.remaining(t0), 3);
    }

    #[tokio::test]
    async fn a_second_hello_waits_for_the_launch_in_flight() {
        let registry = Registry::new();
        let k = key("1.0.0", 1);
        let Acquire::Launch(ticket) = registry.acquire(&k, Instant::now()) else {
            panic!("first Hello launches");
        };
        let Acquire::Wait(waiter) = registry.acquire(&k, Instant::now()) else {
            panic!("second Hello waits");
        };
        let waiting = tokio::spawn(waiter.outcome());
        let _ = ticket.finish(Ok(this_process(&k)), Instant::now());
        let outcome = waiting
            .await
            .unwrap_or_else(|e| panic!("the waiter panicked: {e}"));
        assert!(outcome.is_ok_and(|b| b.pid == std::process::id()));
        assert!(
            matches!(registry.acquire(&k, Instant::now()), Acquire::Ready(_)),
            "REG-1 reuse"
        );
    }

    #[tokio::test]
    async fn failures_spend_the_budget_and_an_abandoned_ticket_counts() {
        let registry = Registry::new();
        let k = key("1.0.0", 1);
        let now = Instant::now();
        for _ in 0..2 {
            let Acquire::Launch(ticket) = registry.acquire(&k, now) else {
                panic!("launch")
            };
            let _ = ticket.finish(Err(LaunchError::ProbeTimeout { budget_ms: 500 }), now);
        }
        let Acquire::Launch(ticket) = registry.acquire(&k, now) else {
            panic!("launch")
        };
        drop(ticket);
        assert!(
            matches!(registry.acquire(&k, now), Acquire::Exhausted { retry_after } if retry_after == SPAWN_BUDGET_WINDOW)
        );
        assert!(
            matches!(registry.acquire(&key("2.0.0", 1), now), Acquire::Launch(_)),
            "budgets are per key"
        );
    }

    #[test]
    fn dead_backends_are_pruned_and_removal_is_identity_guarded() {
        let registry = Registry::new();
        let k = key("1.0.0", 1);
        let Acquire::Launch(ticket) = registry.acquire(&k, Instant::now()) else {
            panic!("launch")
        };
        let mut backend = this_process(&k);
        let _ = ticket.finish(Ok(backend.clone()), Instant::now());
        assert!(
            !registry.remove_if_same(&k, backend.pid, backend.start_time + 1),
            "REG-4: another process"
        );
        assert!(matches!(
            registry.acquire(&k, Instant::now()),
            Acquire::Ready(_)
        ));
        // A recorded start time that no longer matches means the process died.
        backend.start_time += 1;
        let Acquire::Ready(_) = registry.acquire(&k, Instant::now()) else {
            panic!("still live")
        };
        assert!(registry.remove_if_same(&k, backend.pid, backend.start_time - 1));
        assert!(
            matches!(registry.acquire(&k, Instant::now()), Acquire::Launch(_)),
            "REG-2 relaunch"
        );
    }

    #[test]
    fn a_new_build_supersedes_the_old_backend() {
        let registry = Registry::new();
        let old = key("1.0.0", 1);
        let new = key("1.0.0", 2);
        let Acquire::Launch(t) = registry.acquire(&old, Instant::now()) else {
            panic!("launch")
        };
        let _ = t.finish(Ok(this_process(&old)), Instant::now());
        let Acquire::Launch(t) = registry.acquire(&new, Instant::now()) else {
            panic!("new key launches")
        };
        let (_, retired) = t.finish(Ok(this_process(&new)), Instant::now());
        assert_eq!(retired.len(), 1);
        assert_eq!(retired[0].key, old);
        let snapshot = registry.snapshot(Instant::now());
        assert_eq!(snapshot.slots.len(), 1);
        assert_eq!(snapshot.superseded.len(), 1);
    }
}
