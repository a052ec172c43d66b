//! Getting the backend's listening socket (LCH-3): adopt the descriptor the
//! broker bound and passed, when it really is open and a listening Unix
//! socket; otherwise bind the pipe path ourselves, replacing a stale file.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use rustix::io::FdFlags;
use rustix::net::AddressFamily;

use super::launch_env::LaunchEnv;

/// Where the listener came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerSource {
    /// The broker-bound descriptor passed through `RUNNING_PROCESS_BROKER_LISTENER_FD`.
    Inherited(RawFd),
    /// Bound by this process at the pipe path.
    Bound,
}

/// The backend's listening socket.
#[derive(Debug)]
pub struct BackendListener {
    /// The listener, in blocking mode.
    pub listener: UnixListener,
    /// How it was obtained.
    pub source: ListenerSource,
    /// The socket path clients connect to.
    pub path: PathBuf,
}

impl BackendListener {
    /// LCH-3: adopts the inherited listener if it is open, else binds
    /// `env.backend_pipe` after unlinking a stale file.
    pub fn adopt_or_bind(env: &LaunchEnv) -> io::Result<Self> {
        if let Some(fd) = env.listener_fd
            && let Some(listener) = adopt(fd)?
        {
            return Ok(Self {
                listener,
                source: ListenerSource::Inherited(fd),
                path: env.backend_pipe.clone(),
            });
        }
        Self::bind(&env.backend_pipe)
    }

    /// Binds `path`, replacing whatever file is there (a stale socket left
    /// by a dead backend, or the one a broker bound before closing it). A
    /// missing parent directory is created with mode 0700: brokers that do
    /// not bind for their backends (upstream without
    /// `RUNNING_PROCESS_BROKER_OWNED_BIND`) leave that to the backend.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("creating {}: {e}", parent.display()))
                })?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing stale {}: {e}", path.display()),
                ));
            }
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", path.display())))?;
        Ok(Self {
            listener,
            source: ListenerSource::Bound,
            path: path.to_path_buf(),
        })
    }
}

/// Takes ownership of `fd` if it is open and a listening Unix socket.
/// An fd that is closed (upstream 4.10.6 closes it on exec) or that is
/// something else is left alone.
fn adopt(fd: RawFd) -> io::Result<Option<UnixListener>> {
    // SAFETY: F_GETFD only reads descriptor flags; on a closed number it
    // fails with EBADF and touches nothing.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Ok(None);
    }
    // SAFETY: the descriptor is open (checked above) and stays open while borrowed.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let is_unix =
        rustix::net::sockopt::socket_domain(borrowed).is_ok_and(|d| d == AddressFamily::UNIX);
    let listening = rustix::net::sockopt::socket_acceptconn(borrowed).unwrap_or(false);
    if !(is_unix && listening) {
        return Ok(None);
    }
    // SAFETY: the launch contract hands this descriptor to us alone; we
    // checked it is an open listening Unix socket and take it exactly once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Our own children must not inherit it.
    rustix::io::fcntl_setfd(owned.as_fd(), FdFlags::CLOEXEC)?;
    let listener = UnixListener::from(owned);
    // A descriptor keeps its sender's flags: make sure accept blocks.
    listener.set_nonblocking(false)?;
    Ok(Some(listener))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn launch_env(pipe: PathBuf, fd: Option<RawFd>) -> LaunchEnv {
        LaunchEnv {
            listener_fd: fd,
            ..LaunchEnv::standalone("svc", "1.0.0", pipe)
        }
    }

    #[test]
    fn adopts_an_open_inherited_listener() {
        let dir = tempfile::Builder::new()
            .prefix("l")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"));
        let pipe = dir.path().join("b.sock");
        let bound = UnixListener::bind(&pipe).unwrap_or_else(|e| panic!("{e}"));
        let fd = bound.into_raw_fd();
        let got = BackendListener::adopt_or_bind(&launch_env(pipe.clone(), Some(fd)));
        assert!(
            matches!(got.as_ref().map(|l| l.source), Ok(ListenerSource::Inherited(f)) if f == fd),
            "{got:?}"
        );
    }

    #[test]
    fn binds_when_the_inherited_fd_is_closed_or_not_a_listener() {
        let dir = tempfile::Builder::new()
            .prefix("l")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"));
        let pipe = dir.path().join("b.sock");
        // A socket file nobody listens on: what upstream 4.10.6 leaves behind.
        drop(UnixListener::bind(&pipe));
        let got = BackendListener::adopt_or_bind(&launch_env(pipe.clone(), Some(987)));
        assert!(
            matches!(got.as_ref().map(|l| l.source), Ok(ListenerSource::Bound)),
            "{got:?}"
        );
        drop(got);
        // An open fd that is a plain file is not adopted.
        let file = std::fs::File::open("/dev/null").unwrap_or_else(|e| panic!("{e}"));
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let got = BackendListener::adopt_or_bind(&launch_env(pipe, Some(fd)));
        assert!(
            matches!(got.as_ref().map(|l| l.source), Ok(ListenerSource::Bound)),
            "{got:?}"
        );
        assert!(
            std::fs::File::open("/dev/null").is_ok() && file.metadata().is_ok(),
            "the file fd is untouched"
        );
    }
}
