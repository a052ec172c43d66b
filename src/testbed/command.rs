//! A broker started from a command template as a target: each instance
//! gets a short private runtime directory, its stderr is kept for the
//! error that explains a failed start, and it is stopped with SIGTERM,
//! then SIGKILL.

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::command_line::split_command;
use super::provision::private_dir;
use super::target::{
    BrokerInstance, STARTUP_TIMEOUT, Target, TargetCaps, TargetError, TargetInfo, TargetProfile,
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
/// `{service_def_dir}` and (for brokers that keep a lifecycle event log)
/// `{event_log}` placeholders.
pub struct CommandTarget {
    template: String,
    args: Vec<String>,
    label: String,
    root: PathBuf,
    profile: TargetProfile,
    launcher: Arc<Launcher>,
    counter: AtomicUsize,
}

impl CommandTarget {
    /// A target for `template` (split like a shell would, without running one).
    pub fn new(
        template: &str,
        label: &str,
        root: &Path,
        definitions: &Path,
        hello_timeout: Duration,
    ) -> Result<Self, TargetError> {
        let args = split_command(template).map_err(TargetError::Start)?;
        if args.is_empty() {
            return Err(TargetError::Start("the broker command is empty".into()));
        }
        Ok(Self {
            template: template.to_owned(),
            args,
            label: label.to_owned(),
            root: root.to_path_buf(),
            profile: TargetProfile {
                definitions: definitions.to_path_buf(),
                hello_timeout,
                caps: TargetCaps {
                    fresh_brokers: true,
                    auth_tokens: false,
                    owns_definitions: true,
                },
            },
            launcher: Arc::new(Launcher::new().map_err(|e| TargetError::Start(e.to_string()))?),
            counter: AtomicUsize::new(0),
        })
    }

    /// The command line for one instance, placeholders substituted.
    fn recipe(&self, runtime: &Path, socket: &Path, event_log: &Path) -> Recipe {
        let definitions = &self.profile.definitions;
        let substitute = |arg: &str| {
            arg.replace("{socket}", &socket.to_string_lossy())
                .replace("{service_def_dir}", &definitions.to_string_lossy())
                .replace("{event_log}", &event_log.to_string_lossy())
        };
        let mut env = vec![
            (
                "XDG_RUNTIME_DIR".to_owned(),
                runtime.to_string_lossy().into_owned(),
            ),
            (
                env_vars::SERVICE_DEF_DIR.to_owned(),
                definitions.to_string_lossy().into_owned(),
            ),
            (
                env_vars::HELLO_TIMEOUT_MS.to_owned(),
                self.profile.hello_timeout.as_millis().to_string(),
            ),
        ];
        if euid() == 0 {
            env.push((env_vars::ALLOW_PRIVILEGED.to_owned(), "1".to_owned()));
        }
        Recipe {
            args: self.args.iter().map(|a| substitute(a)).collect(),
            env,
            log: runtime.join("broker.log"),
            template: self.template.clone(),
        }
    }
}

/// How to start one instance, again after a kill: the substituted command
/// line, its environment, and the file its stderr goes to.
struct Recipe {
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    template: String,
}

impl Recipe {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.args[0]);
        command
            .args(&self.args[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // Appending: a restarted broker's stderr follows its predecessor's.
        if let Ok(file) = File::options().create(true).append(true).open(&self.log) {
            command.stderr(file);
        }
        command
    }
}

/// A broker process the target started.
struct ChildInstance {
    child: Option<Child>,
    socket: PathBuf,
    /// The log `{event_log}` named, when the template uses it.
    event_log: Option<PathBuf>,
    recipe: Recipe,
    launcher: Arc<Launcher>,
}

impl ChildInstance {
    /// Starts the process and waits until its socket accepts.
    fn spawn(&mut self) -> Result<(), TargetError> {
        let child = self
            .launcher
            .spawn(self.recipe.command())
            .map_err(|e| TargetError::Start(format!("{}: {e}", self.recipe.args[0])))?;
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                self.stop();
                return Err(TargetError::Start(format!(
                    "{} never accepted on {} ({}); its stderr ends:\n{}",
                    self.recipe.template,
                    self.socket.display(),
                    if exited { "it exited" } else { "timed out" },
                    stderr_tail(&self.recipe.log)
                )));
            }
            // Polling is the only readiness signal an arbitrary broker gives.
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl BrokerInstance for ChildInstance {
    fn socket(&self) -> &Path {
        &self.socket
    }

    fn event_log(&self) -> Option<&Path> {
        self.event_log.as_deref()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let _ = terminate(pid);
            // Wait for the exit as an event, bounded; then force it.
            let (done, exited) = mpsc::channel();
            let waiter = thread::spawn(move || {
                let status = child.wait();
                let _ = done.send(());
                (child, status)
            });
            if exited.recv_timeout(STOP_GRACE).is_err() {
                let _ = crate::sys::kill(pid);
            }
            let _ = waiter.join();
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
        self.spawn()
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
            label: self.label.clone(),
            command: Some(self.template.clone()),
            is_reference: false,
        }
    }

    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        // A short private runtime directory per instance: socket paths stay
        // far below 108 bytes, and instances never meet.
        let runtime = self.root.join(format!("rt{n}"));
        let run = runtime.join("run");
        private_dir(&run).map_err(|e| TargetError::Start(e.to_string()))?;
        let socket = run.join("b.sock");
        let event_log = runtime.join("events.log");
        let mut instance = ChildInstance {
            child: None,
            socket: socket.clone(),
            event_log: self
                .args
                .iter()
                .any(|a| a.contains("{event_log}"))
                .then_some(event_log.clone()),
            recipe: self.recipe(&runtime, &socket, &event_log),
            launcher: Arc::clone(&self.launcher),
        };
        instance.spawn()?;
        Ok(Box::new(instance))
    }
}

/// The last lines of a broker's stderr log.
fn stderr_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}
