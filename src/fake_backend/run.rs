//! Running a fake backend process: the launch contract through the backend
//! SDK, with each behaviour's twist.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;

use super::behavior::Behavior;
use super::recorder::{Record, Recorder};
use crate::backend::{
    AckPlan, BackendIdentity, BackendListener, ConnectionHandler, Flow, HandoffPolicy, LaunchEnv,
    ListenerSource, ProbeAnswer, ReceivedHandoff, bind_handoff_listener, serve, serve_handoffs,
};
use crate::inspect::to_hex;
use crate::proto::v1::{DaemonProcess, Frame, FrameKind};
use crate::wire::framing::blocking::write_frame;
use crate::wire::framing::encode_frame;

/// How long `bind-late` waits before serving: far past the 500 ms probe
/// bound, so a broker that starts its 500 ms only after checking the
/// executable (hashing it takes a while under load) still misses it.
pub const BIND_LATE_DELAY: Duration = Duration::from_millis(2000);

/// The one launch (counted from 1) of a `flaky` installation that serves.
const FLAKY_SERVING_LAUNCH: usize = 3;

/// Set by `lie-exe` for its copy: the executable the broker launched.
const LAUNCHED_AS_VAR: &str = "FAKE_BACKEND_LAUNCHED_AS";

/// `lie-exe`: copies this executable beside itself and becomes the copy
/// (same pid, arguments, environment and inherited descriptors), telling
/// it which file was launched. Returns only on failure.
fn exec_from_a_copy() -> Result<std::convert::Infallible, FakeBackendError> {
    use std::os::unix::process::CommandExt;
    let io = |what| move |source| FakeBackendError::Io { what, source };
    let exe = std::env::current_exe().map_err(io("finding this executable"))?;
    let copy = exe.with_file_name(format!("fake-backend-copy-{}", std::process::id()));
    std::fs::copy(&exe, &copy).map_err(io("copying this executable"))?;
    // argv[0] keeps the name that makes the program a fake backend.
    let mut args = std::env::args_os();
    let error = std::process::Command::new(&copy)
        .arg0(args.next().unwrap_or_else(|| "fake-backend".into()))
        .args(args)
        .env(LAUNCHED_AS_VAR, &exe)
        .exec();
    Err(io("executing the copy")(error))
}

/// Why a fake backend could not run.
#[derive(Debug, thiserror::Error)]
pub enum FakeBackendError {
    /// Setting up the listener or the identity failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The failure.
        source: io::Error,
    },
}

/// The identity a behaviour claims in probe replies.
pub fn claimed_identity(behavior: Behavior, truth: &DaemonProcess) -> DaemonProcess {
    let mut claim = truth.clone();
    match behavior {
        Behavior::LiePid => claim.pid = truth.pid.wrapping_add(1),
        Behavior::LieHash => {
            claim.exe_hash = Bytes::from(truth.exe_hash.iter().map(|b| !b).collect::<Vec<u8>>());
        }
        Behavior::LieBootId => claim.boot_id = "00000000-0000-0000-0000-000000000000".into(),
        Behavior::LieEndpoint => {
            if let Some(endpoint) = claim.ipc_endpoint.as_mut() {
                endpoint.path.push_str(".elsewhere");
            }
        }
        _ => {}
    }
    claim
}

/// The per-connection behaviour of a serving fake backend.
pub struct FakeHandler {
    behavior: Behavior,
    recorder: Arc<Recorder>,
    /// The fake backend is its own process, so `exit-after-probe` and
    /// `exit-after-echo` may end it.
    own_process: bool,
}

impl FakeHandler {
    /// A handler for `behavior`.
    pub fn new(behavior: Behavior, recorder: Arc<Recorder>, own_process: bool) -> Self {
        Self {
            behavior,
            recorder,
            own_process,
        }
    }
}

impl ConnectionHandler for FakeHandler {
    fn on_frame(&self, frame: Frame, stream: &mut UnixStream) -> io::Result<Flow> {
        self.recorder.record(&Record::Frame {
            payload_protocol: frame.payload_protocol,
            request_id: frame.request_id,
            hex: encode_frame(&frame).map(|b| to_hex(&b)).unwrap_or_default(),
        });
        if self.behavior == Behavior::Hang {
            return Ok(Flow::Continue);
        }
        let reply = Frame {
            kind: FrameKind::Response as i32,
            ..frame
        };
        write_frame(stream, &reply).map_err(io::Error::other)?;
        if self.own_process && self.behavior == Behavior::ExitAfterEcho {
            // The reply is in the socket's buffer: the client still reads it.
            std::process::exit(0);
        }
        Ok(Flow::Continue)
    }

    fn on_probe(&self, request: &Frame, identity: &BackendIdentity) -> ProbeAnswer {
        let prefix: Option<[u8; 8]> = request.payload.get(..8).and_then(|b| b.try_into().ok());
        self.recorder.record(&Record::Probe {
            request_id: request.request_id,
            answered: true,
            nonce_len: request.payload.len(),
            request_id_from_nonce: prefix
                .is_some_and(|p| u64::from_le_bytes(p) == request.request_id),
        });
        let claimed = claimed_identity(self.behavior, identity.daemon_process());
        match self.behavior {
            Behavior::ProbeInPieces => ProbeAnswer::ReplyInPieces {
                identity: claimed,
                pause: PROBE_PIECE_PAUSE,
            },
            Behavior::ProbeCut => ProbeAnswer::ReplyCut(claimed),
            _ => ProbeAnswer::Reply(claimed),
        }
    }

    fn after_probe(&self) -> Flow {
        if self.own_process && self.behavior == Behavior::ExitAfterProbe {
            std::process::exit(0);
        }
        Flow::Continue
    }
}

/// The pause between the pieces of `probe-in-pieces`' reply: long enough
/// that a broker reads them apart, short enough that both pauses stay far
/// inside the 500 ms probe bound (PRB-4).
const PROBE_PIECE_PAUSE: Duration = Duration::from_millis(30);

/// How long `handoff-late` waits before acking: past the broker's 5 s bound.
pub const HANDOFF_LATE_DELAY: Duration = Duration::from_secs(6);

/// How long `handoff-slow` waits before acking: within the broker's bound,
/// long enough for another Hello to be negotiated meanwhile.
pub(super) const HANDOFF_SLOW_DELAY: Duration = Duration::from_secs(1);

/// The ack a handoff behaviour sends (HOF-4, HOF-9 and their violations).
pub struct FakeHandoffPolicy {
    behavior: Behavior,
    recorder: Arc<Recorder>,
    first_token: std::sync::Mutex<Option<Bytes>>,
}

impl FakeHandoffPolicy {
    /// A policy for `behavior`.
    pub fn new(behavior: Behavior, recorder: Arc<Recorder>) -> Self {
        Self {
            behavior,
            recorder,
            first_token: std::sync::Mutex::new(None),
        }
    }
}

impl HandoffPolicy for FakeHandoffPolicy {
    fn plan(&self, received: &ReceivedHandoff) -> AckPlan {
        let (service, correlation_id, explicit_handle) = match &received.offer {
            Ok(c) => (
                c.offer.service_name.clone(),
                c.offer.correlation_id,
                c.explicit_handle,
            ),
            Err(_) => (String::new(), 0, false),
        };
        self.recorder.record(&Record::HandoffOffer {
            token: to_hex(&received.token),
            correlation_id,
            request_id: received.frame.request_id,
            service,
            with_fd: received.client.is_some(),
            explicit_handle,
        });
        let mut plan = AckPlan::truthful(received);
        let twist = |plan: &mut AckPlan| plan.serve_client = false;
        match self.behavior {
            Behavior::HandoffRefuse => {
                plan.ack.accepted = false;
                plan.ack.error_detail = "refused by the fake backend".into();
                twist(&mut plan);
            }
            Behavior::HandoffWrongToken => {
                plan.ack.token =
                    Bytes::from(plan.ack.token.iter().map(|b| !b).collect::<Vec<u8>>());
                twist(&mut plan);
            }
            Behavior::HandoffWrongCorrelation => {
                plan.ack.correlation_id = plan.ack.correlation_id.wrapping_add(1);
                twist(&mut plan);
            }
            Behavior::HandoffLate => {
                plan.delay = HANDOFF_LATE_DELAY;
                twist(&mut plan);
            }
            Behavior::HandoffSlow => plan.delay = HANDOFF_SLOW_DELAY,
            Behavior::HandoffReplay => {
                let mut first = self.first_token.lock().unwrap_or_else(|e| e.into_inner());
                match first.as_ref() {
                    None => *first = Some(plan.ack.token.clone()),
                    Some(old) => {
                        plan.ack.token = old.clone();
                        twist(&mut plan);
                    }
                }
            }
            _ => {}
        }
        self.recorder.record(&Record::HandoffAck {
            accepted: plan.ack.accepted,
        });
        plan
    }
}

/// `ignore-term`: from its return on, a SIGTERM no longer ends this
/// process; a thread records each one instead (taken over before the
/// listener exists, so before any broker can know the backend).
fn record_sigterms(recorder: Arc<Recorder>) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut terms = {
        let _context = runtime.enter();
        signal(SignalKind::terminate())?
    };
    thread::Builder::new()
        .name("fake-backend-sigterm".into())
        .spawn(move || {
            runtime.block_on(async {
                while terms.recv().await.is_some() {
                    recorder.record(&Record::Sigterm);
                }
            });
        })?;
    Ok(())
}

/// Runs a fake backend in this process per the launch contract; returns
/// the process exit code for behaviours that end on their own.
/// `announce` is called with the socket path once it accepts connections.
pub fn run_process(
    env: &LaunchEnv,
    behavior: Behavior,
    recorder: Recorder,
    announce: Option<&dyn Fn(&std::path::Path)>,
) -> Result<i32, FakeBackendError> {
    let recorder = Arc::new(recorder);
    let started = |listener: &str| Record::Started {
        pid: std::process::id(),
        behavior: behavior.name().into(),
        service: env.service_name.clone(),
        version: env.service_version.clone(),
        backend_pipe: env.backend_pipe.display().to_string(),
        listener: listener.into(),
        environment: {
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            vars
        },
        args: std::env::args().skip(1).collect(),
    };
    let launched_as = std::env::var_os(LAUNCHED_AS_VAR).map(PathBuf::from);
    if behavior == Behavior::LieExe && launched_as.is_none() {
        match exec_from_a_copy()? {}
    }
    let crashes = match behavior {
        Behavior::CrashAtStart => true,
        Behavior::Flaky => recorder.earlier_processes() + 1 != FLAKY_SERVING_LAUNCH,
        _ => false,
    };
    if crashes {
        recorder.record(&started("none"));
        return Ok(3);
    }
    let io = |what| move |source| FakeBackendError::Io { what, source };
    match behavior {
        Behavior::NeverBind => {
            recorder.record(&started("none"));
            loop {
                thread::park();
            }
        }
        Behavior::BindLate => thread::sleep(BIND_LATE_DELAY),
        Behavior::IgnoreTerm => {
            record_sigterms(Arc::clone(&recorder)).map_err(io("taking over SIGTERM"))?;
        }
        _ => {}
    }
    let listener = BackendListener::adopt_or_bind(env).map_err(io("getting the listener"))?;
    recorder.record(&started(match listener.source {
        ListenerSource::Inherited(_) => "inherited",
        ListenerSource::Bound => "bound",
    }));
    let identity = BackendIdentity::of_this_process(env).map_err(io("computing the identity"))?;
    // lie-exe: the copy claims the file the broker launched.
    let identity = Arc::new(match launched_as {
        Some(path) if behavior == Behavior::LieExe => {
            let mut claim = identity.daemon_process().clone();
            claim.exe_path = path.to_string_lossy().into_owned();
            BackendIdentity::from_process(claim)
        }
        _ => identity,
    });
    let handler = Arc::new(FakeHandler::new(behavior, Arc::clone(&recorder), true));
    // LCH-6: the handoff socket is bound before the probe can be answered,
    // so a broker never offers a handoff to a socket that is not there yet.
    if let Some(pipe) = &env.handoff_pipe {
        let handoffs = bind_handoff_listener(pipe).map_err(io("binding the handoff socket"))?;
        let policy = Arc::new(FakeHandoffPolicy::new(behavior, Arc::clone(&recorder)));
        let (identity, handler) = (
            Arc::clone(&identity),
            Arc::clone(&handler) as Arc<dyn ConnectionHandler>,
        );
        thread::Builder::new()
            .name("fake-backend-handoff".into())
            .spawn(move || {
                let _ = serve_handoffs(handoffs, identity, handler, policy);
            })
            .map_err(io("starting the handoff thread"))?;
    }
    if behavior.is_http() {
        super::http::start(env, behavior, Arc::clone(&recorder))?;
    }
    if let Some(announce) = announce {
        announce(&listener.path);
    }
    serve(listener.listener, identity, handler).map_err(io("serving"))?;
    Ok(0)
}
