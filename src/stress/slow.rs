//! The `slow` phase: connections that send part of a Hello and hold.
//! Meanwhile Hellos on other connections must be answered within the
//! bound (FRM-13), and the broker must close every held connection by its
//! Hello deadline plus slack (FRM-9).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::liveness::{Liveness, hello_within};
use crate::perf::exchange::hello_request_bytes;

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct SlowConfig {
    /// Connections held.
    pub connections: u64,
    /// Hellos sent while they are held.
    pub probes: u64,
    /// How long each of those Hellos may take (FRM-13).
    pub bound: Duration,
    /// The broker's Hello deadline (FRM-9).
    pub hello_deadline: Duration,
    /// Slack on top of the deadline.
    pub slack: Duration,
}

/// What the phase saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SlowTally {
    /// Connections opened and holding part of a frame.
    pub held: u64,
    /// Connections that could not be opened.
    pub connect_failures: u64,
    /// Hellos answered correctly within the bound while held.
    pub probes_answered: u64,
    /// The slowest of them, in milliseconds.
    pub probe_max_ms: Option<f64>,
    /// Held connections the broker closed by the deadline plus slack.
    pub closed_in_time: u64,
    /// The findings.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// What held connection `i` sends: even ones two bytes of a header, odd
/// ones a whole header and half the body of a Hello.
pub(crate) fn partial(i: u64) -> Vec<u8> {
    let hello = hello_request_bytes("stress-slow", "1.0.0").unwrap_or_default();
    if i.is_multiple_of(2) {
        hello[..2.min(hello.len())].to_vec()
    } else {
        hello[..(5 + (hello.len().saturating_sub(5)) / 2).min(hello.len())].to_vec()
    }
}

/// Runs the phase against `socket`; findings carry `seed`.
pub(crate) fn run_slow(socket: &Path, config: SlowConfig, seed: u64) -> SlowTally {
    let mut tally = SlowTally::default();
    let mut held = Vec::new();
    for i in 0..config.connections {
        match crate::sys::connect_unix_within(socket, config.bound) {
            Ok(stream) if (&stream).write_all(&partial(i)).is_ok() => held.push(stream),
            _ => tally.connect_failures += 1,
        }
    }
    tally.held = held.len() as u64;
    // FRM-9: each deadline runs from that connection's accept, at the
    // latest now, when the last one is open.
    let deadline = Instant::now() + config.hello_deadline + config.slack;
    let at = |index| (seed, Phase::Slow, index);
    for probe in 0..config.probes {
        let check = hello_within(socket, config.bound, "FRM-13");
        if check.problem.is_none() {
            tally.probes_answered += 1;
            let ms = check.latency.unwrap_or_default().as_secs_f64() * 1e3;
            tally.probe_max_ms = Some(tally.probe_max_ms.map_or(ms, |m: f64| m.max(ms)));
        } else if let Some(f) = stall_finding(&check, at(tally.held), probe) {
            tally.findings.push(f);
        }
    }
    let still_open = held
        .iter()
        .filter(|stream| !closed_by(stream, deadline))
        .count() as u64;
    tally.closed_in_time = tally.held - still_open;
    if still_open > 0 {
        tally.findings.push(Finding::new(
            at(tally.held),
            FindingKind::HeldOpen,
            "FRM-9",
            format!(
                "{still_open} of {} connections holding part of a frame were still open {:?} after the Hello deadline of {:?}",
                tally.held, config.slack, config.hello_deadline
            ),
            &Evidence {
                sent: &partial(0),
                half_close: false,
                received: None,
            },
        ));
    }
    tally
}

/// The finding for a probe that failed while connections were held.
fn stall_finding(check: &Liveness, at: (u64, Phase, u64), probe: u64) -> Option<Finding> {
    let mut finding = check.finding(at, FindingKind::Stall)?;
    finding.message = format!(
        "probe {probe} with {} connections held: {}",
        at.2, finding.message
    );
    Some(finding)
}

/// True when the broker closes `stream` (EOF, a reset, or a refusal then
/// EOF) before `deadline`.
fn closed_by(stream: &UnixStream, deadline: Instant) -> bool {
    let mut reader = stream;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match reader.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_are_a_short_header_and_half_a_body() {
        let whole = hello_request_bytes("stress-slow", "1.0.0").unwrap();
        assert_eq!(partial(0), whole[..2]);
        let body_half = partial(1);
        assert!(body_half.len() > 5 && body_half.len() < whole.len());
        assert_eq!(body_half[..], whole[..body_half.len()]);
    }
}
