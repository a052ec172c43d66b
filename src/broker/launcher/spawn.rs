//! Starting a backend process by the launch contract (LCH-2…LCH-4): a
//! minimal environment, its own session, and the broker-owned bind whose
//! listener the child really receives.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::error::LaunchError;
use crate::sys::{UserAccount, euid, user_account};
use crate::wire::env_vars;

/// The descriptor number a broker-bound listener has in the child (LCH-3).
pub(crate) const CHILD_LISTENER_FD: i32 = 3;

/// The fixed PATH of launched backends (LCH-2).
pub(crate) const BACKEND_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Variables carried from the broker's environment to backends (LCH-2).
const CARRIED: &[&str] = &["LANG", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"];

/// The part of every backend's environment that does not depend on the
/// Hello: passwd identity, PATH and the carried locale variables (LCH-2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BaseEnvironment {
    vars: Vec<(String, String)>,
}

impl BaseEnvironment {
    /// USER, LOGNAME, HOME, SHELL from the passwd entry of the broker's euid
    /// (never from its environment), the fixed PATH, and LANG, TZ, TMPDIR,
    /// XDG_RUNTIME_DIR and LC_* from `carried`.
    pub(crate) fn new(
        account: Option<&UserAccount>,
        carried: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut vars = Vec::new();
        if let Some(account) = account {
            vars.push(("USER".into(), account.name.clone()));
            vars.push(("LOGNAME".into(), account.name.clone()));
            vars.push(("HOME".into(), account.home.to_string_lossy().into_owned()));
            vars.push(("SHELL".into(), account.shell.to_string_lossy().into_owned()));
        }
        vars.push(("PATH".into(), BACKEND_PATH.into()));
        vars.extend(carried.into_iter().filter(|(k, v)| {
            !v.is_empty() && (CARRIED.contains(&k.as_str()) || k.starts_with("LC_"))
        }));
        vars.sort();
        Self { vars }
    }

    /// From this process: its euid's passwd entry and its environment.
    pub(crate) fn from_this_process() -> Self {
        let account = user_account(euid()).ok().flatten();
        Self::new(account.as_ref(), std::env::vars())
    }

    /// The variables.
    pub(crate) fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

/// The W3C trace context of the Hello that caused a launch (empty when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceContext {
    /// `traceparent`.
    pub(crate) traceparent: String,
    /// `tracestate`.
    pub(crate) tracestate: String,
}

/// Everything needed to start one backend.
#[derive(Debug, Clone)]
pub(crate) struct LaunchRequest {
    /// The canonical executable (LCH-1).
    pub(crate) binary: PathBuf,
    /// The service name.
    pub(crate) service: String,
    /// The wanted version.
    pub(crate) version: String,
    /// The instance id (§7.1).
    pub(crate) instance: String,
    /// Where the backend must serve.
    pub(crate) backend_pipe: PathBuf,
    /// Where it accepts handoffs (LCH-6), if the service opted in.
    pub(crate) handoff_pipe: Option<PathBuf>,
    /// Bind the backend's socket here and pass it down (LCH-3).
    pub(crate) owned_bind: bool,
    /// The Hello's trace context, passed on when set.
    pub(crate) trace: TraceContext,
    /// The broker's control socket, for a definition declaring `http_server` (V2R-7).
    pub(crate) control_pipe: Option<PathBuf>,
}

impl LaunchRequest {
    /// The child's complete environment (LCH-2, LCH-3, LCH-6, V2R-7).
    pub(crate) fn environment(&self, base: &BaseEnvironment) -> Vec<(String, String)> {
        let mut vars = base.vars().to_vec();
        let mut set = |k: &str, v: String| vars.push((k.to_owned(), v));
        set(env_vars::BACKEND_SERVICE_NAME, self.service.clone());
        set(env_vars::BACKEND_SERVICE_VERSION, self.version.clone());
        set(
            env_vars::BACKEND_PIPE,
            self.backend_pipe.to_string_lossy().into_owned(),
        );
        set(env_vars::BACKEND_NAMESPACE, self.instance.clone());
        set(env_vars::BACKEND_INSTANCE, self.instance.clone());
        set(env_vars::IS_DAEMON, "1".into());
        if !self.trace.traceparent.is_empty() {
            set(
                env_vars::BACKEND_TRACEPARENT,
                self.trace.traceparent.clone(),
            );
        }
        if !self.trace.tracestate.is_empty() {
            set(env_vars::BACKEND_TRACESTATE, self.trace.tracestate.clone());
        }
        if let Some(handoff) = &self.handoff_pipe {
            set(
                env_vars::BACKEND_HANDOFF_PIPE,
                handoff.to_string_lossy().into_owned(),
            );
        }
        if let Some(control) = &self.control_pipe {
            set(
                env_vars::V2_CONTROL_PIPE,
                control.to_string_lossy().into_owned(),
            );
        }
        if self.owned_bind {
            set(env_vars::LISTENER_FD, CHILD_LISTENER_FD.to_string());
        }
        vars
    }
}

/// A started backend, not yet probed.
#[derive(Debug)]
pub(crate) struct SpawnedBackend {
    /// The child; whoever holds it reaps it.
    pub(crate) child: tokio::process::Child,
    /// Its pid.
    pub(crate) pid: u32,
}

/// Removes a socket file if present.
pub(crate) fn remove_socket_file(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Binds a fresh listening socket at `path`, replacing a stale file.
fn bind_fresh(path: &Path) -> Result<UnixListener, LaunchError> {
    remove_socket_file(path);
    UnixListener::bind(path).map_err(|source| LaunchError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

/// Starts the backend: no arguments, stdio on /dev/null, its own session,
/// the minimal environment, and — with broker-owned bind — the listening
/// socket as descriptor 3 (LCH-2, LCH-3).
pub(crate) fn spawn_backend(
    request: &LaunchRequest,
    base: &BaseEnvironment,
) -> Result<SpawnedBackend, LaunchError> {
    let listener: Option<OwnedFd> = if request.owned_bind {
        Some(bind_fresh(&request.backend_pipe)?.into())
    } else {
        remove_socket_file(&request.backend_pipe);
        None
    };
    let listener_fd = listener.as_ref().map(AsRawFd::as_raw_fd);
    let mut command = tokio::process::Command::new(&request.binary);
    command
        .env_clear()
        .envs(request.environment(base))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false);
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (setsid, dup2, fcntl) on descriptors
    // that exist in the child.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = listener_fd {
                if fd == CHILD_LISTENER_FD {
                    // dup2 onto itself keeps FD_CLOEXEC: clear it instead.
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, CHILD_LISTENER_FD) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let spawn_error = |source| LaunchError::Spawn {
        binary: request.binary.clone(),
        source,
    };
    let child = command.spawn().map_err(spawn_error)?;
    // The child holds its own copy now; ours must not accept its clients.
    drop(listener);
    let pid = child.id().ok_or_else(|| {
        spawn_error(std::io::Error::other(
            "the child exited before its pid was read",
        ))
    })?;
    Ok(SpawnedBackend { child, pid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_environment_keeps_only_the_contract() {
        let account = UserAccount {
            name: "alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/zsh".into(),
        };
        let carried = [
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("HOME", "/elsewhere"),
            ("SECRET_TOKEN", "x"),
            ("TZ", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let env = BaseEnvironment::new(Some(&account), carried);
        let names: Vec<&str> = env.vars().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["HOME", "LANG", "LC_ALL", "LOGNAME", "PATH", "SHELL", "USER"]
        );
        assert!(
            env.vars().contains(&("HOME".into(), "/home/alice".into())),
            "passwd wins"
        );
    }

    #[test]
    fn v2r7_only_an_http_server_backend_gets_the_control_pipe() {
        let mut request = LaunchRequest {
            binary: "/opt/web/web".into(),
            service: "web".into(),
            version: "1.0.0".into(),
            instance: "private:web".into(),
            backend_pipe: "/run/b/web.sock".into(),
            handoff_pipe: None,
            owned_bind: false,
            trace: TraceContext::default(),
            control_pipe: None,
        };
        let pipe_of = |request: &LaunchRequest| {
            request
                .environment(&BaseEnvironment::default())
                .into_iter()
                .find(|(k, _)| k == env_vars::V2_CONTROL_PIPE)
                .map(|(_, v)| v)
        };
        assert_eq!(pipe_of(&request), None);
        request.control_pipe = Some("/run/b/broker.sock".into());
        assert_eq!(pipe_of(&request).as_deref(), Some("/run/b/broker.sock"));
    }
}
