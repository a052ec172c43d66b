//! Starting a backend process by the launch contract (LCH-1…LCH-4):
//! binary containment, a minimal environment, its own session, and the
//! broker-owned bind whose listener the child really receives.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::proto::v1::ServiceDefinition;
use crate::sys::{UserAccount, euid, user_account};
use crate::wire::env_vars;

/// The descriptor number a broker-bound listener has in the child (LCH-3).
pub const CHILD_LISTENER_FD: i32 = 3;

/// The fixed PATH of launched backends (LCH-2).
pub const BACKEND_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Variables carried from the broker's environment to backends (LCH-2).
const CARRIED: &[&str] = &["LANG", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"];

/// LCH-1: both paths set and absolute; after canonicalizing both, the
/// binary lies inside the directory. Returns the canonical binary path.
pub fn resolve_binary(definition: &ServiceDefinition) -> Result<PathBuf, String> {
    let binary = Path::new(&definition.binary_path);
    let dir = Path::new(&definition.per_version_binary_dir);
    if definition.per_version_binary_dir.is_empty() {
        return Err("per_version_binary_dir is not set (LCH-1)".into());
    }
    if !binary.is_absolute() || !dir.is_absolute() {
        return Err("binary_path and per_version_binary_dir must be absolute (LCH-1)".into());
    }
    let canonical_binary = binary
        .canonicalize()
        .map_err(|e| format!("binary_path {}: {e}", binary.display()))?;
    let canonical_dir = dir
        .canonicalize()
        .map_err(|e| format!("per_version_binary_dir {}: {e}", dir.display()))?;
    if !canonical_binary.starts_with(&canonical_dir) {
        return Err(format!(
            "binary {} is not inside per_version_binary_dir {} (LCH-1)",
            canonical_binary.display(),
            canonical_dir.display()
        ));
    }
    Ok(canonical_binary)
}

/// The part of every backend's environment that does not depend on the
/// Hello: passwd identity, PATH and the carried locale variables (LCH-2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseEnvironment {
    vars: Vec<(String, String)>,
}

impl BaseEnvironment {
    /// USER, LOGNAME, HOME, SHELL from the passwd entry of the broker's euid
    /// (never from its environment), the fixed PATH, and LANG, TZ, TMPDIR,
    /// XDG_RUNTIME_DIR and LC_* from `carried`.
    pub fn new(
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
    pub fn from_this_process() -> Self {
        let account = user_account(euid()).ok().flatten();
        Self::new(account.as_ref(), std::env::vars())
    }

    /// The variables.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

/// Everything needed to start one backend.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The canonical executable (LCH-1).
    pub binary: PathBuf,
    /// The service name.
    pub service: String,
    /// The wanted version.
    pub version: String,
    /// The instance id (§7.1).
    pub instance: String,
    /// Where the backend must serve.
    pub backend_pipe: PathBuf,
    /// Where it accepts handoffs (LCH-6), if the service opted in.
    pub handoff_pipe: Option<PathBuf>,
    /// Bind the backend's socket here and pass it down (LCH-3).
    pub owned_bind: bool,
    /// The Hello's `traceparent` and `tracestate`, when set.
    pub trace: (Option<String>, Option<String>),
}

impl LaunchRequest {
    /// The child's complete environment (LCH-2, LCH-3, LCH-6).
    pub fn environment(&self, base: &BaseEnvironment) -> Vec<(String, String)> {
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
        if let Some(tp) = self.trace.0.clone().filter(|t| !t.is_empty()) {
            set(env_vars::BACKEND_TRACEPARENT, tp);
        }
        if let Some(ts) = self.trace.1.clone().filter(|t| !t.is_empty()) {
            set(env_vars::BACKEND_TRACESTATE, ts);
        }
        if let Some(handoff) = &self.handoff_pipe {
            set(
                env_vars::BACKEND_HANDOFF_PIPE,
                handoff.to_string_lossy().into_owned(),
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
pub struct SpawnedBackend {
    /// The child; whoever holds it reaps it.
    pub child: tokio::process::Child,
    /// Its pid.
    pub pid: u32,
}

/// Removes a socket file if present.
pub fn remove_socket_file(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Binds a fresh listening socket at `path`, replacing a stale file.
fn bind_fresh(path: &Path) -> Result<UnixListener, String> {
    remove_socket_file(path);
    UnixListener::bind(path).map_err(|e| format!("binding backend socket {}: {e}", path.display()))
}

/// Starts the backend: no arguments, stdio on /dev/null, its own session,
/// the minimal environment, and — with broker-owned bind — the listening
/// socket as descriptor 3 (LCH-2, LCH-3).
pub fn spawn_backend(
    request: &LaunchRequest,
    base: &BaseEnvironment,
) -> Result<SpawnedBackend, String> {
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
    let child = command
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", request.binary.display()))?;
    // The child holds its own copy now; ours must not accept its clients.
    drop(listener);
    let pid = child
        .id()
        .ok_or_else(|| "the child exited before its pid was read".to_owned())?;
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
    fn binary_must_lie_inside_its_directory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let inside = dir.path().join("v1");
        std::fs::create_dir(&inside).unwrap_or_else(|e| panic!("{e}"));
        let binary = inside.join("bin");
        std::fs::write(&binary, b"x").unwrap_or_else(|e| panic!("{e}"));
        let def = |bin: &Path, d: &Path| ServiceDefinition {
            binary_path: bin.to_string_lossy().into_owned(),
            per_version_binary_dir: d.to_string_lossy().into_owned(),
            ..ServiceDefinition::default()
        };
        assert!(resolve_binary(&def(&binary, dir.path())).is_ok());
        let escape = inside
            .join("..")
            .join("..")
            .join(dir.path().file_name().unwrap_or_default())
            .join("v1/bin");
        assert!(
            resolve_binary(&def(&escape, &inside)).is_ok(),
            "canonicalization resolves .."
        );
        let outside = dir.path().join("other");
        std::fs::create_dir(&outside).unwrap_or_else(|e| panic!("{e}"));
        assert!(resolve_binary(&def(&binary, &outside)).is_err_and(|e| e.contains("not inside")));
        assert!(resolve_binary(&def(&binary, Path::new(""))).is_err_and(|e| e.contains("not set")));
        assert!(resolve_binary(&def(Path::new("rel/bin"), dir.path())).is_err());
    }
}
