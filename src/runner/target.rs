//! What the runner tests: the built-in reference broker, a broker it starts
//! from a command template, or one already running. A target hands out
//! broker instances: one shared by most cases, and fresh ones for cases
//! that need a broker of their own.

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::model::TargetInfo;
use super::provision::private_dir;
use crate::broker::EmbeddedBroker;
use crate::sys::{euid, terminate};
use crate::wire::env_vars;

/// How long a started broker may take before its socket accepts.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A target that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Starting a broker failed.
    #[error("starting the broker: {0}")]
    Start(String),
    /// The target cannot start a broker of its own.
    #[error("this target cannot start a fresh broker")]
    NoFreshBroker,
    /// The target cannot start a broker that requires an auth token.
    #[error("this target cannot configure auth tokens")]
    NoAuthTokens,
}

/// One running broker.
pub trait BrokerInstance: Send + Sync {
    /// Its socket.
    fn socket(&self) -> &Path;
    /// Its lifecycle event log, when the runner knows it.
    fn event_log(&self) -> Option<&Path>;
    /// Stops it (waiting for it), unless it belongs to someone else.
    fn stop(&mut self);
}

/// What the runner tests.
pub trait Target: Send + Sync {
    /// How reports name it.
    fn info(&self) -> TargetInfo;
    /// Starts a broker instance (the shared one, or a fresh one).
    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError>;
    /// Whether `start` may be called more than once.
    fn can_start_fresh(&self) -> bool;
    /// Starts a fresh broker that accepts only Hellos carrying `token`
    /// (HEL-12). Targets that cannot configure tokens say so.
    fn start_requiring_token(&self, token: &[u8]) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let _ = token;
        Err(TargetError::NoAuthTokens)
    }
    /// Whether [`start_requiring_token`](Self::start_requiring_token) works.
    fn can_require_token(&self) -> bool {
        false
    }
    /// The service definition directory its brokers read.
    fn definitions(&self) -> &Path;
    /// Whether the runner wrote those definitions and may change them.
    fn owns_definitions(&self) -> bool;
    /// The Hello deadline its brokers apply (FRM-9).
    fn hello_timeout(&self) -> Duration;
}

/// The built-in reference broker, in this process.
pub struct BuiltInTarget {
    definitions: PathBuf,
    hello_timeout: Duration,
}

impl BuiltInTarget {
    /// Brokers reading `definitions`, with this Hello deadline.
    pub fn new(definitions: &Path, hello_timeout: Duration) -> Self {
        Self {
            definitions: definitions.to_path_buf(),
            hello_timeout,
        }
    }
}

struct EmbeddedInstance(Option<EmbeddedBroker>, PathBuf);

impl BrokerInstance for EmbeddedInstance {
    fn socket(&self) -> &Path {
        &self.1
    }

    fn event_log(&self) -> Option<&Path> {
        self.0.as_ref().and_then(EmbeddedBroker::event_log)
    }

    fn stop(&mut self) {
        if let Some(broker) = self.0.take() {
            let _ = broker.shutdown_with(Duration::from_millis(500));
        }
    }
}

impl BuiltInTarget {
    fn start_with(&self, token: Option<&[u8]>) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let mut builder = EmbeddedBroker::builder()
            .service_def_dir(&self.definitions)
            .hello_timeout(self.hello_timeout);
        if let Some(token) = token {
            builder = builder.auth_token(token);
        }
        let broker = builder
            .start()
            .map_err(|e| TargetError::Start(e.to_string()))?;
        let socket = broker.endpoint().to_path_buf();
        Ok(Box::new(EmbeddedInstance(Some(broker), socket)))
    }
}

impl Target for BuiltInTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "built-in".into(),
            label: "reference".into(),
            command: None,
            is_reference: true,
        }
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_with(None)
    }

    fn can_start_fresh(&self) -> bool {
        true
    }

    fn start_requiring_token(&self, token: &[u8]) -> Result<Box<dyn BrokerInstance>, TargetError> {
        self.start_with(Some(token))
    }

    fn can_require_token(&self) -> bool {
        true
    }

    fn definitions(&self) -> &Path {
        &self.definitions
    }

    fn owns_definitions(&self) -> bool {
        true
    }

    fn hello_timeout(&self) -> Duration {
        self.hello_timeout
    }
}

/// A request to the launcher thread.
type Launch = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns children from one long-lived thread: some brokers (upstream's)
/// die with the thread that started them (PR_SET_PDEATHSIG).
struct Launcher {
    requests: Mutex<mpsc::Sender<Launch>>,
}

impl Launcher {
    fn new() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Launch>();
        thread::Builder::new()
            .name("broker-launcher".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Self {
            requests: Mutex::new(tx),
        })
    }

    fn spawn(&self, command: Command) -> std::io::Result<Child> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .map_err(|_| std::io::Error::other("launcher lock poisoned"))?
            .send((command, tx))
            .map_err(|_| std::io::Error::other("the launcher thread is gone"))?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the launcher thread is gone"))?
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
    definitions: PathBuf,
    hello_timeout: Duration,
    launcher: Launcher,
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
            definitions: definitions.to_path_buf(),
            hello_timeout,
            launcher: Launcher::new().map_err(|e| TargetError::Start(e.to_string()))?,
            counter: AtomicUsize::new(0),
        })
    }
}

struct ChildInstance {
    child: Option<Child>,
    socket: PathBuf,
    /// The log `{event_log}` named, when the template uses it.
    event_log: Option<PathBuf>,
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
            if exited.recv_timeout(Duration::from_secs(2)).is_err() {
                let _ = crate::sys::kill(pid);
            }
            let _ = waiter.join();
        }
        let _ = std::fs::remove_file(&self.socket);
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

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        // A short private runtime directory per instance: socket paths stay
        // far below 108 bytes, and instances never meet.
        let runtime = self.root.join(format!("rt{n}"));
        let run = runtime.join("run");
        private_dir(&run).map_err(|e| TargetError::Start(e.to_string()))?;
        let socket = run.join("b.sock");
        let event_log = runtime.join("events.log");
        let substitute = |arg: &str| {
            arg.replace("{socket}", &socket.to_string_lossy())
                .replace("{service_def_dir}", &self.definitions.to_string_lossy())
                .replace("{event_log}", &event_log.to_string_lossy())
        };
        let mut command = Command::new(substitute(&self.args[0]));
        command
            .args(self.args[1..].iter().map(|a| substitute(a)))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env(env_vars::SERVICE_DEF_DIR, &self.definitions)
            .env(
                env_vars::HELLO_TIMEOUT_MS,
                self.hello_timeout.as_millis().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if euid() == 0 {
            command.env(env_vars::ALLOW_PRIVILEGED, "1");
        }
        let log = runtime.join("broker.log");
        if let Ok(file) = File::create(&log) {
            command.stderr(file);
        }
        let child = self
            .launcher
            .spawn(command)
            .map_err(|e| TargetError::Start(format!("{}: {e}", self.args[0])))?;
        let mut instance = ChildInstance {
            child: Some(child),
            socket: socket.clone(),
            event_log: self
                .args
                .iter()
                .any(|a| a.contains("{event_log}"))
                .then_some(event_log),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if UnixStream::connect(&socket).is_ok() {
                return Ok(Box::new(instance));
            }
            let exited = instance
                .child
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited == Some(true) || Instant::now() > deadline {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                instance.stop();
                return Err(TargetError::Start(format!(
                    "{} never accepted on {} ({}); its stderr ends:\n{}",
                    self.template,
                    socket.display(),
                    if exited == Some(true) {
                        "it exited"
                    } else {
                        "timed out"
                    },
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            // Polling is the only readiness signal an arbitrary broker gives.
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn can_start_fresh(&self) -> bool {
        true
    }

    fn definitions(&self) -> &Path {
        &self.definitions
    }

    fn owns_definitions(&self) -> bool {
        true
    }

    fn hello_timeout(&self) -> Duration {
        self.hello_timeout
    }
}

/// A broker already running at a socket, reading a known definition directory.
pub struct EndpointTarget {
    socket: PathBuf,
    definitions: PathBuf,
    hello_timeout: Duration,
    label: String,
    started: Arc<AtomicUsize>,
}

impl EndpointTarget {
    /// The broker at `socket` reading `definitions`.
    pub fn new(socket: &Path, definitions: &Path, hello_timeout: Duration, label: &str) -> Self {
        Self {
            socket: socket.to_path_buf(),
            definitions: definitions.to_path_buf(),
            hello_timeout,
            label: label.to_owned(),
            started: Arc::default(),
        }
    }
}

struct BorrowedInstance(PathBuf);

impl BrokerInstance for BorrowedInstance {
    fn socket(&self) -> &Path {
        &self.0
    }

    fn event_log(&self) -> Option<&Path> {
        None
    }

    fn stop(&mut self) {}
}

impl Target for EndpointTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "endpoint".into(),
            label: self.label.clone(),
            command: None,
            is_reference: false,
        }
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        if self.started.fetch_add(1, Ordering::SeqCst) > 0 {
            return Err(TargetError::NoFreshBroker);
        }
        UnixStream::connect(&self.socket).map_err(|e| {
            TargetError::Start(format!(
                "no broker accepts on {}: {e}",
                self.socket.display()
            ))
        })?;
        Ok(Box::new(BorrowedInstance(self.socket.clone())))
    }

    fn can_start_fresh(&self) -> bool {
        false
    }

    fn definitions(&self) -> &Path {
        &self.definitions
    }

    fn owns_definitions(&self) -> bool {
        false
    }

    fn hello_timeout(&self) -> Duration {
        self.hello_timeout
    }
}

/// Splits a command line into words like a POSIX shell would for quoting
/// (`'…'`, `"…"`, backslash), without expansions or operators.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => {
                            return Err("unterminated single quote in the broker command".into());
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(
                                    "unterminated double quote in the broker command".into()
                                );
                            }
                        },
                        Some(c) => word.push(c),
                        None => {
                            return Err("unterminated double quote in the broker command".into());
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash in the broker command".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_would() {
        assert_eq!(
            split_command(r#"broker --socket {socket} --name 'a b' "c \"d\"" e\ f"#),
            Ok(vec![
                "broker".into(),
                "--socket".into(),
                "{socket}".into(),
                "--name".into(),
                "a b".into(),
                "c \"d\"".into(),
                "e f".into()
            ])
        );
        assert!(split_command("a 'b").is_err());
        assert_eq!(split_command("  "), Ok(vec![]));
    }
}
