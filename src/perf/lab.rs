//! A lab: a short private scratch directory with fake-backend services
//! installed and defined, and the servers under measurement started on it
//! — the reference broker and upstream as processes of their own, and the
//! raw baseline. Dropping it kills every backend its brokers launched.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawServer;
use crate::testbed::{
    BrokerInstance, CommandTarget, ProvisionError, Provisioner, ServiceSpec, Target, TargetError,
};

/// The plain echo service (registry hits).
pub const ECHO_SERVICE: &str = "fake-echo";
/// The echo service whose definition asks for handoff (LCH-6).
pub const HANDOFF_SERVICE: &str = "fake-handoff-accept";

/// The Hello deadline the lab's brokers get: long, so held-open idle
/// connections are not closed while they are measured.
const LAB_HELLO_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a lab could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The scratch directory could not be made.
    #[error("creating the lab directory: {0}")]
    Scratch(io::Error),
    /// Installing fake backends or writing definitions failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A broker did not start.
    #[error("{name}: {source}")]
    Broker {
        /// Which broker.
        name: String,
        /// The failure.
        source: TargetError,
    },
}

/// The services every lab defines: an echo backend, and one with handoff.
pub(crate) fn lab_services() -> Vec<ServiceSpec> {
    vec![
        ServiceSpec {
            service: ECHO_SERVICE.into(),
            ..ServiceSpec::default()
        },
        ServiceSpec {
            service: HANDOFF_SERVICE.into(),
            labels: BTreeMap::from([("handoff".to_owned(), "1".to_owned())]),
            ..ServiceSpec::default()
        },
    ]
}

/// A scratch directory with services provisioned.
#[derive(Debug)]
pub struct Lab {
    scratch: tempfile::TempDir,
    provisioner: Provisioner,
}

impl Lab {
    /// A lab whose services run `fake_backend` (a `fake-backend`
    /// executable, or `broker-conformance`, which runs as one when so named).
    pub fn new(fake_backend: &Path) -> Result<Self, LabError> {
        // Short, so socket paths stay far below 108 bytes.
        let scratch = tempfile::Builder::new()
            .prefix("bl.")
            .tempdir_in("/tmp")
            .map_err(LabError::Scratch)?;
        let provisioner = Provisioner::new(
            &scratch.path().join("i"),
            fake_backend,
            &scratch.path().join("d"),
        )?;
        provisioner.write_all(&lab_services())?;
        Ok(Self {
            scratch,
            provisioner,
        })
    }

    /// A path inside the lab.
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// The service definition directory.
    pub fn definitions(&self) -> &Path {
        self.provisioner.definitions()
    }

    /// The reference broker as a process of its own: `EXE serve`.
    pub fn start_reference(&self, exe: &Path) -> Result<LabBroker, LabError> {
        let template = format!(
            "{} serve --socket {{socket}} --service-def-dir {{service_def_dir}} --log-level warn",
            quoted(exe)
        );
        self.start_command("reference", &template)
    }

    /// Upstream `running-process-broker-v1 --serve-launch`.
    pub fn start_upstream(&self, exe: &Path) -> Result<LabBroker, LabError> {
        let template = format!(
            "{} --serve-launch {{socket}} --service-def-dir {{service_def_dir}}",
            quoted(exe)
        );
        self.start_command("upstream", &template)
    }

    /// Any broker from a command template (`{socket}`, `{service_def_dir}`).
    pub fn start_command(&self, name: &str, template: &str) -> Result<LabBroker, LabError> {
        let fail = |source| LabError::Broker {
            name: name.to_owned(),
            source,
        };
        let target = CommandTarget::new(
            template,
            name,
            &self.path(name),
            self.definitions(),
            LAB_HELLO_TIMEOUT,
        )
        .map_err(fail)?;
        let instance = target.start().map_err(fail)?;
        Ok(LabBroker {
            name: name.to_owned(),
            instance,
            _target: target,
        })
    }

    /// The raw baseline as a process of its own (`EXE raw-server`, EXE
    /// being `broker-conformance`), answering every request with `reply`
    /// from `workers` threads: compared with broker processes on equal terms.
    pub fn start_raw(
        &self,
        exe: &Path,
        reply: &[u8],
        workers: usize,
    ) -> Result<LabBroker, LabError> {
        let template = format!(
            "{} raw-server --socket {{socket}} --workers {workers} --reply-hex {} --fd-socket {}",
            quoted(exe),
            crate::inspect::hex::to_hex(reply),
            quoted(&self.raw_fd_socket()),
        );
        self.start_command("raw", &template)
    }

    /// Where the process of [`start_raw`](Self::start_raw) receives
    /// descriptor passes (the raw half of a handoff).
    pub fn raw_fd_socket(&self) -> PathBuf {
        self.path("fd.sock")
    }

    /// The raw baseline as threads of this process (cheaper to switch to
    /// than a process: use [`start_raw`](Self::start_raw) for comparisons).
    pub fn raw_server(&self, reply: Vec<u8>, workers: usize) -> io::Result<RawServer> {
        RawServer::start(&self.path("raw.sock"), reply, workers)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.provisioner.kill_all_backends();
    }
}

/// A broker process started by a [`Lab`]; stopped when dropped.
pub struct LabBroker {
    name: String,
    instance: Box<dyn BrokerInstance>,
    // Last: some brokers die with the thread that started them, which the
    // target owns, so it must outlive the instance.
    _target: CommandTarget,
}

impl std::fmt::Debug for LabBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabBroker")
            .field("name", &self.name)
            .field("socket", &self.socket())
            .finish()
    }
}

impl LabBroker {
    /// How reports name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        self.instance.socket()
    }

    /// Its process id, from the credentials of a connection to it.
    pub fn pid(&self) -> Option<u32> {
        server_pid(self.socket())
    }
}

impl Drop for LabBroker {
    fn drop(&mut self) {
        self.instance.stop();
    }
}

/// How long asking a server's pid may wait for room in its backlog.
const PID_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pid of the process listening on `socket` (SO_PEERCRED of a connection).
pub fn server_pid(socket: &Path) -> Option<u32> {
    let stream = crate::sys::connect_unix_within(socket, PID_CONNECT_TIMEOUT).ok()?;
    crate::sys::peer_credentials(&stream).ok().map(|c| c.pid)
}

/// `path` quoted for a command template.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
