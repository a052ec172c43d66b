//! Fake backends inside a developer's own tests: start one (on a thread or
//! as the `fake-backend` executable), point code under test at it through
//! the `RUNNING_PROCESS_FAKE_BACKEND` seam (CLI-2), and read what it saw.

use std::io::{self, BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;
use tempfile::TempDir;

use super::FAKE_BACKEND_NAME;
use super::behavior::Behavior;
use super::recorder::{Record, Recorder, read_records};
use super::run::FakeHandler;
use crate::backend::{BackendIdentity, BackendListener, LaunchEnv, serve_until};
use crate::env::MapEnv;
use crate::inspect::parse_hex;
use crate::proto::v1::Frame;
use crate::wire::MAX_FRAME_BYTES;
use crate::wire::env_vars;
use crate::wire::framing::decode_framed;

enum Runner {
    Thread {
        stop: Arc<AtomicBool>,
        handle: Option<JoinHandle<io::Result<()>>>,
    },
    Process(Child),
}

/// A running fake backend owned by a test; stopped when dropped.
///
/// ```
/// use broker_conformance::fake_backend::{Behavior, FakeBackend};
/// let fake = FakeBackend::start(Behavior::Echo)?;
/// let env = fake.env(); // RUNNING_PROCESS_FAKE_BACKEND=<its socket>
/// # let _ = env;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct FakeBackend {
    endpoint: PathBuf,
    records: PathBuf,
    runner: Runner,
    _dir: TempDir,
}

fn short_dir() -> io::Result<TempDir> {
    // Short, so the socket path stays far below 108 bytes.
    tempfile::Builder::new().prefix("fb.").tempdir_in("/tmp")
}

impl FakeBackend {
    /// Serves `behavior` on a thread of this process. Behaviours that only
    /// make sense as a process of their own are refused: use [`spawn`](Self::spawn).
    pub fn start(behavior: Behavior) -> io::Result<Self> {
        if behavior.needs_own_process() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("behaviour {behavior} needs its own process: use FakeBackend::spawn"),
            ));
        }
        let dir = short_dir()?;
        let endpoint = dir.path().join("fake.sock");
        let records = dir.path().join("records");
        let env = LaunchEnv::standalone(&behavior.service_name(), "1.0.0", endpoint.clone());
        let listener = BackendListener::bind(&endpoint)?.listener;
        let identity = Arc::new(BackendIdentity::of_this_process(&env)?);
        let handler = Arc::new(FakeHandler::new(
            behavior,
            Arc::new(Recorder::in_dir(&records)?),
            false,
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("fake-backend-{behavior}"))
            .spawn(move || serve_until(listener, identity, handler, thread_stop))?;
        Ok(Self {
            endpoint,
            records,
            runner: Runner::Thread {
                stop,
                handle: Some(handle),
            },
            _dir: dir,
        })
    }

    /// Runs the `fake-backend` executable at `executable` with `behavior`
    /// and waits until its socket accepts.
    pub fn spawn(executable: &Path, behavior: Behavior) -> io::Result<Self> {
        let dir = short_dir()?;
        let endpoint = dir.path().join("fake.sock");
        let records = dir.path().join("records");
        let mut child = Command::new(executable)
            .arg0(FAKE_BACKEND_NAME)
            .arg("--socket")
            .arg(&endpoint)
            .arg("--behavior")
            .arg(behavior.name())
            .arg("--records")
            .arg(&records)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let ready = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).lines().next())
            .and_then(|line| line.and_then(Result::ok))
            .filter(|line| line.contains("listening on"));
        if ready.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} --behavior {behavior} exited before listening",
                executable.display()
            )));
        }
        Ok(Self {
            endpoint,
            records,
            runner: Runner::Process(child),
            _dir: dir,
        })
    }

    /// The socket it serves.
    pub fn endpoint(&self) -> &Path {
        &self.endpoint
    }

    /// An environment with only the seam set, for code that reads its
    /// settings through an [`EnvSource`](crate::env::EnvSource).
    pub fn env(&self) -> MapEnv {
        MapEnv::from_pairs([(
            env_vars::FAKE_BACKEND,
            self.endpoint.to_string_lossy().into_owned(),
        )])
    }

    /// Scopes the seam to a child process: sets `RUNNING_PROCESS_FAKE_BACKEND`
    /// and clears `RUNNING_PROCESS_DISABLE`, which would override it.
    pub fn apply_seam<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env(env_vars::FAKE_BACKEND, &self.endpoint)
            .env_remove(env_vars::DISABLE)
    }

    /// Everything it recorded, in order.
    pub fn records(&self) -> Vec<Record> {
        read_records(&self.records)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, r)| r)
            .collect()
    }

    /// The request frames it received (identity probes excluded).
    pub fn received_frames(&self) -> Vec<Frame> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Frame { hex, .. } => parse_hex(&hex).ok(),
                _ => None,
            })
            .filter_map(|bytes| decode_framed(&Bytes::from(bytes), MAX_FRAME_BYTES).ok())
            .collect()
    }

    /// Stops it and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        match &mut self.runner {
            Runner::Thread { stop, handle } => {
                stop.store(true, Ordering::SeqCst);
                // Wake the accept so the thread sees the flag.
                let _ = UnixStream::connect(&self.endpoint);
                if let Some(handle) = handle.take() {
                    let _ = handle.join();
                }
            }
            Runner::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.halt();
    }
}
