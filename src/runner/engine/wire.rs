//! Connection steps: send, half-close, read and judge a reply, wait for a
//! close or for silence, the HandoffAck EVENT, and alternatives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{CaseRun, DEFAULT_WAIT, deadline};
use crate::inspect::to_hex;
use crate::proto::v1::{Frame, FrameKind, HandoffAck};
use crate::runner::conn::ReadFailure;
use crate::runner::judge::{Failure, judge_reply};
use crate::runner::matching::Actual;
use crate::runner::model::{
    Alternative, CloseSpec, ConnName, HandoffEventSpec, ReplySpec, SendSpec, SilenceSpec,
};
use crate::runner::requests::send_bytes;
use crate::wire::{DEFAULT_HANDOFF_READY_TIMEOUT, PAYLOAD_PROTOCOL_HANDOFF, decode_payload};

impl CaseRun<'_> {
    pub(super) fn send(&mut self, spec: &SendSpec) -> Result<(), Failure> {
        let bytes = send_bytes(spec, self.env.goldens, self.tmp.path()).map_err(Failure::new)?;
        let sent = self.on_conn(&spec.on, |conn, trace| match spec.chunking {
            None => conn.send(&bytes, trace, ""),
            Some(chunking) => {
                let pause = Duration::from_millis(chunking.pause_ms);
                for (i, chunk) in bytes.chunks(chunking.size.get()).enumerate() {
                    if i > 0 {
                        std::thread::sleep(pause);
                    }
                    conn.send(chunk, trace, "slow client chunk")?;
                }
                Ok(())
            }
        })?;
        sent.map_err(|e| Failure::new(format!("send: {e}")))
    }

    pub(super) fn half_close(&mut self, name: &ConnName) -> Result<(), Failure> {
        self.on_conn(name, |conn, trace| conn.half_close(trace))?
            .map_err(|e| Failure::new(format!("half-close: {e}")))
    }

    fn read_frame(&mut self, name: &ConnName, until: Instant) -> Result<(Frame, Vec<u8>), Failure> {
        self.on_conn(name, |conn, trace| conn.next_frame(until, trace))?
            .map_err(|e| Failure::new(format!("expected a frame on {name}: {e}")))
    }

    pub(super) fn expect_reply(&mut self, spec: &ReplySpec) -> Result<(), Failure> {
        let (frame, raw) = self.read_frame(&spec.on, deadline(spec.within_ms))?;
        let golden = match &spec.golden {
            Some(name) => Some(
                self.env
                    .goldens
                    .bytes(name)
                    .map_err(|e| Failure::new(e.to_string()))?,
            ),
            None => None,
        };
        let judgement = judge_reply(spec, &frame, &raw, golden, &self.captures)?;
        self.accept(judgement)
    }

    pub(super) fn expect_close(&mut self, spec: &CloseSpec) -> Result<(), Failure> {
        let mut wait = spec.within_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
        if spec.after_hello_timeout {
            wait += self.env.hello_timeout;
        }
        let until = Instant::now() + wait;
        match self.on_conn(&spec.on, |conn, trace| conn.wait_close(until, trace))? {
            Ok(extra) if extra.is_empty() => Ok(()),
            Ok(extra) => Err(Failure {
                message: format!(
                    "expected a close, but {} more bytes came first",
                    extra.len()
                ),
                detail: to_hex(&extra),
            }),
            Err(ReadFailure::Timeout { .. }) => Err(Failure::new(format!(
                "expected a close within {} ms; the connection is still open",
                wait.as_millis()
            ))),
            Err(other) => Err(Failure::new(format!("expected a close: {other}"))),
        }
    }

    pub(super) fn expect_silence(&mut self, spec: &SilenceSpec) -> Result<(), Failure> {
        let until = deadline(Some(spec.for_ms.get()));
        match self.on_conn(&spec.on, |conn, trace| conn.wait_close(until, trace))? {
            Err(ReadFailure::Timeout { partial }) if partial.is_empty() => Ok(()),
            Err(ReadFailure::Timeout { partial }) => Err(Failure::new(format!(
                "expected silence, received {} bytes",
                partial.len()
            ))),
            Ok(extra) if extra.is_empty() => Err(Failure::new(
                "expected the connection to stay open; it was closed",
            )),
            Ok(extra) => Err(Failure::new(format!(
                "expected silence, received {} bytes, then a close",
                extra.len()
            ))),
            Err(other) => Err(Failure::new(format!("expected silence: {other}"))),
        }
    }

    pub(super) fn expect_one_of(&mut self, alternatives: &[Alternative]) -> Result<(), Failure> {
        // Let everything arrive first, so each alternative sees the same bytes.
        for conn in self.conns.values_mut() {
            conn.drain_until(Instant::now() + DEFAULT_WAIT);
        }
        let mut misses = Vec::new();
        for alternative in alternatives {
            let mut conns = BTreeMap::new();
            for (name, conn) in &self.conns {
                let replay = conn
                    .replay()
                    .map_err(|e| Failure::new(format!("replaying {name}: {e}")))?;
                conns.insert(name.clone(), replay);
            }
            let saved = std::mem::replace(&mut self.conns, conns);
            let saved_misses = self.ref_misses.len();
            match self.steps(&alternative.steps) {
                Ok(()) => {
                    self.trace.push(
                        "-",
                        "note",
                        &[],
                        format!("alternative {:?} matched", alternative.name),
                    );
                    return Ok(());
                }
                Err(f) => {
                    misses.push(format!("{}: {}", alternative.name, f.message));
                    self.ref_misses.truncate(saved_misses);
                    self.conns = saved;
                }
            }
        }
        Err(Failure {
            message: "no alternative matched".into(),
            detail: misses.join("\n"),
        })
    }

    pub(super) fn expect_handoff_event(&mut self, spec: &HandoffEventSpec) -> Result<(), Failure> {
        let within = spec
            .within_ms
            .unwrap_or(DEFAULT_HANDOFF_READY_TIMEOUT.as_millis() as u64);
        let (frame, _) = self.read_frame(&spec.on, deadline(Some(within)))?;
        let token_name = spec.token.as_deref().unwrap_or("token");
        let Some(Actual::Bytes(token)) = self.captures.get(token_name) else {
            return Err(Failure::new(format!(
                "no token was captured as {token_name:?}"
            )));
        };
        if frame.kind != FrameKind::Event as i32
            || frame.payload_protocol != PAYLOAD_PROTOCOL_HANDOFF
        {
            return Err(Failure::new(format!(
                "expected an EVENT on 0xd0ff, got kind {} protocol 0x{:04x}",
                frame.kind, frame.payload_protocol
            )));
        }
        let ack: HandoffAck =
            decode_payload(&frame).map_err(|e| Failure::new(format!("the EVENT payload: {e}")))?;
        if ack.token.as_ref() != token.as_slice() || !ack.accepted {
            return Err(Failure::new(format!(
                "the EVENT does not announce an accepted handoff of the token: {ack:?}"
            )));
        }
        Ok(())
    }
}
