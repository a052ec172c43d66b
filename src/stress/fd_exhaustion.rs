//! The `fd-exhaustion` phase (brokers the runner starts): the broker's
//! descriptor limit is lowered to what it has open plus a little headroom,
//! idle connections fill it until `accept` fails with EMFILE, and then each
//! of them sends a valid Hello. ENV-3: while demoted the broker answers
//! `Refused{FD_PRESSURE, retry_after_ms=1000}`; once the connections are
//! gone it must answer Hellos normally again (recovery). Every reply must
//! obey ENV-4, REF-1 and REF-2. The limit is restored afterwards.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::invariants::check_reply;
use super::liveness::{LIVENESS_SERVICE, hello_within};
use super::mutations::{Answer, read_reply};
use crate::perf::exchange::hello_request_bytes;
use crate::proto::v1::ErrorCode;
use crate::sys::{FdLimit, fd_hard_limit, set_fd_limit_of};

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct FdExhaustionConfig {
    /// Descriptors the broker may open beyond those it has open at the start.
    pub headroom: u64,
    /// Bound on a connect and on each reply.
    pub reply_timeout: Duration,
    /// How long the broker may take to answer normally again.
    pub recovery: Duration,
}

/// Descriptors the broker may open beyond those open at the start, unless
/// told otherwise (`stress --fd-headroom`, the `exhaust_fds` step).
pub const DEFAULT_FD_HEADROOM: u64 = 32;

/// What the phase saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FdExhaustionTally {
    /// The descriptor limit the broker ran under.
    pub limit: u64,
    /// Idle connections opened to fill it.
    pub held: u64,
    /// Replies `Refused{FD_PRESSURE}` (ENV-3).
    pub fd_pressure: u64,
    /// Other replies.
    pub other_replies: u64,
    /// Held connections closed or timed out with no reply.
    pub unanswered: u64,
    /// The most descriptors the broker had open while they were held: a
    /// broker that accepts only a few connections at once never reaches
    /// its limit, and then owes no FD_PRESSURE.
    pub peak_fds: u64,
    /// How long after the release a Hello was answered normally, in ms.
    pub recovered_ms: Option<f64>,
}

impl FdExhaustionTally {
    /// The broker reached its limit: only then does it owe FD_PRESSURE.
    pub fn reached_limit(&self) -> bool {
        self.peak_fds + 1 >= self.limit
    }
}

/// Extra connections opened beyond the headroom, so `accept` surely fails.
const OVERFILL: u64 = 8;

/// How many descriptors `pid` has open once it has accepted what it will:
/// read until it reaches `limit` or `bound` passes.
fn peak_descriptors(pid: u32, limit: u64, bound: Duration) -> u64 {
    let deadline = Instant::now() + bound;
    let mut peak = 0;
    loop {
        peak = peak.max(super::resources::sample(pid).map_or(0, |s| s.fds));
        if peak + 1 >= limit || Instant::now() >= deadline {
            return peak;
        }
        // Accepting is the broker's own pace: look again, bounded.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the phase against the broker process `pid` listening at `socket`.
pub(crate) fn run_fd_exhaustion(
    socket: &Path,
    pid: u32,
    config: FdExhaustionConfig,
    seed: u64,
) -> (FdExhaustionTally, Vec<Finding>) {
    let mut tally = FdExhaustionTally::default();
    let mut findings = Vec::new();
    let at = |index| (seed, Phase::FdExhaustion, index);
    let open = match super::resources::sample(pid) {
        Ok(s) => s.fds,
        Err(e) => {
            findings.push(Finding::new(
                at(0),
                FindingKind::FdPressure,
                "ENV-3",
                format!("cannot read the broker's descriptors: {e}"),
                &Evidence::default(),
            ));
            return (tally, findings);
        }
    };
    tally.limit = open + config.headroom;
    let hard = Some(fd_hard_limit()).filter(|h| *h != u64::MAX);
    let old = match set_fd_limit_of(
        pid,
        FdLimit {
            soft: Some(tally.limit),
            hard,
        },
    ) {
        Ok(old) => old,
        Err(e) => {
            findings.push(Finding::new(
                at(0),
                FindingKind::FdPressure,
                "ENV-3",
                format!("cannot lower the broker's descriptor limit: {e}"),
                &Evidence::default(),
            ));
            return (tally, findings);
        }
    };
    let hello = hello_request_bytes(LIVENESS_SERVICE, "1.0.0").unwrap_or_default();
    let mut held = Vec::new();
    for _ in 0..config.headroom + OVERFILL {
        match crate::sys::connect_unix_within(socket, config.reply_timeout) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    tally.held = held.len() as u64;
    tally.peak_fds = peak_descriptors(pid, tally.limit, config.reply_timeout);
    for (i, stream) in held.iter_mut().enumerate() {
        let _ = stream.set_read_timeout(Some(config.reply_timeout));
        let _ = stream.set_write_timeout(Some(config.reply_timeout));
        if stream.write_all(&hello).is_err() {
            tally.unanswered += 1;
            continue;
        }
        match read_reply(stream) {
            Answer::Reply(body) => {
                if let Err(v) = check_reply(&hello, &body) {
                    findings.push(Finding::new(
                        at(i as u64),
                        FindingKind::ReplyViolation,
                        v.clause,
                        v.message,
                        &Evidence {
                            sent: &hello,
                            half_close: false,
                            received: Some(&body),
                        },
                    ));
                }
                if super::invariants::refusal_code(&body) == Some(ErrorCode::ErrorFdPressure) {
                    tally.fd_pressure += 1;
                } else {
                    tally.other_replies += 1;
                }
            }
            Answer::Silent | Answer::NotAwaited => tally.unanswered += 1,
        }
    }
    if tally.reached_limit() && tally.fd_pressure == 0 {
        findings.push(Finding::new(
            at(tally.held),
            FindingKind::FdPressure,
            "ENV-3",
            format!(
                "{} connections filled the broker's {} descriptors ({} open): no Hello was \
                 refused FD_PRESSURE ({} other replies, {} unanswered)",
                tally.held, tally.limit, tally.peak_fds, tally.other_replies, tally.unanswered
            ),
            &Evidence {
                sent: &hello,
                half_close: false,
                received: None,
            },
        ));
    }
    drop(held);
    let released = Instant::now();
    let deadline = released + config.recovery;
    let mut last = None;
    while Instant::now() < deadline {
        let live = hello_within(socket, config.reply_timeout, "ENV-3");
        let demoted = live.refusal() == Some(ErrorCode::ErrorFdPressure);
        if live.problem.is_none() && !demoted {
            tally.recovered_ms = Some(released.elapsed().as_secs_f64() * 1e3);
            break;
        }
        last = Some(live);
        // Leaving demotion is the broker's own decision: ask again shortly.
        std::thread::sleep(Duration::from_millis(20));
    }
    if tally.recovered_ms.is_none() {
        let (received, message) = match &last {
            Some(live) => (
                live.received.clone(),
                live.problem.as_ref().map_or_else(
                    || "still refused FD_PRESSURE".to_owned(),
                    |(_, m)| m.clone(),
                ),
            ),
            None => (None, "no Hello was tried".to_owned()),
        };
        findings.push(Finding::new(
            at(tally.held + 1),
            FindingKind::FdPressure,
            "ENV-3",
            format!(
                "no normal answer within {:?} after the connections were released: {message}",
                config.recovery
            ),
            &Evidence {
                sent: &hello,
                half_close: false,
                received: received.as_deref(),
            },
        ));
    }
    let _ = set_fd_limit_of(pid, old);
    (tally, findings)
}
