//! Executing one case: its steps against a broker socket, with a wire log,
//! captured values and the verdict rules of each level. The shell reads
//! and acts; [`crate::runner::judge`] decides.
//!
//! By step family: `wire` (connections, sends, replies), `backend`
//! (fake backends, parallel Hellos), `broker` (the broker's files,
//! process and event log), `v2` (identity files, the HTTP surface, a
//! front door's lifecycle).

mod backend;
mod broker;
mod v2;
mod wire;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::conn::{Conn, Trace};
use super::judge::{Failure, Judgement};
use super::matching::Captures;
use super::model::{Case, CaseResult, ConnName, Level, Step, Verdict};
use crate::golden::Corpus;
use crate::testbed::{BrokerInstance, FrontDoorPlaces, Provisioner, Target};

/// Default bound on waiting for a reply or a close.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// How soon an `eventually` check looks again.
const EVENTUALLY_RETRY: Duration = Duration::from_millis(50);

/// What a case runs against.
pub(crate) struct CaseEnv<'a> {
    /// The broker socket.
    pub socket: PathBuf,
    /// The broker's event log, when known.
    pub event_log: Option<PathBuf>,
    /// A front door's places (v2), for front-door targets.
    pub front_door: Option<FrontDoorPlaces>,
    /// The case's own broker process, for cases with a fresh broker.
    pub process: Option<&'a Mutex<Box<dyn BrokerInstance>>>,
    /// The target (to start more front doors).
    pub target: &'a dyn Target,
    /// Installations and definitions.
    pub provisioner: &'a Provisioner,
    /// The golden corpus.
    pub goldens: &'a Corpus,
    /// The target's Hello deadline.
    pub hello_timeout: Duration,
    /// REF expectations are binding.
    pub is_reference: bool,
    /// The `broker-conformance` executable, for steps run as another uid.
    pub helper_exe: PathBuf,
}

/// A mode change undone when the case ends.
struct Restore {
    path: PathBuf,
    mode: u32,
}

/// The state of one running case.
struct CaseRun<'a> {
    env: &'a CaseEnv<'a>,
    conns: BTreeMap<ConnName, Conn>,
    captures: Captures,
    trace: Trace,
    ref_misses: Vec<String>,
    restores: Vec<Restore>,
    tmp: tempfile::TempDir,
    /// Raw TCP connections to the HTTP surface, by name.
    tcp: BTreeMap<String, std::net::TcpStream>,
    /// Front doors a step started and kept (killed when the case ends).
    started: Vec<std::process::Child>,
    /// Identity files written, by service: their content.
    identities: BTreeMap<String, String>,
}

/// Runs one case; never panics on anything the broker does.
pub(crate) fn run_case(case: &Case, env: &CaseEnv<'_>, keep_trace: bool) -> CaseResult {
    let started = Instant::now();
    let outcome = tempfile::Builder::new()
        .prefix("case.")
        .tempdir_in("/tmp")
        .map_err(|e| Failure::new(format!("creating a temporary directory: {e}")))
        .map(|tmp| {
            let mut run = CaseRun {
                env,
                conns: BTreeMap::new(),
                captures: Captures::default(),
                trace: Trace::new(),
                ref_misses: Vec::new(),
                restores: Vec::new(),
                tmp,
                tcp: BTreeMap::new(),
                started: Vec::new(),
                identities: BTreeMap::new(),
            };
            let result = run.steps(&case.steps);
            run.restore();
            run.stop_started();
            (result, run.trace, run.ref_misses)
        });
    let (verdict, message, detail, trace) = match outcome {
        Err(f) => (Verdict::Error, f.message, f.detail, Trace::new()),
        Ok((Ok(()), trace, misses)) if misses.is_empty() => {
            (Verdict::Pass, String::new(), String::new(), trace)
        }
        Ok((Ok(()), trace, misses)) => {
            let detail = misses.join("\n");
            if env.is_reference {
                (
                    Verdict::Fail,
                    "a reference-level expectation failed".into(),
                    detail,
                    trace,
                )
            } else {
                (
                    Verdict::Pass,
                    "passes; differs from the reference broker in REF details".into(),
                    detail,
                    trace,
                )
            }
        }
        Ok((Err(f), trace, _)) => {
            let verdict = if case.level == Level::Ref && !env.is_reference {
                Verdict::Info
            } else {
                Verdict::Fail
            };
            (verdict, f.message, f.detail, trace)
        }
    };
    let keep = keep_trace || !matches!(verdict, Verdict::Pass | Verdict::Skip);
    CaseResult {
        detail,
        duration_ms: started.elapsed().as_millis() as u64,
        trace: if keep { trace.events } else { Vec::new() },
        ..CaseResult::of(case, verdict, message)
    }
}

fn deadline(within_ms: Option<u64>) -> Instant {
    Instant::now() + within_ms.map_or(DEFAULT_WAIT, Duration::from_millis)
}

impl CaseRun<'_> {
    fn steps(&mut self, steps: &[Step]) -> Result<(), Failure> {
        for (i, step) in steps.iter().enumerate() {
            self.step(step).map_err(|mut f| {
                f.message = format!("step {}: {}", i + 1, f.message);
                f
            })?;
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<(), Failure> {
        match step {
            Step::Connect(name) => self.conn(name).map(drop),
            Step::Send(spec) => self.send(spec),
            Step::HalfClose(name) => self.half_close(name),
            Step::ExpectReply(spec) => self.expect_reply(spec),
            Step::ExpectClose(spec) => self.expect_close(spec),
            Step::ExpectSilence(spec) => self.expect_silence(spec),
            Step::ExpectOneOf(alternatives) => self.expect_one_of(alternatives),
            Step::ExpectHandoffEvent(spec) => self.expect_handoff_event(spec),
            Step::ExpectBackendServes(spec) => self.expect_backend_serves(spec),
            Step::ExpectRecords(spec) => self.expect_records(spec),
            Step::Parallel(spec) => self.parallel(spec),
            Step::KillBackend(spec) => self.kill_backend(spec),
            Step::Define(spec) => self
                .env
                .provisioner
                .write(spec)
                .map(drop)
                .map_err(|e| Failure::new(format!("defining {}: {e}", spec.service))),
            Step::RebuildBackend(service) => self
                .env
                .provisioner
                .rebuild(service)
                .map_err(|e| Failure::new(format!("rebuilding {service}: {e}"))),
            Step::ChmodDefinitions(mode) => {
                let dir = self.env.provisioner.definitions().to_path_buf();
                self.chmod(&dir, mode.0)
            }
            Step::SendAsUid(spec) => self.send_as_uid(spec),
            Step::ExpectSocketModes(spec) => self.expect_socket_modes(spec),
            Step::ExpectStopped(spec) => self.expect_stopped(spec),
            Step::ExpectEventLog(spec) => self.expect_event_log(spec),
            Step::PauseMs(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }
            Step::WriteIdentity(spec) => self.write_identity(spec),
            Step::ExpectIdentityFiles(spec) => self.expect_identity_files(spec),
            Step::ExpectHttp(spec) => self.expect_http(spec),
            Step::TcpSend(spec) => self.tcp_send(spec),
            Step::ExpectTcpReply(spec) => self.expect_tcp_reply(spec),
            Step::ExpectHttpPortFile(spec) => self.expect_http_port_file(spec),
            Step::StartFrontDoor(spec) => self.start_front_door(spec),
            Step::Signal(spec) => self.signal(spec),
            Step::ExpectExit(spec) => self.expect_exit(spec),
            Step::ExhaustFds(spec) => self.exhaust_fds(spec),
            Step::ExpectFile(spec) => self.expect_file(spec),
        }
    }

    /// The connection `name`, opened on first use.
    fn conn(&mut self, name: &ConnName) -> Result<&mut Conn, Failure> {
        if !self.conns.contains_key(name) {
            let socket = &self.env.socket;
            let conn = Conn::connect(name.as_str(), socket).map_err(|e| {
                Failure::new(format!("connecting {name} to {}: {e}", socket.display()))
            })?;
            self.trace.push(
                name.as_str(),
                "note",
                &[],
                format!("connected to {}", socket.display()),
            );
            self.conns.insert(name.clone(), conn);
        }
        self.conns
            .get_mut(name)
            .ok_or_else(|| Failure::new(format!("no connection {name}")))
    }

    /// Runs `act` on connection `name` (opened on first use) with the wire log.
    fn on_conn<T>(
        &mut self,
        name: &ConnName,
        act: impl FnOnce(&mut Conn, &mut Trace) -> T,
    ) -> Result<T, Failure> {
        self.conn(name)?;
        let conn = self
            .conns
            .get_mut(name)
            .ok_or_else(|| Failure::new(format!("no connection {name}")))?;
        Ok(act(conn, &mut self.trace))
    }

    /// Takes a judgement: its captures are kept and its REF misses noted
    /// whatever the outcome; its problems fail the step.
    fn accept(&mut self, judgement: Judgement) -> Result<(), Failure> {
        let failure = judgement.failure();
        self.captures.extend(judgement.captures);
        self.ref_misses.extend(judgement.ref_misses);
        failure.map_or(Ok(()), Err)
    }

    /// Judges once, or with `eventually` again until the judgement passes
    /// or `until` is past, and takes the last judgement. For state a broker
    /// or a backend reaches on its own time (a report's round trip, an
    /// event logged after a reply) that nothing the runner holds announces.
    fn judge_until(
        &mut self,
        eventually: bool,
        until: Instant,
        mut attempt: impl FnMut(&mut Self) -> Result<Judgement, Failure>,
    ) -> Result<(), Failure> {
        let mut previous = None;
        loop {
            let judged = attempt(self);
            let passed = matches!(&judged, Ok(j) if j.failure().is_none());
            if !eventually || passed || Instant::now() > until {
                return match (judged, previous) {
                    // An attempt the deadline cut short says less than the
                    // last one that could be judged.
                    (Err(_), Some(previous)) => self.accept(previous),
                    (judged, _) => self.accept(judged?),
                };
            }
            if let Ok(judgement) = judged {
                previous = Some(judgement);
            }
            std::thread::sleep(EVENTUALLY_RETRY);
        }
    }

    /// Stops the front doors steps started and kept.
    fn stop_started(&mut self) {
        for child in self.started.drain(..) {
            let _ = crate::sys::signal(child.id(), rustix::process::Signal::TERM);
            let _ = crate::testbed::wait_within(child, Duration::from_secs(2));
        }
    }

    fn restore(&mut self) {
        for r in self.restores.drain(..).rev() {
            let _ = std::fs::set_permissions(&r.path, std::fs::Permissions::from_mode(r.mode));
        }
    }
}
