//! The `mutations` phase: mutated frames from many concurrent connections,
//! each reply that arrives judged by [`check_reply`]. Replies the spec
//! does not owe are never waited for: an incomplete frame on a connection
//! left open is closed at once, and every read is bounded.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::invariants::check_reply;
use super::mutate::{Mutation, MutationEngine};
use crate::wire::framing::{parse_header, split_frame};
use crate::wire::{FramingError, MAX_FRAME_BYTES};

/// The most findings a phase keeps (all are counted).
pub(crate) const KEPT_FINDINGS: usize = 100;

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct MutationsConfig {
    /// Mutations sent.
    pub count: u64,
    /// Connections at once.
    pub connections: usize,
    /// How long a connect or an owed reply may take.
    pub reply_timeout: Duration,
}

/// What the phase saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct MutationsTally {
    /// Mutations sent.
    pub sent: u64,
    /// Replies received (and judged).
    pub replies: u64,
    /// Connections closed with no reply, or not waited on.
    pub silent: u64,
    /// Connects that failed or timed out.
    pub connect_failures: u64,
    /// Findings counted (only the first [`KEPT_FINDINGS`] are kept).
    pub findings_total: u64,
    /// The findings kept.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// What one exchange got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A reply frame's body.
    Reply(Vec<u8>),
    /// The broker closed, or the bound passed, with no reply.
    Silent,
    /// Not waited for: the spec owes no reply yet.
    NotAwaited,
}

/// Whether a reply is owed once `bytes` are sent: the first frame is
/// complete, or its header already decides a refusal, or the sender
/// half-closed (FRM-8).
pub(crate) fn reply_owed(bytes: &[u8], half_close: bool) -> bool {
    half_close
        || !matches!(
            split_frame(&Bytes::copy_from_slice(bytes), MAX_FRAME_BYTES),
            Err(FramingError::Truncated { .. })
        )
}

/// Sends `bytes` on a new connection (half-closing if asked) and reads one
/// reply frame if one is owed, each step bounded by `timeout`.
pub(crate) fn exchange_once(
    socket: &Path,
    bytes: &[u8],
    half_close: bool,
    timeout: Duration,
) -> io::Result<Answer> {
    let mut stream = crate::sys::connect_unix_within(socket, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    // The broker may close after a bad header, before taking every byte:
    // what it replied is still readable.
    let _ = stream.write_all(bytes);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    if !reply_owed(bytes, half_close) {
        return Ok(Answer::NotAwaited);
    }
    Ok(read_reply(&mut stream))
}

/// One reply frame's body, or [`Answer::Silent`] on a close, a timeout or
/// a header no frame has (that last is judged by the caller as bytes).
pub(crate) fn read_reply(stream: &mut UnixStream) -> Answer {
    let mut header = [0u8; 5];
    if stream.read_exact(&mut header).is_err() {
        return Answer::Silent;
    }
    let Ok(len) = parse_header(&header, MAX_FRAME_BYTES) else {
        return Answer::Reply(header.to_vec());
    };
    let mut body = vec![0u8; len as usize];
    match stream.read_exact(&mut body) {
        Ok(()) => Answer::Reply(body),
        Err(_) => Answer::Reply(header.to_vec()),
    }
}

/// Judges one mutation's answer: a finding when the reply breaks a rule.
pub(crate) fn judge(
    engine_seed: u64,
    index: u64,
    m: &Mutation,
    answer: &Answer,
) -> Option<Finding> {
    let Answer::Reply(body) = answer else {
        return None;
    };
    let violation = check_reply(&m.bytes, body).err()?;
    Some(Finding::new(
        (engine_seed, Phase::Mutations, index),
        FindingKind::ReplyViolation,
        violation.clause,
        format!("{:?} of {}: {}", m.kind, m.seed_frame, violation.message),
        &Evidence {
            sent: &m.bytes,
            half_close: m.half_close,
            received: Some(body),
        },
    ))
}

/// Runs the phase; `progress` is called with the count done now and then.
pub(crate) fn run_mutations(
    socket: &Path,
    engine: &MutationEngine,
    config: MutationsConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> MutationsTally {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let tally = Mutex::new(MutationsTally::default());
    let step = (config.count / 20).max(1);
    std::thread::scope(|scope| {
        for _ in 0..config.connections.max(1) {
            scope.spawn(|| {
                let mut mine = MutationsTally::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= config.count {
                        break;
                    }
                    let m = engine.mutation(index);
                    mine.sent += 1;
                    match exchange_once(socket, &m.bytes, m.half_close, config.reply_timeout) {
                        Ok(answer) => {
                            match &answer {
                                Answer::Reply(_) => mine.replies += 1,
                                Answer::Silent | Answer::NotAwaited => mine.silent += 1,
                            }
                            if let Some(finding) = judge(engine.seed(), index, &m, &answer) {
                                mine.findings_total += 1;
                                if mine.findings.len() < KEPT_FINDINGS {
                                    mine.findings.push(finding);
                                }
                            }
                        }
                        Err(_) => mine.connect_failures += 1,
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(step) {
                        progress(n);
                    }
                }
                if let Ok(mut all) = tally.lock() {
                    all.sent += mine.sent;
                    all.replies += mine.replies;
                    all.silent += mine.silent;
                    all.connect_failures += mine.connect_failures;
                    all.findings_total += mine.findings_total;
                    all.findings.extend(mine.findings);
                }
            });
        }
    });
    let mut tally = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    tally.findings.sort_by_key(|f| f.index);
    tally.findings.truncate(KEPT_FINDINGS);
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_owed_for_a_complete_frame_a_bad_header_or_a_half_close() {
        let frame = [0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x01];
        assert!(reply_owed(&frame, false));
        assert!(
            reply_owed(&[0x07, 0x01], false),
            "a bad framing byte decides"
        );
        assert!(
            reply_owed(&[0x01, 0xff, 0xff, 0xff, 0xff], false),
            "oversize decides"
        );
        assert!(
            !reply_owed(&frame[..6], false),
            "a partial body owes nothing yet"
        );
        assert!(
            !reply_owed(&frame[..3], false),
            "a partial header owes nothing yet"
        );
        assert!(
            reply_owed(&frame[..3], true),
            "a half-close ends the frame (FRM-8)"
        );
    }
}
