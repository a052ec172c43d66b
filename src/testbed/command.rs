//! A broker started from a command template as a target: each instance
//! gets a short private runtime directory, its stderr is kept for the
//! error that explains a failed start, and it is stopped with SIGTERM,
//! then SIGKILL. A v1 broker listens on the `{socket}` the runner picks; a
//! v2 front door ([`Layout::FrontDoor`]) on the socket its environment and
//! `{program}` give (V2N-1), started with spec §13's environment.

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::command_line::split_command;
use super::front_door::{FrontDoorPlaces, Layout, wait_until_bound};
use super::provision::private_dir;
use super::target::{
    BrokerInstance, STARTUP_TIMEOUT, StartOptions, Target, TargetCaps, TargetError, TargetInfo,
    TargetKind, TargetProfile,
};
use crate::sys::{euid, terminate};
use crate::wire::env_vars;

/// How long a terminated broker may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How many lines of a failed broker's stderr its start error quotes.
const STDERR_TAIL_LINES: usize = 10;

/// A request to the launcher thread: a command, and where its spawn result goes.
struct LaunchRequest {
    command: Command,
    reply: mpsc::Sender<std::io::Result<Child>>,
}

/// Spawns children from one long-lived thread: some brokers (upstream's)
/// die with the thread that started them (PR_SET_PDEATHSIG).
struct Launcher {
    requests: Mutex<mpsc::Sender<LaunchRequest>>,
}

impl Launcher {
    fn new() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<LaunchRequest>();
        thread::Builder::new()
            .name("broker-launcher".into())
            .spawn(move || {
                for mut request in rx {
                    let _ = request.reply.send(request.command.spawn());
                }
            })?;
        Ok(Self {
            requests: Mutex::new(tx),
        })
    }

    fn spawn(&self, command: Command) -> std::io::Result<Child> {
        let gone = || std::io::Error::other("the launcher thread is gone");
        let (reply, spawned) = mpsc::channel();
        self.requests
            .lock()
            .map_err(|_| std::io::Error::other("launcher lock poisoned"))?
            .send(LaunchRequest { command, reply })
            .map_err(|_| gone())?;
        spawned.recv().map_err(|_| gone())?
    }
}

/// A broker the runner starts from a command template with `{socket}`,
/// `{service_def_dir}`, `{program}` (front doors) and (for brokers that
/// keep a lifecycle event log) `{event_log}` placeholders.
pub struct CommandTarget {
    args: Vec<String>,
    root: PathBuf,
    profile: TargetProfile,
    /// How reports name it and where its brokers listen (boxed: a target
    /// is held by value in larger values).
    about: Box<About>,
    launcher: Arc<Launcher>,
    counter: AtomicUsize,
}

/// A command target's names and layout.
struct About {
    template: String,
    label: String,
    layout: Layout,
    is_reference: bool,
}

/// What a [`CommandTarget`] is besides its command line.
#[derive(Debug, Clone)]
pub struct CommandSetup<'a> {
    /// The name reports use.
    pub label: &'a str,
    /// The scratch directory instances get their runtime directories in.
    pub root: &'a Path,
    /// The definition directory.
    pub definitions: &'a Path,
    /// The Hello deadline the brokers are given.
    pub hello_timeout: Duration,
    /// The role its brokers play.
    pub kind: TargetKind,
    /// The command starts this crate's own reference broker.
    pub is_reference: bool,
}

impl CommandTarget {
    /// A v1 target for `template` (split like a shell would, without running one).
    pub fn new(
        template: &str,
        label: &str,
        root: &Path,
        definitions: &Path,
        hello_timeout: Duration,
    ) -> Result<Self, TargetError> {
        let setup = CommandSetup {
            label,
            root,
            definitions,
            hello_timeout,
            kind: TargetKind::V1,
            is_reference: false,
        };
        Self::with_setup(template, &setup)
    }

    /// A target for `template` as `setup` describes it.
    pub fn with_setup(template: &str, setup: &CommandSetup<'_>) -> Result<Self, TargetError> {
        let args = split_command(template).map_err(TargetError::Start)?;
        Self::from_args(template, args, setup)
    }

    /// A target for a command line already split into `args`.
    pub fn from_args(
        template: &str,
        args: Vec<String>,
        setup: &CommandSetup<'_>,
    ) -> Result<Self, TargetError> {
        if args.is_empty() {
            return Err(TargetError::Start("the broker command is empty".into()));
        }
        let layout = Layout::for_kind(setup.kind, &args);
        Ok(Self {
            args,
            root: setup.root.to_path_buf(),
            about: Box::new(About {
                template: template.to_owned(),
                label: setup.label.to_owned(),
                layout,
                is_reference: setup.is_reference,
            }),
            profile: TargetProfile {
                kind: setup.kind,
                definitions: setup.definitions.to_path_buf(),
                hello_timeout: setup.hello_timeout,
                caps: TargetCaps {
                    fresh_brokers: true,
                    auth_tokens: false,
                    owns_definitions: true,
                    start_options: true,
                    // A command said to start a launching broker is one (v2 spec §0).
                    http_surface: setup.kind == TargetKind::Launching,
                    processes: true,
                },
            },
            launcher: Arc::new(Launcher::new().map_err(|e| TargetError::Start(e.to_string()))?),
            counter: AtomicUsize::new(0),
        })
    }

    /// The command for one instance, placeholders substituted, `extra`
    /// appended to its arguments and environment.
    fn command(
        &self,
        runtime: &Path,
        socket: &Path,
        event_log: &Path,
        extra: &StartOptions,
    ) -> Command {
        let definitions = &self.profile.definitions;
        let program = self.about.layout.program().unwrap_or_default();
        let substitute = |arg: &str| {
            arg.replace("{socket}", &socket.to_string_lossy())
                .replace("{service_def_dir}", &definitions.to_string_lossy())
                .replace("{event_log}", &event_log.to_string_lossy())
                .replace("{program}", program)
        };
        let mut command = Command::new(substitute(&self.args[0]));
        command
            .args(self.args[1..].iter().map(|a| substitute(a)))
            .args(&extra.args)
            .env("XDG_RUNTIME_DIR", runtime)
            .env(env_vars::SERVICE_DEF_DIR, definitions)
            .env(
                env_vars::HELLO_TIMEOUT_MS,
                self.profile.hello_timeout.as_millis().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if euid() == 0 {
            command.env(env_vars::ALLOW_PRIVILEGED, "1");
        }
        if let Layout::FrontDoor { .. } = self.about.layout {
            // Spec §13: a private HOME, so nothing falls back on the user's own.
            command.env("HOME", runtime.join("home"));
        }
        command.envs(extra.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// A fresh runtime directory for one instance: short and private, so
    /// socket paths stay far below 108 bytes and instances never meet.
    fn runtime_dir(&self) -> Result<PathBuf, TargetError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let runtime = self.root.join(format!("rt{n}"));
        for dir in [runtime.join("run"), runtime.join("home")] {
            private_dir(&dir).map_err(|e| TargetError::Start(e.to_string()))?;
        }
        Ok(runtime)
    }

    /// Spawns the command for `runtime` with `extra`, stderr (and a front
    /// door's stdout) kept in `runtime`.
    fn spawn(
        &self,
        runtime: &Path,
        socket: &Path,
        extra: &StartOptions,
    ) -> Result<(Child, PathBuf, Respawn), TargetError> {
        let mut command = self.command(runtime, socket, &runtime.join("events.log"), extra);
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let log = runtime.join(format!("broker.{n}.log"));
        let respawn = Respawn {
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
                .collect(),
            log: log.clone(),
            launcher: Arc::clone(&self.launcher),
        };
        if let Ok(file) = File::create(&log) {
            command.stderr(file);
        }
        if let Layout::FrontDoor { .. } = self.about.layout {
            command.stdout(Stdio::piped());
        }
        let child = self
            .launcher
            .spawn(command)
            .map_err(|e| TargetError::Start(format!("{}: {e}", self.args[0])))?;
        Ok((child, log, respawn))
    }
}

/// The same command again, for a start after a SIGKILL: its program,
/// arguments and environment as first spawned, stderr appended to its log.
struct Respawn {
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)>,
    log: PathBuf,
    launcher: Arc<Launcher>,
}

impl Respawn {
    fn spawn(&self) -> std::io::Result<Child> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Ok(file) = File::options().append(true).create(true).open(&self.log) {
            command.stderr(file);
        }
        self.launcher.spawn(command)
    }
}

/// A broker process the target started.
struct ChildInstance {
    child: Option<Child>,
    socket: PathBuf,
    /// The log `{event_log}` named, when the template uses it.
    event_log: Option<PathBuf>,
    /// A front door's places.
    front_door: Option<FrontDoorPlaces>,
    /// How to start it again after a kill.
    respawn: Respawn,
}

/// Waits up to `within` for `child` to exit and returns its status; a
/// child still running then is killed and `None` returned.
pub(crate) fn wait_within(mut child: Child, within: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    let (done, exited) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = done.send(());
        status
    });
    // Wait for the exit as an event, bounded; then force it so the waiter ends.
    let in_time = exited.recv_timeout(within).is_ok();
    if !in_time {
        let _ = crate::sys::kill(pid);
    }
    let status = waiter.join().ok().and_then(Result::ok);
    status.filter(|_| in_time)
}

impl BrokerInstance for ChildInstance {
    fn socket(&self) -> &Path {
        &self.socket
    }

    fn event_log(&self) -> Option<&Path> {
        self.event_log.as_deref()
    }

    fn front_door(&self) -> Option<&FrontDoorPlaces> {
        self.front_door.as_ref()
    }

    fn signal_and_wait(
        &mut self,
        signal: Option<rustix::process::Signal>,
        within: Duration,
    ) -> Result<Option<std::process::ExitStatus>, TargetError> {
        let child = self
            .child
            .take()
            .ok_or_else(|| TargetError::Start("the broker was already stopped".into()))?;
        if let Some(signal) = signal {
            crate::sys::signal(child.id(), signal)
                .map_err(|e| TargetError::Start(format!("signalling the broker: {e}")))?;
        }
        Ok(wait_within(child, within))
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child.id());
            let _ = wait_within(child, STOP_GRACE);
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn kill_and_restart(&mut self) -> Result<(), TargetError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let child = self
            .respawn
            .spawn()
            .map_err(|e| TargetError::Start(format!("{}: {e}", self.respawn.program.display())))?;
        let child = self.child.insert(child);
        let socket = self.socket.clone();
        if let Err(why) = wait_until_ready(child, || UnixStream::connect(&socket).is_ok()) {
            let tail = stderr_tail(&self.respawn.log);
            self.stop();
            return Err(TargetError::Start(format!(
                "restarted, it never accepted on {} ({why}); its stderr ends:\n{tail}",
                self.socket.display(),
            )));
        }
        Ok(())
    }
}

/// Waits up to [`STARTUP_TIMEOUT`] for `ready` to hold: `Err` says why not
/// (the child exited, or the time ran out).
fn wait_until_ready(
    child: &mut Child,
    mut ready: impl FnMut() -> bool,
) -> Result<(), &'static str> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Err("it exited");
        }
        if Instant::now() > deadline {
            return Err("timed out");
        }
        // Polling is the only readiness signal an arbitrary broker gives.
        thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for ChildInstance {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Target for CommandTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "command".into(),
            label: self.about.label.clone(),
            command: Some(self.about.template.clone()),
            is_reference: self.about.is_reference,
        }
    }

    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_with(&StartOptions::default())
    }

    fn start_with(&self, extra: &StartOptions) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let runtime = self.runtime_dir()?;
        let front_door = self.about.layout.places(&runtime);
        let socket = front_door.as_ref().map_or_else(
            || runtime.join("run").join("b.sock"),
            |p| p.paths.socket.clone(),
        );
        let event_log = runtime.join("events.log");
        let (mut child, log, respawn) = self.spawn(&runtime, &socket, extra)?;
        let bound = child
            .stdout
            .take()
            .map(|out| wait_until_bound(out, &runtime));
        let mut instance = ChildInstance {
            child: Some(child),
            socket: socket.clone(),
            event_log: self
                .args
                .iter()
                .any(|a| a.contains("{event_log}"))
                .then_some(event_log),
            front_door,
            respawn,
        };
        // A front door says it is bound on stdout (a test connection would
        // use up a `--once`); a v1 broker only by accepting.
        let ready = || match &bound {
            Some(bound) => bound.try_recv().is_ok(),
            None => UnixStream::connect(&socket).is_ok(),
        };
        let waited = match instance.child.as_mut() {
            Some(child) => wait_until_ready(child, ready),
            None => Err("it exited"),
        };
        match waited {
            Ok(()) => Ok(Box::new(instance)),
            Err(why) => {
                instance.stop();
                Err(TargetError::Start(format!(
                    "{} never accepted on {} ({why}); its stderr ends:\n{}",
                    self.about.template,
                    socket.display(),
                    stderr_tail(&log)
                )))
            }
        }
    }

    fn spawn_front_door(
        &self,
        places: &FrontDoorPlaces,
        extra: &StartOptions,
    ) -> Result<Child, TargetError> {
        self.spawn(&places.xdg_runtime, &places.paths.socket, extra)
            .map(|(child, _, _)| child)
    }
}

/// The last lines of a broker's stderr log.
fn stderr_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}
