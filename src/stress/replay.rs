//! `--replay`: one finding re-run from its JSON, and whether it still
//! reproduces (the same kind of finding, breaking the same clause).

use std::path::Path;
use std::time::Duration;

use super::finding::{Finding, FindingError, FindingKind, Phase};
use super::liveness::hello_within;
use super::mutate::{Mutation, MutationKind};
use super::mutations::{exchange_once, judge};
use super::slow::{SlowConfig, run_slow};

/// The bounds a replay runs with.
#[derive(Debug, Clone, Copy)]
pub struct ReplayBounds {
    /// A reply or a Hello answer (FRM-13).
    pub reply_timeout: Duration,
    /// The broker's Hello deadline (FRM-9).
    pub hello_deadline: Duration,
    /// Slack on the deadline.
    pub slack: Duration,
}

/// What a replay showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The same finding came back.
    pub reproduced: bool,
    /// What was seen.
    pub detail: String,
}

/// Re-runs `finding` against `socket`: the exact bytes for a reply
/// violation, the Hello for a liveness finding, the slow phase for a stall;
/// a finding of the process phases (fd exhaustion, backend faults,
/// restart, accounting) by re-running its whole phase with `rerun`.
pub fn replay(
    socket: &Path,
    finding: &Finding,
    bounds: ReplayBounds,
    rerun: &mut dyn FnMut(Phase) -> Vec<Finding>,
) -> Result<Replayed, FindingError> {
    let again: Vec<Finding> = match finding.kind {
        FindingKind::ReplyViolation => {
            let m = Mutation {
                seed_frame: String::new(),
                kind: MutationKind::BitFlips,
                bytes: finding.sent()?,
                half_close: finding.half_close,
            };
            match exchange_once(socket, &m.bytes, m.half_close, bounds.reply_timeout) {
                Ok(answer) => judge(finding.seed, finding.index, &m, &answer)
                    .into_iter()
                    .collect(),
                Err(e) => {
                    return Ok(Replayed {
                        reproduced: false,
                        detail: format!("could not send it: {e}"),
                    });
                }
            }
        }
        FindingKind::Liveness => hello_within(socket, bounds.reply_timeout, "FRM-13")
            .finding((finding.seed, finding.phase, finding.index), finding.kind)
            .into_iter()
            .collect(),
        FindingKind::Stall | FindingKind::HeldOpen => {
            let config = SlowConfig {
                connections: finding.index,
                probes: 3,
                bound: bounds.reply_timeout,
                hello_deadline: bounds.hello_deadline,
                slack: bounds.slack,
            };
            run_slow(socket, config, finding.seed).findings
        }
        FindingKind::FdPressure
        | FindingKind::Launch
        | FindingKind::Restart
        | FindingKind::Resources => rerun(finding.phase),
    };
    let same = again
        .iter()
        .find(|f| f.kind == finding.kind && f.clause == finding.clause);
    Ok(match same {
        Some(f) => Replayed {
            reproduced: true,
            detail: f.message.clone(),
        },
        None => Replayed {
            reproduced: false,
            detail: match again.first() {
                Some(other) => format!(
                    "another finding instead: {} {}",
                    other.clause, other.message
                ),
                None => "no finding".into(),
            },
        },
    })
}
