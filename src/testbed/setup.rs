//! A testbed: what to test ([`BrokerUnderTest`]), set up in a short
//! private scratch directory with the suite's services provisioned and the
//! target ready to start brokers. The CLI's `run` and the library harness
//! both start here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::built_in::BuiltInTarget;
use super::command::{CommandSetup, CommandTarget};
use super::endpoint::EndpointTarget;
use super::provision::{ProvisionError, Provisioner, private_dir};
use super::services::ServiceSpec;
use super::target::{Target, TargetError, TargetKind};

/// The Hello deadline given to the built-in broker (FRM-9 cases wait it out).
pub const BUILT_IN_HELLO_TIMEOUT: Duration = Duration::from_millis(1000);

/// The Hello deadline given to brokers started from a command: longer,
/// because a broker may count a launch against it (upstream's covers the
/// whole connection, the reply to a slow launch included).
pub const COMMAND_HELLO_TIMEOUT: Duration = Duration::from_millis(3000);

/// The spec's default Hello deadline (FRM-9), assumed for a running broker.
pub const SPEC_HELLO_TIMEOUT: Duration = Duration::from_millis(30_000);

/// The broker a run tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerUnderTest {
    /// The built-in reference broker, in this process.
    BuiltIn,
    /// A broker started from a command template (`{socket}`,
    /// `{service_def_dir}`, `{event_log}` substituted).
    Command {
        /// The template.
        template: String,
    },
    /// A broker already listening at `socket`, reading `definitions`
    /// (the suite's services are written there).
    Endpoint {
        /// Its socket.
        socket: PathBuf,
        /// Its service definition directory.
        definitions: PathBuf,
    },
}

impl BrokerUnderTest {
    /// The built-in reference broker.
    pub fn built_in() -> Self {
        Self::BuiltIn
    }

    /// A broker started from `template`, e.g.
    /// `my-broker --listen {socket} --defs {service_def_dir}`.
    pub fn command(template: impl Into<String>) -> Self {
        Self::Command {
            template: template.into(),
        }
    }

    /// A broker already listening at `socket`, reading `definitions`.
    pub fn endpoint(socket: impl Into<PathBuf>, definitions: impl Into<PathBuf>) -> Self {
        Self::Endpoint {
            socket: socket.into(),
            definitions: definitions.into(),
        }
    }

    /// The Hello deadline assumed when none is given.
    pub fn default_hello_timeout(&self) -> Duration {
        match self {
            Self::BuiltIn => BUILT_IN_HELLO_TIMEOUT,
            Self::Command { .. } => COMMAND_HELLO_TIMEOUT,
            Self::Endpoint { .. } => SPEC_HELLO_TIMEOUT,
        }
    }

    /// The kind assumed when none is given: the built-in reference broker
    /// is a launching broker; any other broker is judged as v1.
    pub fn default_kind(&self) -> TargetKind {
        match self {
            Self::BuiltIn => TargetKind::Launching,
            Self::Command { .. } | Self::Endpoint { .. } => TargetKind::V1,
        }
    }

    /// The name reports use when none is given: `reference`, the command's
    /// program, or `endpoint`.
    pub fn default_label(&self) -> String {
        match self {
            Self::BuiltIn => "reference".into(),
            Self::Command { template } => template
                .split_whitespace()
                .next()
                .and_then(|p| Path::new(p).file_name())
                .map_or_else(|| "broker".into(), |n| n.to_string_lossy().into_owned()),
            Self::Endpoint { .. } => "endpoint".into(),
        }
    }
}

/// How a testbed is set up beyond what it tests.
#[derive(Debug, Clone)]
pub struct TestbedOptions {
    /// The name reports use [default: [`BrokerUnderTest::default_label`]].
    pub label: Option<String>,
    /// The brokers' Hello deadline [default: [`BrokerUnderTest::default_hello_timeout`]].
    pub hello_timeout: Option<Duration>,
    /// The definition directory the services are written to and started
    /// brokers read [default: the endpoint's, else one in the scratch directory].
    pub definitions: Option<PathBuf>,
    /// The executable installed as every service's backend: a
    /// `fake-backend`, or a program that runs as one when so named.
    pub fake_backend: PathBuf,
    /// The role the brokers play [default: [`BrokerUnderTest::default_kind`]];
    /// [`TargetKind::FrontDoor`] with [`BrokerUnderTest::BuiltIn`] starts
    /// the reference front door (`<cli> serve --v2 --program {program}`).
    pub kind: Option<TargetKind>,
    /// The executable that, named `broker-conformance`, is the CLI: steps
    /// run as another uid start it (`hello`) from a directory that uid can
    /// enter, whatever the modes of the directories it is installed in.
    pub cli: PathBuf,
    /// A command or endpoint target is this crate's reference broker
    /// (`broker-conformance serve`), so REF cases bind it as they bind the
    /// built-in one; the built-in broker always is.
    pub is_reference: bool,
}

/// The name the CLI answers to (see [`TestbedOptions::cli`]).
pub const CLI_NAME: &str = "broker-conformance";

/// Why a testbed could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// The scratch directory could not be made.
    #[error("creating the scratch directory: {0}")]
    Scratch(std::io::Error),
    /// Installing fake backends or writing definitions failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The target is unusable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The CLI could not be placed where another uid can start it.
    #[error("placing {path} for peers of another uid: {source}")]
    PeerCli {
        /// The executable.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// A scratch directory with services provisioned and a target on it.
pub struct Testbed {
    // Dropped in this order: the scratch directory goes last.
    target: Arc<dyn Target>,
    provisioner: Arc<Provisioner>,
    peer_cli: PathBuf,
    _peer_dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl Testbed {
    /// Provisions `services` for `what` in a fresh scratch directory under `/tmp`.
    pub fn set_up(
        what: &BrokerUnderTest,
        services: &[ServiceSpec],
        options: &TestbedOptions,
    ) -> Result<Self, TestbedError> {
        // Short, so socket paths stay far below 108 bytes.
        let scratch = tempfile::Builder::new()
            .prefix("bc.")
            .tempdir_in("/tmp")
            .map_err(TestbedError::Scratch)?;
        private_dir(scratch.path())?;
        let definitions = match what {
            BrokerUnderTest::Endpoint { definitions, .. } => definitions.clone(),
            _ => options
                .definitions
                .clone()
                .unwrap_or_else(|| scratch.path().join("defs")),
        };
        let provisioner = Provisioner::new(scratch.path(), &options.fake_backend, &definitions)?;
        provisioner.write_all(services)?;
        let hello_timeout = options
            .hello_timeout
            .unwrap_or_else(|| what.default_hello_timeout())
            .max(Duration::from_millis(1));
        let label = options
            .label
            .clone()
            .unwrap_or_else(|| what.default_label());
        let kind = options.kind.unwrap_or_else(|| what.default_kind());
        let setup = CommandSetup {
            label: &label,
            root: scratch.path(),
            definitions: &definitions,
            hello_timeout,
            kind,
            is_reference: options.is_reference || *what == BrokerUnderTest::BuiltIn,
        };
        let target: Arc<dyn Target> = match what {
            BrokerUnderTest::BuiltIn if kind == TargetKind::FrontDoor => {
                Arc::new(reference_front_door(&options.cli, &setup)?)
            }
            BrokerUnderTest::BuiltIn => {
                Arc::new(BuiltInTarget::new(&definitions, hello_timeout, kind))
            }
            BrokerUnderTest::Command { template } => {
                Arc::new(CommandTarget::with_setup(template, &setup)?)
            }
            BrokerUnderTest::Endpoint { socket, .. } => Arc::new(EndpointTarget::new(
                socket,
                &definitions,
                hello_timeout,
                &label,
                kind,
            )),
        };
        let (peer_dir, peer_cli) =
            place_for_peers(&options.cli).map_err(|source| TestbedError::PeerCli {
                path: options.cli.clone(),
                source,
            })?;
        Ok(Self {
            target,
            provisioner: Arc::new(provisioner),
            peer_cli,
            _peer_dir: peer_dir,
            scratch,
        })
    }

    /// The target.
    pub fn target(&self) -> Arc<dyn Target> {
        Arc::clone(&self.target)
    }

    /// The provisioner of the services.
    pub fn provisioner(&self) -> Arc<Provisioner> {
        Arc::clone(&self.provisioner)
    }

    /// The CLI as peers of another uid start it.
    pub fn peer_cli(&self) -> &Path {
        &self.peer_cli
    }

    /// Keeps the scratch directory after the testbed is gone; returns where it is.
    pub fn keep(self) -> PathBuf {
        self.scratch.keep()
    }
}

/// The reference front door as a command target: this crate's CLI,
/// `serve --v2 --program {program}` (v2 spec §13's options).
fn reference_front_door(
    cli: &Path,
    setup: &CommandSetup<'_>,
) -> Result<CommandTarget, TargetError> {
    let args: Vec<String> = [
        cli.to_string_lossy().as_ref(),
        "serve",
        "--v2",
        "--program",
        "{program}",
    ]
    .map(str::to_owned)
    .to_vec();
    CommandTarget::from_args(
        &format!("{CLI_NAME} serve --v2 --program {{program}}"),
        args,
        setup,
    )
}

/// A directory anyone may enter (0755) holding `exe` as `broker-conformance`
/// (a hard link, else a copy): the CLI for peers of another uid, even when
/// `exe` lives below a private directory such as `/root/.cargo/bin`.
fn place_for_peers(exe: &Path) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new().prefix("bp.").tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let placed = dir.path().join(CLI_NAME);
    if std::fs::hard_link(exe, &placed).is_err() {
        std::fs::copy(exe, &placed)?;
    }
    Ok((dir, placed))
}
