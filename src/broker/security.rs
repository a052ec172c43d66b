//! Socket-level security (SEC-2, SEC-4, SEC-6): the privilege check, the
//! socket directory's owner and mode, stale-socket recovery, and binding
//! the broker socket with mode 0600.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::paths::check_socket_path_len;
use crate::policy::{SocketDirStat, SocketPathState, socket_dir_problems};
use crate::sys::probe_socket_path;
use crate::wire::env_vars;

/// Why the broker refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Running as root without the opt-in (SEC-4).
    #[error("refusing to run as root; set {var}=1 to allow it (SEC-4)", var = env_vars::ALLOW_PRIVILEGED)]
    Privileged,
    /// The socket directory is unsafe (SEC-2).
    #[error("socket directory {path}: {problem} (SEC-2)")]
    SocketDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Another broker already serves the socket (SEC-6).
    #[error("another broker is listening on {0}; stop it first (SEC-6)")]
    InUse(PathBuf),
    /// Something else is at the socket path.
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// An I/O failure while preparing the socket.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SecurityError {
    let path = path.to_path_buf();
    move |source| SecurityError::Io { what, path, source }
}

/// SEC-4: root is refused unless explicitly allowed.
pub(super) fn check_privilege(euid: u32, allow_privileged: bool) -> Result<(), SecurityError> {
    if euid == 0 && !allow_privileged {
        Err(SecurityError::Privileged)
    } else {
        Ok(())
    }
}

/// SEC-2: the socket's directory exists (created 0700 with any missing
/// ancestors), is a real directory (not a symlink), is owned by `euid`
/// and has mode exactly 0700.
pub(super) fn prepare_socket_dir(dir: &Path, euid: u32) -> Result<(), SecurityError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("creating", dir))?;
            // The umask may have narrowed the mode; set it exactly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("chmod", dir))?;
        }
        Err(e) => return Err(io_err("inspecting", dir)(e)),
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(dir).map_err(io_err("inspecting", dir))?;
    match socket_dir_problems(&SocketDirStat::of(&meta), euid).first() {
        Some(problem) => Err(SecurityError::SocketDir {
            path: dir.to_path_buf(),
            problem: problem.to_string(),
        }),
        None => Ok(()),
    }
}

/// SEC-6: a socket file nothing accepts on is stale and removed; a live one
/// means another broker is running.
pub(super) fn clear_stale_socket(path: &Path) -> Result<(), SecurityError> {
    match probe_socket_path(path).map_err(io_err("probing existing socket", path))? {
        SocketPathState::Absent => Ok(()),
        SocketPathState::NotASocket => Err(SecurityError::NotASocket {
            path: path.to_path_buf(),
        }),
        SocketPathState::Live => Err(SecurityError::InUse(path.to_path_buf())),
        SocketPathState::Stale => {
            fs::remove_file(path).map_err(io_err("removing stale socket", path))
        }
    }
}

/// Binds the broker socket: path length, SEC-2 directory, SEC-6 stale
/// socket, then bind and chmod 0600.
pub(super) fn bind_broker_socket(path: &Path, euid: u32) -> Result<UnixListener, SecurityError> {
    check_socket_path_len(path).map_err(io_err("binding", path))?;
    let dir = path.parent().ok_or_else(|| SecurityError::SocketDir {
        path: path.to_path_buf(),
        problem: "the socket path has no parent directory".into(),
    })?;
    prepare_socket_dir(dir, euid)?;
    clear_stale_socket(path)?;
    // Another broker that bound between the probe and here is SEC-6 too.
    let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => SecurityError::InUse(path.to_path_buf()),
        _ => io_err("binding", path)(e),
    })?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err("chmod", path))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::euid;
    use std::os::unix::fs::MetadataExt;

    fn tmp() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("s")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn root_needs_the_opt_in() {
        assert!(matches!(
            check_privilege(0, false),
            Err(SecurityError::Privileged)
        ));
        assert!(check_privilege(0, true).is_ok());
        assert!(check_privilege(1000, false).is_ok());
    }

    #[test]
    fn socket_dir_is_created_0700_and_wider_modes_or_symlinks_are_refused() {
        let t = tmp();
        let dir = t.path().join("a/b");
        prepare_socket_dir(&dir, euid()).unwrap_or_else(|e| panic!("{e}"));
        let mode = fs::metadata(&dir).map(|m| m.mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            prepare_socket_dir(&dir, euid()),
            Err(SecurityError::SocketDir { .. })
        ));
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap_or_else(|e| panic!("{e}"));
        let err = prepare_socket_dir(&link, euid());
        assert!(
            matches!(&err, Err(SecurityError::SocketDir { problem, .. }) if problem.contains("symlink")),
            "{err:?}"
        );
        let err = prepare_socket_dir(t.path(), euid().wrapping_add(1));
        assert!(
            matches!(&err, Err(SecurityError::SocketDir { problem, .. }) if problem.contains("owned by")),
            "{err:?}"
        );
    }

    #[test]
    fn probing_a_socket_path_tells_live_from_stale_and_changes_nothing() {
        let t = tmp();
        let path = t.path().join("p.sock");
        assert_eq!(probe_socket_path(&path).ok(), Some(SocketPathState::Absent));
        drop(UnixListener::bind(&path));
        assert_eq!(probe_socket_path(&path).ok(), Some(SocketPathState::Stale));
        assert!(path.exists(), "a probe never removes a stale socket");
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(probe_socket_path(&path).ok(), Some(SocketPathState::Live));
        drop(listener);
        let file = t.path().join("plain");
        fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            probe_socket_path(&file).ok(),
            Some(SocketPathState::NotASocket)
        );
    }

    #[test]
    fn stale_sockets_are_replaced_and_live_ones_refused() {
        let t = tmp();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        let path = t.path().join("b.sock");
        drop(UnixListener::bind(&path));
        let listener = bind_broker_socket(&path, euid());
        assert!(listener.is_ok(), "{listener:?}");
        let mode = fs::metadata(&path).map(|m| m.mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert!(matches!(
            bind_broker_socket(&path, euid()),
            Err(SecurityError::InUse(_))
        ));
        let file = t.path().join("plain");
        fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            clear_stale_socket(&file),
            Err(SecurityError::NotASocket { .. })
        ));
    }
}
