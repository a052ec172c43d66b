//! Fake-backend steps: echo through a backend, judge its records, kill
//! it, and many Hellos at once.

use std::os::unix::net::UnixStream;

use bytes::Bytes;

use super::{CaseRun, DEFAULT_WAIT, deadline};
use crate::fake_backend::Record;
use crate::proto::v1::{ErrorCode, Frame, HelloReply, hello_reply};
use crate::runner::judge::{Failure, Judgement, judge_records};
use crate::runner::matching::Actual;
use crate::runner::model::{KillSpec, ParallelSpec, RecordsSpec, ServesSpec};
use crate::runner::requests::hello_frame;
use crate::wire::framing::blocking::{read_frame, write_frame};
use crate::wire::{MAX_FRAME_BYTES, decode_payload};
impl CaseRun<'_> {
    /// The backend pipe captured as `name` (default `backend_pipe`).
    fn captured_pipe(&self, name: Option<&str>) -> Result<String, Failure> {
        let name = name.unwrap_or("backend_pipe");
        match self.captures.get(name) {
            Some(Actual::Str(pipe)) => Ok(pipe.clone()),
            _ => Err(Failure::new(format!(
                "no backend pipe was captured as {name:?}"
            ))),
        }
    }

    pub(super) fn expect_backend_serves(&mut self, spec: &ServesSpec) -> Result<(), Failure> {
        let request = Frame {
            envelope_version: 1,
            payload_protocol: 0xF00D,
            payload: Bytes::from_static(b"conformance echo"),
            request_id: 0x00C0_FFEE,
            ..Frame::default()
        };
        let mut stream = match &spec.on {
            Some(name) => {
                let conn = self.conn(name)?;
                let stream = conn
                    .stream()
                    .ok_or_else(|| Failure::new(format!("{name} is closed")))?;
                stream
                    .try_clone()
                    .map_err(|e| Failure::new(e.to_string()))?
            }
            None => {
                let pipe = self.captured_pipe(spec.pipe.as_deref())?;
                UnixStream::connect(&pipe)
                    .map_err(|e| Failure::new(format!("connecting to the backend {pipe}: {e}")))?
            }
        };
        let _ = stream.set_read_timeout(Some(DEFAULT_WAIT));
        let bytes = crate::wire::framing::encode_frame(&request)
            .map_err(|e| Failure::new(e.to_string()))?;
        self.trace.push("backend", "send", &bytes, "echo request");
        write_frame(&mut stream, &request)
            .map_err(|e| Failure::new(format!("writing to the backend: {e}")))?;
        let reply = read_frame(&mut stream, MAX_FRAME_BYTES)
            .map_err(|e| Failure::new(format!("the backend did not answer: {e}")))?;
        self.trace.push(
            "backend",
            "recv",
            &crate::wire::framing::encode_frame(&reply).unwrap_or_default(),
            "echo reply",
        );
        if reply.payload != request.payload || reply.request_id != request.request_id {
            return Err(Failure::new(
                "the backend's reply is not the echo of the request",
            ));
        }
        Ok(())
    }

    pub(super) fn expect_records(&mut self, spec: &RecordsSpec) -> Result<(), Failure> {
        // A backend writes its records on its own time (after a report's
        // round trip): `eventually` looks again.
        self.judge_until(spec.eventually, deadline(spec.within_ms), |run| {
            let records = run.env.provisioner.records(&spec.service);
            judge_records(spec, &records, &run.captures)
        })
    }

    pub(super) fn parallel(&mut self, spec: &ParallelSpec) -> Result<(), Failure> {
        let frame = hello_frame(&spec.hello).map_err(Failure::new)?;
        let socket = self.env.socket.clone();
        let replies: Vec<Result<HelloReply, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..spec.count)
                .map(|_| {
                    let (socket, frame) = (&socket, &frame);
                    s.spawn(move || -> Result<HelloReply, String> {
                        let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
                        let _ = stream.set_read_timeout(Some(DEFAULT_WAIT));
                        write_frame(&mut stream, frame).map_err(|e| e.to_string())?;
                        let reply =
                            read_frame(&mut stream, MAX_FRAME_BYTES).map_err(|e| e.to_string())?;
                        decode_payload(&reply).map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a Hello thread panicked".into()))
                })
                .collect()
        });
        let mut pipes = Vec::new();
        let mut judgement = Judgement::default();
        for (i, reply) in replies.iter().enumerate() {
            match reply.as_ref().map(|r| r.result.as_ref()) {
                Ok(Some(hello_reply::Result::Negotiated(n))) => pipes.push(n.backend_pipe.clone()),
                Ok(Some(hello_reply::Result::Refused(r))) => {
                    let code = ErrorCode::try_from(r.code)
                        .map(|c| c.as_str_name().to_owned())
                        .unwrap_or_else(|_| r.code.to_string());
                    if !spec.also_accept.contains(&code) {
                        judgement
                            .problems
                            .push(format!("Hello {i}: refused {code}: {}", r.reason));
                    }
                }
                Ok(None) => judgement
                    .problems
                    .push(format!("Hello {i}: a reply without a result")),
                Err(e) => judgement.problems.push(format!("Hello {i}: {e}")),
            }
        }
        self.trace.push(
            "-",
            "note",
            &[],
            format!("{} parallel Hellos: {} negotiated", spec.count, pipes.len()),
        );
        if spec.same_backend && pipes.windows(2).any(|w| w[0] != w[1]) {
            judgement
                .problems
                .push(format!("expected one backend for all, got {pipes:?}"));
        }
        if let Some(pipe) = pipes.first() {
            judgement
                .captures
                .insert("backend_pipe", Actual::Str(pipe.clone()));
        }
        self.accept(judgement)
    }

    pub(super) fn kill_backend(&mut self, spec: &KillSpec) -> Result<(), Failure> {
        let pipe = self.captured_pipe(spec.pipe.as_deref())?;
        let pid = self
            .env
            .provisioner
            .all_records()
            .into_iter()
            .find(|(_, records)| {
                records.iter().any(
                    |r| matches!(r, Record::Started { backend_pipe, .. } if *backend_pipe == pipe),
                )
            })
            .map(|(pid, _)| pid)
            .ok_or_else(|| Failure::new(format!("no fake backend recorded serving {pipe}")))?;
        let signal = if spec.gentle {
            crate::sys::terminate(pid)
        } else {
            crate::sys::kill(pid)
        };
        signal.map_err(|e| Failure::new(format!("signalling backend {pid}: {e}")))?;
        let gone = crate::sys::wait_process_exit(pid, DEFAULT_WAIT)
            .map_err(|e| Failure::new(e.to_string()))?;
        self.trace.push(
            "-",
            "note",
            &[],
            format!("killed backend pid {pid} serving {pipe}"),
        );
        if gone {
            Ok(())
        } else {
            Err(Failure::new(format!("backend {pid} did not exit")))
        }
    }
}
