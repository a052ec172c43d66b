//! Starting a front door (v2 spec §1, §2): the root check (V2L-4), the
//! program name (V2N-3), the directories and the socket as SEC-2 prescribes
//! (V2N-4, through the launching broker's own code), the singleton (V2L-1)
//! and stale takeover (V2L-2), and the pieces the connections share.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::listing::ListedServices;
use super::options::{FrontDoorOptions, FrontDoorSettings};
use crate::broker::hello::{Door, HelloPolicy};
use crate::broker::lifecycle::Lifecycle;
use crate::broker::security::{self, SecurityError};
use crate::definitions::ServiceDefinitionLoader;
use crate::env::EnvSource;
use crate::http::{BindPlan, HttpSurface, StatusSource};
use crate::paths::{FrontDoorPaths, boot_id, machine_id};
use crate::sys::euid;
use crate::wire::grammar::GrammarError;
use crate::wire::validate_program_name;

/// Exit status when the path is already served (V2L-1).
pub const EXIT_IN_USE: u8 = 75;
/// Exit status for root without the opt-in (V2L-4).
pub const EXIT_PRIVILEGED: u8 = 77;
/// Exit status of any other startup or serve failure (V2L-4).
pub const EXIT_FAILURE: u8 = 1;

/// Why a front door could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum FrontDoorError {
    /// Root check, directories, socket (V2L-1, V2L-4, V2N-4).
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// `P` breaks `^[a-z0-9-]{1,64}$` (V2N-3).
    #[error("invalid program name {program:?}: {source} (V2N-3)")]
    Program {
        /// The name given.
        program: String,
        /// What is wrong with it.
        source: GrammarError,
    },
    /// Neither `RUNNING_PROCESS_SERVICE_DEF_DIR` nor a home directory (V2D-1).
    #[error("no service definition directory: set RUNNING_PROCESS_SERVICE_DEF_DIR or HOME (V2D-1)")]
    NoDefinitionDir,
    /// Another step failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

impl FrontDoorError {
    /// The exit status V2L-4 gives this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Security(SecurityError::Privileged) => EXIT_PRIVILEGED,
            Self::Security(SecurityError::InUse(_)) => EXIT_IN_USE,
            _ => EXIT_FAILURE,
        }
    }
}

/// What every connection of one front door shares.
pub(super) struct Shared {
    /// The Hello machine's policy: front-door mode, SEC-1's euid.
    pub(super) policy: HelloPolicy,
    /// `<service>.servicedef.v2` files only, read per Hello (V2D-1, V2H-5).
    pub(super) loader: ServiceDefinitionLoader,
    /// Socket, runtime directory, identity and discovery files (V2N).
    pub(super) paths: FrontDoorPaths,
    /// This boot's id, for V2G-4.
    pub(super) boot_id: String,
    /// The Hello deadline (V2F-3).
    pub(super) hello_timeout: Duration,
    /// Connections handled at once (V2L-7).
    pub(super) max_inflight: usize,
    /// The page's list (V2W-15).
    pub(super) listed: ListedServices,
    /// Open connections, for the drain (V2L-3).
    pub(super) lifecycle: Arc<Lifecycle>,
}

/// A front door bound to its socket, not yet serving: whoever runs it can
/// install signal handlers first.
pub struct BoundFrontDoor {
    pub(super) listener: UnixListener,
    pub(super) shared: Arc<Shared>,
    pub(super) once: bool,
    /// The HTTP surface, when `--http-port` asked for one and it bound
    /// (V2W-1…V2W-5).
    pub(super) http: Option<HttpSurface>,
}

impl BoundFrontDoor {
    /// Starts a front door: V2L-4's root check, V2N-3, V2N-4 and SEC-6
    /// (V2L-1, V2L-2), in upstream's order. `--no-bind` is the caller's.
    pub fn bind(
        options: &FrontDoorOptions,
        settings: FrontDoorSettings,
        env: &dyn EnvSource,
    ) -> Result<Self, FrontDoorError> {
        let euid = euid();
        security::check_privilege(euid, settings.allow_privileged)?;
        validate_program_name(&options.program).map_err(|source| FrontDoorError::Program {
            program: options.program.clone(),
            source,
        })?;
        let io = |what| move |source| FrontDoorError::Io { what, source };
        let machine = machine_id().map_err(io("reading the machine id"))?;
        // V2N-1: S comes from the real uid.
        let uid = rustix::process::getuid().as_raw();
        let paths = FrontDoorPaths::resolve(env, uid, &machine, &options.program);
        let dir = settings
            .service_def_dir
            .ok_or(FrontDoorError::NoDefinitionDir)?;
        if paths.socket.parent() != Some(paths.runtime_dir.as_path()) {
            security::prepare_socket_dir(&paths.runtime_dir, euid)?;
        }
        let listener = security::bind_broker_socket(&paths.socket, euid)?;
        let listed = ListedServices::default();
        let paths_for_http = paths.clone();
        let shared = Shared {
            policy: HelloPolicy {
                euid,
                door: Door::Front,
                ..HelloPolicy::default()
            },
            loader: ServiceDefinitionLoader::v2_only(dir),
            boot_id: boot_id().map_err(io("reading the boot id"))?,
            paths,
            hello_timeout: settings.hello_timeout,
            max_inflight: settings.max_inflight,
            listed: listed.clone(),
            lifecycle: Lifecycle::new(),
        };
        Ok(Self {
            listener,
            shared: Arc::new(shared),
            once: options.once,
            // V2W-6: bound after the socket, before the bound line, so the
            // discovery file exists once a harness reads that line.
            http: options.http_port.and_then(|spec| {
                let source: Arc<dyn StatusSource> = Arc::new(listed.clone());
                let discovery = paths_for_http.http_port_file();
                HttpSurface::start(&BindPlan::resolve(spec, env), source, Some(&discovery))
                    .inspect_err(|e| tracing::warn!(error = %e, "no HTTP surface (V2W-5)"))
                    .ok()
            }),
        })
    }

    /// The socket it listens on (V2N-1).
    pub fn socket(&self) -> &std::path::Path {
        &self.shared.paths.socket
    }

    /// The line printed once bound (spec §13's, with this binary's name).
    pub fn bound_line(&self) -> String {
        format!(
            "broker-conformance serve --v2 bound at {} (program={}, mode={})",
            self.socket().display(),
            self.shared.paths.program,
            if self.once { "once" } else { "loop" }
        )
    }

    /// The services its HTTP page lists (V2W-15).
    pub fn listed(&self) -> ListedServices {
        self.shared.listed.clone()
    }

    /// The HTTP surface's address, when it is served (V2W-6).
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(HttpSurface::local_addr)
    }

    /// The HTTP discovery file removed at a clean exit (V2W-6, V2L-3).
    pub fn http_port_file(&self) -> PathBuf {
        self.shared.paths.http_port_file()
    }
}
