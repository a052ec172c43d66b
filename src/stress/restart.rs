//! The `restart` phase (brokers the runner starts): Hellos flow from a
//! few threads, the broker is killed with SIGKILL mid-traffic — so its
//! socket file stays behind — and started again on the same path. SEC-6:
//! a stale socket is taken over; the restarted broker must answer the
//! traffic again within a bound.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::liveness::hello_within;
use crate::testbed::BrokerInstance;

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct RestartConfig {
    /// Kills and restarts.
    pub restarts: u64,
    /// Threads sending Hellos throughout.
    pub threads: usize,
    /// Hellos answered before each kill (the "mid-traffic" point).
    pub answered_before_kill: u64,
    /// How long traffic may take to be answered again after a restart.
    pub bound: Duration,
}

/// What the phase saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RestartTally {
    /// Restarts done.
    pub restarts: u64,
    /// Hellos answered, in all.
    pub answered: u64,
    /// Hellos that failed (the ones cut by the kill among them).
    pub failed: u64,
    /// The longest time from a restart to the next answered Hello, in ms.
    pub worst_recovery_ms: Option<f64>,
}

/// Waits until `counter` passes `target` or `deadline`; true if it did.
fn wait_for(counter: &AtomicU64, target: u64, deadline: Instant) -> bool {
    while counter.load(Ordering::Relaxed) < target {
        if Instant::now() >= deadline {
            return false;
        }
        // The traffic threads count; poll their counter, bounded.
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A restart finding: SEC-6, with nothing sent that could be replayed byte
/// for byte (a replay re-runs the phase).
fn sec6(at: (u64, Phase, u64), message: String) -> Finding {
    Finding::new(
        at,
        FindingKind::Restart,
        "SEC-6",
        message,
        &Evidence::default(),
    )
}

/// Runs the phase against `broker`, listening at `socket`.
pub(crate) fn run_restart(
    socket: &Path,
    broker: &mut dyn BrokerInstance,
    config: RestartConfig,
    seed: u64,
) -> (RestartTally, Vec<Finding>) {
    let mut tally = RestartTally::default();
    let mut findings = Vec::new();
    let answered = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let per_hello = config.bound.min(Duration::from_secs(2));
    std::thread::scope(|scope| {
        for _ in 0..config.threads.max(1) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let live = hello_within(socket, per_hello, "SEC-6");
                    if live.problem.is_none() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        // Between kill and restart nothing listens: do not spin.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
        for round in 0..config.restarts {
            let at = (seed, Phase::Restart, round);
            let before = answered.load(Ordering::Relaxed);
            if !wait_for(
                &answered,
                before + config.answered_before_kill,
                Instant::now() + config.bound,
            ) {
                findings.push(sec6(
                    at,
                    format!("the traffic was not answered before kill #{round}"),
                ));
                break;
            }
            let restarted = Instant::now();
            if let Err(e) = broker.kill_and_restart() {
                findings.push(sec6(
                    at,
                    format!("after SIGKILL the broker did not start again on its socket path: {e}"),
                ));
                // Bring it back without the stale file, so later phases run.
                let _ = std::fs::remove_file(socket);
                if let Err(e) = broker.kill_and_restart() {
                    findings.push(sec6(
                        at,
                        format!("nor with the stale socket file removed: {e}"),
                    ));
                }
                break;
            }
            tally.restarts += 1;
            let after = answered.load(Ordering::Relaxed);
            if wait_for(&answered, after + 1, restarted + config.bound) {
                let ms = restarted.elapsed().as_secs_f64() * 1e3;
                tally.worst_recovery_ms =
                    Some(tally.worst_recovery_ms.map_or(ms, |w: f64| w.max(ms)));
            } else {
                findings.push(sec6(
                    at,
                    format!(
                        "the restarted broker answered no Hello within {:?} of its restart",
                        config.bound
                    ),
                ));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    tally.answered = answered.into_inner();
    tally.failed = failed.into_inner();
    (tally, findings)
}
