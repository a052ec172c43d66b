//! A whole storm: the selected phases in order, each followed by a
//! liveness check, gathered into one [`StressReport`].

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::finding::{Finding, FindingKind, Phase};
use super::liveness::hello_within;
use super::mutate::MutationEngine;
use super::mutations::{MutationsConfig, MutationsTally, run_mutations};
use super::slow::{SlowConfig, SlowTally, run_slow};
use super::storms::{StormsConfig, StormsTally, run_storms};
use crate::testbed::TargetInfo;

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
    /// How long the liveness Hello after each phase may take.
    pub liveness_bound: Duration,
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

/// Runs `config`'s phases against `socket`; `progress` hears about each
/// phase as it starts and about mutations done.
pub fn run_storm(
    socket: &Path,
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
        progress(phase, 0);
        let started = Instant::now();
        let (operations, findings_total, mut findings, counts) = match phase {
            Phase::Mutations => {
                let t = run_mutations(socket, engine, config.mutations, &|n| progress(phase, n));
                let kept = t.findings.clone();
                (t.sent, t.findings_total, kept, PhaseCounts::Mutations(t))
            }
            Phase::Slow => {
                let t = run_slow(socket, config.slow, seed);
                let kept = t.findings.clone();
                (t.held, kept.len() as u64, kept, PhaseCounts::Slow(t))
            }
            Phase::Storms => {
                let t = run_storms(socket, config.storms);
                (
                    t.connected + t.burst_held,
                    0,
                    Vec::new(),
                    PhaseCounts::Storms(t),
                )
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let live = hello_within(socket, config.liveness_bound, "FRM-13");
        let mut total = findings_total;
        if let Some(f) = live.finding((seed, phase, operations), FindingKind::Liveness) {
            findings.push(f);
            total += 1;
        }
        report.phases.push(PhaseReport {
            phase,
            operations,
            seconds,
            per_second: operations as f64 / seconds.max(1e-9),
            findings: total,
            liveness_ms: live.latency.map(|d| d.as_secs_f64() * 1e3),
            counts,
        });
        report.findings.extend(findings);
    }
    report
}
