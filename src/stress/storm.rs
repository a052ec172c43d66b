//! A whole storm: the selected phases in order, each followed by a
//! liveness check and, for a broker the runner started, by accounting of
//! its resources; gathered into one [`StressReport`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::backend_faults::{BackendFaultsConfig, BackendFaultsTally, run_backend_faults};
use super::fd_exhaustion::{FdExhaustionConfig, FdExhaustionTally, run_fd_exhaustion};
use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::liveness::hello_within;
use super::mutate::MutationEngine;
use super::mutations::{MutationsConfig, MutationsTally, run_mutations};
use super::resources::{ResourceBounds, ResourceDelta, judge_growth, sample, settled_sample};
use super::restart::{RestartConfig, RestartTally, run_restart};
use super::slow::{SlowConfig, SlowTally, run_slow};
use super::storms::{StormsConfig, StormsTally, run_storms};
use crate::testbed::{BrokerInstance, TargetInfo};

/// The version of the JSON report's layout.
pub(crate) const STRESS_SCHEMA_VERSION: u32 = 1;

/// What a storm does.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// The mutations phase.
    pub mutations: MutationsConfig,
    /// The slow phase.
    pub slow: SlowConfig,
    /// The storms phase.
    pub storms: StormsConfig,
    /// The fd-exhaustion phase.
    pub fd_exhaustion: FdExhaustionConfig,
    /// The backend-faults phase.
    pub backend_faults: BackendFaultsConfig,
    /// The restart phase.
    pub restart: RestartConfig,
    /// How much a phase may leave behind (accounting).
    pub resources: ResourceBounds,
    /// How long resources may take to come back after a phase (held
    /// connections close at the Hello deadline).
    pub settle: Duration,
    /// How long the liveness Hello after each phase may take.
    pub liveness_bound: Duration,
}

/// The broker a storm runs against: its socket, and its process when the
/// runner started it (fd exhaustion, restart and accounting need that).
pub struct StormBroker<'a> {
    /// Where it listens.
    pub socket: PathBuf,
    /// The instance, when it is a process the runner started.
    pub process: Option<&'a mut dyn BrokerInstance>,
}

impl StormBroker<'_> {
    fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.pid())
    }
}

/// What a phase's own counters say.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PhaseCounts {
    /// The mutations phase.
    Mutations(MutationsTally),
    /// The slow phase.
    Slow(SlowTally),
    /// The storms phase.
    Storms(StormsTally),
    /// The fd-exhaustion phase.
    FdExhaustion(FdExhaustionTally),
    /// The backend-faults phase.
    BackendFaults(BackendFaultsTally),
    /// The restart phase.
    Restart(RestartTally),
    /// A phase that did not run.
    Skipped {
        /// Why.
        skipped: String,
    },
}

/// One phase's line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// Operations done (mutations sent, connections held or opened).
    pub operations: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Operations per second.
    pub per_second: f64,
    /// Findings of this phase (its liveness check included).
    pub findings: u64,
    /// How long the liveness Hello after it took, in milliseconds (none: unanswered).
    pub liveness_ms: Option<f64>,
    /// The phase's own counters.
    pub counts: PhaseCounts,
    /// The broker's resources before and after (brokers the runner started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceDelta>,
}

/// A storm's result.
#[derive(Debug, Clone, Serialize)]
pub struct StressReport {
    /// [`STRESS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The broker tested.
    pub target: TargetInfo,
    /// The storm's seed.
    pub seed: u64,
    /// One line per phase run.
    pub phases: Vec<PhaseReport>,
    /// Every finding kept, in phase order.
    pub findings: Vec<Finding>,
}

/// Runs `config`'s phases against `broker`; `progress` hears about each
/// phase as it starts and about mutations done.
pub fn run_storm(
    mut broker: StormBroker<'_>,
    engine: &MutationEngine,
    config: &StormConfig,
    target: TargetInfo,
    progress: &(dyn Fn(Phase, u64) + Sync),
) -> StressReport {
    let seed = engine.seed();
    let mut report = StressReport {
        schema_version: STRESS_SCHEMA_VERSION,
        target,
        seed,
        phases: Vec::new(),
        findings: Vec::new(),
    };
    for &phase in &config.phases {
        if phase.needs_process() && broker.pid().is_none() {
            report.phases.push(skipped(
                phase,
                "the broker is not a process this run started (use the built-in broker or --broker-cmd)",
            ));
            continue;
        }
        progress(phase, 0);
        let before = broker.pid().and_then(|pid| sample(pid).ok());
        let started = Instant::now();
        let (operations, findings_total, mut findings, counts) =
            run_phase(phase, &mut broker, engine, config, progress);
        let seconds = started.elapsed().as_secs_f64();
        let socket = broker.socket.clone();
        let live = hello_within(&socket, config.liveness_bound, "FRM-13");
        let mut total = findings_total;
        if let Some(f) = live.finding((seed, phase, operations), FindingKind::Liveness) {
            findings.push(f);
            total += 1;
        }
        // A restart replaces the process: its accounting starts afresh.
        let resources = match (before, broker.pid()) {
            (Some(before), Some(pid)) if phase != Phase::Restart => settled_sample(
                pid,
                &before,
                &config.resources,
                Instant::now() + config.settle,
            )
            .ok()
            .map(|after| ResourceDelta { before, after }),
            _ => None,
        };
        if let Some(delta) = &resources {
            for (clause, message) in judge_growth(&delta.before, &delta.after, &config.resources) {
                findings.push(Finding::new(
                    (seed, phase, operations),
                    FindingKind::Resources,
                    clause,
                    format!("after the {} phase: {message}", phase.name()),
                    &Evidence::default(),
                ));
                total += 1;
            }
        }
        report.phases.push(PhaseReport {
            phase,
            operations,
            seconds,
            per_second: operations as f64 / seconds.max(1e-9),
            findings: total,
            liveness_ms: live.latency.map(|d| d.as_secs_f64() * 1e3),
            counts,
            resources,
        });
        report.findings.extend(findings);
    }
    report
}

/// A report line for a phase that could not run.
fn skipped(phase: Phase, why: &str) -> PhaseReport {
    PhaseReport {
        phase,
        operations: 0,
        seconds: 0.0,
        per_second: 0.0,
        findings: 0,
        liveness_ms: None,
        counts: PhaseCounts::Skipped {
            skipped: why.to_owned(),
        },
        resources: None,
    }
}

/// One phase: (operations, findings in all, findings kept, counters).
fn run_phase(
    phase: Phase,
    broker: &mut StormBroker<'_>,
    engine: &MutationEngine,
    config: &StormConfig,
    progress: &(dyn Fn(Phase, u64) + Sync),
) -> (u64, u64, Vec<Finding>, PhaseCounts) {
    let seed = engine.seed();
    let socket = broker.socket.clone();
    let all = |f: Vec<Finding>| (f.len() as u64, f);
    match phase {
        Phase::Mutations => {
            let t = run_mutations(&socket, engine, config.mutations, &|n| progress(phase, n));
            let kept = t.findings.clone();
            (t.sent, t.findings_total, kept, PhaseCounts::Mutations(t))
        }
        Phase::Slow => {
            let t = run_slow(&socket, config.slow, seed);
            let (n, kept) = all(t.findings.clone());
            (t.held, n, kept, PhaseCounts::Slow(t))
        }
        Phase::Storms => {
            let t = run_storms(&socket, config.storms);
            (
                t.connected + t.burst_held,
                0,
                Vec::new(),
                PhaseCounts::Storms(t),
            )
        }
        Phase::FdExhaustion => {
            let pid = broker.pid().unwrap_or_default();
            let (t, f) = run_fd_exhaustion(&socket, pid, config.fd_exhaustion, seed);
            let (n, kept) = all(f);
            (t.held, n, kept, PhaseCounts::FdExhaustion(t))
        }
        Phase::BackendFaults => {
            let (t, f) = run_backend_faults(&socket, broker.pid(), config.backend_faults, seed);
            let (n, kept) = all(f);
            (t.launches, n, kept, PhaseCounts::BackendFaults(t))
        }
        Phase::Restart => match broker.process.as_deref_mut() {
            Some(process) => {
                let (t, f) = run_restart(&socket, process, config.restart, seed);
                let (n, kept) = all(f);
                (t.answered, n, kept, PhaseCounts::Restart(t))
            }
            None => (
                0,
                0,
                Vec::new(),
                PhaseCounts::Skipped {
                    skipped: "no process".into(),
                },
            ),
        },
    }
}
