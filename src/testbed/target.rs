//! What a run tests: a target hands out broker instances (one shared by
//! most cases, fresh ones for cases that need a broker of their own) and
//! says, in one [`TargetProfile`], what it can do.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::front_door::FrontDoorPlaces;
pub use super::kind::TargetKind;

/// How long a started broker may take before its socket accepts.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// What was tested, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `built-in`, `command` or `endpoint`.
    pub kind: String,
    /// A name for reports (`reference`, or the implementation named by the user).
    pub label: String,
    /// The command line, for command targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Whether REF cases count as MUST.
    pub is_reference: bool,
}

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
    /// The target cannot add arguments or environment to a broker's start.
    #[error("this target cannot start a broker with extra arguments or environment")]
    NoStartOptions,
    /// The broker is not a process the runner started.
    #[error("the broker is not a process the runner started")]
    NotAProcess,
}

/// One running broker.
pub trait BrokerInstance: Send + Sync {
    /// Its socket.
    fn socket(&self) -> &Path;
    /// Its lifecycle event log, when the runner knows it.
    fn event_log(&self) -> Option<&Path>;
    /// A front door's places (v2), for front doors.
    fn front_door(&self) -> Option<&FrontDoorPlaces> {
        None
    }
    /// Sends `signal` (if any) to its process and waits up to `within` for
    /// it to exit: its exit status, `None` when it did not exit in time (it
    /// is then killed). Only for brokers that are processes the runner started.
    fn signal_and_wait(
        &mut self,
        signal: Option<rustix::process::Signal>,
        within: Duration,
    ) -> Result<Option<ExitStatus>, TargetError> {
        let _ = (signal, within);
        Err(TargetError::NotAProcess)
    }
    /// Stops it (waiting for it), unless it belongs to someone else.
    fn stop(&mut self);
    /// Its process id, when it is a process the runner started (the
    /// stress tool's accounting and fd limits need it).
    fn pid(&self) -> Option<u32> {
        None
    }
    /// Kills it with SIGKILL (no clean-up: its socket file stays behind)
    /// and starts it again on the same socket path, returning once the
    /// socket accepts (SEC-6's stale-socket take-over).
    fn kill_and_restart(&mut self) -> Result<(), TargetError> {
        Err(TargetError::NotAProcess)
    }
}

/// Arguments and environment added to a broker's command line for one
/// start (cases that start their broker with options, e.g. `--http-port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Appended to the command's arguments.
    pub args: Vec<String>,
    /// Set in its environment (after the runner's own variables).
    pub env: Vec<(String, String)>,
}

impl StartOptions {
    /// True when it adds nothing.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty() && self.env.is_empty()
    }
}

/// What a target can do beyond starting its one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCaps {
    /// [`Target::start`] may be called more than once (fresh brokers).
    pub fresh_brokers: bool,
    /// [`Target::start_requiring_token`] works (HEL-12).
    pub auth_tokens: bool,
    /// The runner wrote the definitions its brokers read and may change them.
    pub owns_definitions: bool,
    /// [`Target::start_with`] adds arguments and environment to a fresh broker.
    pub start_options: bool,
    /// Its launching brokers serve the v2 HTTP surface and control RPCs
    /// (V2W, V2R) when started with `--http-port`.
    pub http_surface: bool,
    /// Its fresh brokers are processes the runner started
    /// ([`BrokerInstance::pid`]).
    pub processes: bool,
}

/// The facts every target states: its kind, its brokers' definition
/// directory, their Hello deadline (FRM-9), and its capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProfile {
    /// The role its brokers play.
    pub kind: TargetKind,
    /// The service definition directory its brokers read.
    pub definitions: PathBuf,
    /// The Hello deadline its brokers apply (FRM-9).
    pub hello_timeout: Duration,
    /// What it can do.
    pub caps: TargetCaps,
}

/// What a run tests.
pub trait Target: Send + Sync {
    /// How reports name it.
    fn info(&self) -> TargetInfo;
    /// Its definition directory, Hello deadline and capabilities.
    fn profile(&self) -> &TargetProfile;
    /// Starts a broker instance (the shared one, or a fresh one).
    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError>;
    /// Starts a fresh broker that accepts only Hellos carrying `token`
    /// (HEL-12), when [`TargetCaps::auth_tokens`] says it can.
    fn start_requiring_token(&self, token: &[u8]) -> Result<Box<dyn BrokerInstance>, TargetError> {
        let _ = token;
        Err(TargetError::NoAuthTokens)
    }
    /// Starts a fresh broker with `extra` arguments and environment.
    fn start_with(&self, extra: &StartOptions) -> Result<Box<dyn BrokerInstance>, TargetError> {
        match extra.is_empty() {
            true => self.start(),
            false => Err(TargetError::NoStartOptions),
        }
    }
    /// Spawns one more front door process in `places` with `extra` (a
    /// second start, a stale-socket takeover), for front-door targets.
    fn spawn_front_door(
        &self,
        places: &FrontDoorPlaces,
        extra: &StartOptions,
    ) -> Result<Child, TargetError> {
        let _ = (places, extra);
        Err(TargetError::NotAProcess)
    }
}
