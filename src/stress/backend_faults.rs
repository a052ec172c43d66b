//! The `backend-faults` phase: launches through fake backends that fail
//! at every step of the launch and the identity probe — crash at start,
//! never bind, bind late, lie about pid, hash, boot id or endpoint, exit
//! right after the probe, hang — each answered within a bound with a reply
//! that obeys ENV-4, REF-1 and REF-2 (a failed launch is HEL-19's refusal,
//! bounded by PRB-4). Afterwards a valid launch must still be negotiated,
//! and (for a broker the runner started) the accounting after the phase
//! finds no zombie child (LCH-5); the phase gives reaping its time first.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::liveness::{Liveness, hello_for};
use crate::testbed::ServiceSpec;

/// The fake-backend behaviours the phase launches, in order.
pub(crate) const FAULT_BEHAVIOURS: [&str; 9] = [
    "crash-at-start",
    "never-bind",
    "bind-late",
    "lie-pid",
    "lie-hash",
    "lie-boot-id",
    "lie-endpoint",
    "exit-after-probe",
    "hang",
];

/// The one service the phase launches; the fake backend's behaviour is
/// picked by the wanted version's pre-release tag (`1.0.0-crash.at.start`).
pub(crate) const FAULT_SERVICE: &str = "stress-faults";

/// The version of a launch showing `behaviour` in round `round`.
fn fault_version(behaviour: &str, round: u64) -> String {
    format!("1.{round}.0-{}", behaviour.replace('-', "."))
}

/// The version of the valid launch after the faults (plain: echo).
const HEALTHY_VERSION: &str = "9.0.0";

/// The definitions the phase needs.
pub fn fault_services() -> Vec<ServiceSpec> {
    vec![ServiceSpec {
        service: FAULT_SERVICE.to_owned(),
        ..ServiceSpec::default()
    }]
}

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct BackendFaultsConfig {
    /// Rounds through every fault, each with its own version.
    pub rounds: u64,
    /// Bound on the answer to one launching Hello.
    pub launch_timeout: Duration,
    /// How long reaping may take after the last launch (LCH-5).
    pub reap_timeout: Duration,
}

/// What the phase saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BackendFaultsTally {
    /// Launching Hellos sent through faulty backends.
    pub launches: u64,
    /// Of them, answered Refused.
    pub refused: u64,
    /// Of them, answered Negotiated (exit-after-probe, bind-late may be).
    pub negotiated: u64,
    /// Of them, unanswered within the bound.
    pub unanswered: u64,
    /// The valid launch afterwards was negotiated.
    pub healthy_after: bool,
    /// Zombie children of the broker after reaping had its time (none when
    /// the broker is not a process the runner started).
    pub zombies: Option<u64>,
}

/// Runs the phase against `socket`; `pid` is the broker's, when known.
pub(crate) fn run_backend_faults(
    socket: &Path,
    pid: Option<u32>,
    config: BackendFaultsConfig,
    seed: u64,
) -> (BackendFaultsTally, Vec<Finding>) {
    let mut tally = BackendFaultsTally::default();
    let mut findings = Vec::new();
    let mut index = 0;
    let push = |findings: &mut Vec<Finding>,
                index: u64,
                live: &Liveness,
                kind,
                clause: &str,
                m: String| {
        findings.push(Finding::new(
            (seed, Phase::BackendFaults, index),
            kind,
            clause,
            m,
            &Evidence {
                sent: &live.sent,
                half_close: false,
                received: live.received.as_deref(),
            },
        ));
    };
    for round in 0..config.rounds {
        for behaviour in FAULT_BEHAVIOURS {
            let version = fault_version(behaviour, round);
            let live = hello_for(
                socket,
                (FAULT_SERVICE, &version),
                config.launch_timeout,
                "PRB-4",
            );
            tally.launches += 1;
            if live.received.is_none() {
                tally.unanswered += 1;
            } else if live.negotiated() {
                tally.negotiated += 1;
            } else {
                tally.refused += 1;
            }
            if let Some((clause, message)) = &live.problem {
                let kind = if live.received.is_some() {
                    FindingKind::ReplyViolation
                } else {
                    FindingKind::Launch
                };
                push(
                    &mut findings,
                    index,
                    &live,
                    kind,
                    clause,
                    format!("{behaviour}: {message}"),
                );
            }
            index += 1;
        }
    }
    let healthy = hello_for(
        socket,
        (FAULT_SERVICE, HEALTHY_VERSION),
        config.launch_timeout,
        "PRB-4",
    );
    tally.healthy_after = healthy.problem.is_none() && healthy.negotiated();
    if !tally.healthy_after {
        let why = healthy.problem.as_ref().map_or_else(
            || format!("answered {:?} instead", healthy.refusal()),
            |(_, m)| m.clone(),
        );
        push(
            &mut findings,
            index,
            &healthy,
            FindingKind::Launch,
            "NEG-1",
            format!("a valid launch after the faults was not negotiated: {why}"),
        );
    }
    if let Some(pid) = pid {
        let deadline = Instant::now() + config.reap_timeout;
        let zombies = loop {
            let now = super::resources::sample(pid)
                .map(|s| s.zombies)
                .unwrap_or(0);
            if now == 0 || Instant::now() >= deadline {
                break now;
            }
            // Reaping is the broker's own work: look again, bounded.
            std::thread::sleep(Duration::from_millis(50));
        };
        // The accounting after the phase reports them (LCH-5).
        tally.zombies = Some(zombies);
    }
    (tally, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_backend::Behavior;

    #[test]
    fn each_fault_version_selects_its_behaviour_and_the_healthy_one_echoes() {
        for behaviour in FAULT_BEHAVIOURS {
            let version = fault_version(behaviour, 3);
            assert!(crate::wire::validate_version(&version).is_ok(), "{version}");
            assert_eq!(
                Behavior::for_launch(FAULT_SERVICE, &version).name(),
                behaviour
            );
        }
        assert_eq!(
            Behavior::for_launch(FAULT_SERVICE, HEALTHY_VERSION),
            Behavior::Echo
        );
    }
}
