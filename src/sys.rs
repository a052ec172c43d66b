//! The thin layer over the operating system that the broker and backends
//! need: credentials, process facts from `/proc`, file-descriptor usage,
//! the user's passwd entry and randomness. Unix only.

use std::ffi::CStr;
use std::fs;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::process::{Pid, Resource, Rlimit, Signal};

/// The effective uid of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// What the kernel says about the peer of a connected Unix socket (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's pid at connect time.
    pub pid: u32,
    /// The peer's effective uid.
    pub uid: u32,
    /// The peer's effective gid.
    pub gid: u32,
}

/// Reads SO_PEERCRED of a connected Unix socket (SEC-1, HEL-11).
pub fn peer_credentials(socket: impl AsFd) -> io::Result<PeerCredentials> {
    let cred = rustix::net::sockopt::socket_peercred(socket)?;
    Ok(PeerCredentials {
        pid: cred.pid.as_raw_nonzero().get() as u32,
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// `n` bytes from the kernel's random source (handoff tokens, probe nonces,
/// backend socket names).
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        filled +=
            rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(buf)
}

fn pid_of(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{pid} is not a valid pid"),
            )
        })
}

/// True when a process with this pid exists (it may be a zombie).
pub fn process_exists(pid: u32) -> bool {
    pid_of(pid).is_ok_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// Waits until process `pid` has exited (a zombie counts as exited), at
/// most `timeout`; returns whether it did. Event-driven through a pidfd.
pub fn wait_process_exit(pid: u32, timeout: std::time::Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let fd = match rustix::process::pidfd_open(pid_of(pid)?, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Already gone (reaped).
        Err(rustix::io::Errno::SRCH) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    Ok(poll(&mut fds, Some(&timeout))? > 0)
}

/// Sends SIGKILL to a process.
pub fn kill(pid: u32) -> io::Result<()> {
    signal(pid, Signal::KILL)
}

/// Sends SIGTERM to a process.
pub fn terminate(pid: u32) -> io::Result<()> {
    signal(pid, Signal::TERM)
}

/// Sends `signal` to a process.
pub fn signal(pid: u32, signal: Signal) -> io::Result<()> {
    Ok(rustix::process::kill_process(pid_of(pid)?, signal)?)
}

/// The start time of a process in clock ticks since boot (`/proc/<pid>/stat`
/// field 22): with the pid, it identifies one process across pid reuse (REG-4).
pub fn process_start_time(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: the fields
    // after it start past the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat has no ')'"),
        )
    })?;
    // `rest` starts at field 3 (state); field 22 is the 20th from there.
    rest.split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/stat has no start time"),
            )
        })
}

/// A handle on one process that stays valid across pid reuse (a pidfd).
#[derive(Debug, Clone)]
pub struct ProcessHandle(std::sync::Arc<OwnedFd>);

impl ProcessHandle {
    /// A handle on the process `pid` is now; open it while the process is
    /// known to be the one meant (e.g. an unreaped child).
    pub fn open(pid: u32) -> io::Result<Self> {
        let fd = rustix::process::pidfd_open(pid_of(pid)?, rustix::process::PidfdFlags::empty())?;
        Ok(Self(std::sync::Arc::new(fd)))
    }

    /// True once the process has exited, zombies included: one `poll`
    /// with no wait. A handle that cannot be polled counts as exited.
    pub fn has_exited(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(&*self.0, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        !matches!(poll(&mut fds, Some(&now)), Ok(0))
    }
}

/// Handles compare equal: a process is identified by pid and start time,
/// the handle only makes checking it cheap.
impl PartialEq for ProcessHandle {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ProcessHandle {}

/// The state letter of a process (`/proc/<pid>/stat` field 3): `R`, `S`,
/// `D`, `Z` (zombie: exited, not yet reaped), ...
pub fn process_state(pid: u32) -> io::Result<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/stat has no state"),
            )
        })
}

/// True while the process runs: it exists and is not a zombie.
pub fn process_running(pid: u32) -> bool {
    process_exists(pid) && process_state(pid).is_ok_and(|state| state != 'Z')
}

/// The canonical path of a process's executable (`/proc/<pid>/exe`, PRB-5).
pub fn process_exe(pid: u32) -> io::Result<PathBuf> {
    fs::canonicalize(format!("/proc/{pid}/exe"))
}

/// Where a process's executable was when it started, even when that file
/// has since been deleted or replaced (the kernel then reports the old path
/// with a ` (deleted)` suffix, which is dropped here).
pub fn process_exe_as_started(pid: u32) -> io::Result<PathBuf> {
    let link = fs::read_link(format!("/proc/{pid}/exe"))?;
    let text = link.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => link,
    })
}

/// Connects to the Unix socket at `path`, waiting at most `timeout` for
/// room in its listen backlog: a blocking Unix-socket connect waits while
/// the backlog is full, bounded on Linux by `SO_SNDTIMEO`. Past the
/// timeout it fails with [`io::ErrorKind::TimedOut`].
pub fn connect_unix_within(
    path: &Path,
    timeout: std::time::Duration,
) -> io::Result<std::os::unix::net::UnixStream> {
    use rustix::net::{SocketAddrUnix, sockopt};
    if timeout.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    let fd = unix_stream_socket()?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(timeout))?;
    match rustix::net::connect(&fd, &SocketAddrUnix::new(path)?) {
        Ok(()) => {}
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INPROGRESS) => {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Err(e) => return Err(e.into()),
    }
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, None)?;
    Ok(std::os::unix::net::UnixStream::from(fd))
}

/// A new close-on-exec Unix stream socket.
fn unix_stream_socket() -> io::Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Listens on a Unix socket at `path` with this listen `backlog` (std
/// picks its own): a small one stands in for a server that can hold only
/// a few pending connections.
pub fn listen_unix_with_backlog(
    path: &Path,
    backlog: i32,
) -> io::Result<std::os::unix::net::UnixListener> {
    use rustix::net::SocketAddrUnix;
    let fd = unix_stream_socket()?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, backlog)?;
    Ok(std::os::unix::net::UnixListener::from(fd))
}

/// A process's resident memory in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn resident_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/status has no VmRSS"),
            )
        })
}

/// Open descriptors and the soft limit of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdUsage {
    /// Descriptors open now.
    pub open: u64,
    /// RLIMIT_NOFILE soft limit (`u64::MAX` when unlimited).
    pub limit: u64,
}

impl FdUsage {
    /// `open / limit`, 0 when unlimited.
    pub fn ratio(&self) -> f64 {
        if self.limit == u64::MAX || self.limit == 0 {
            0.0
        } else {
            self.open as f64 / self.limit as f64
        }
    }
}

/// Counts this process's open descriptors (`/proc/self/fd`) and reads the limit.
pub fn fd_usage() -> io::Result<FdUsage> {
    // read_dir itself holds one descriptor while counting.
    let open = fs::read_dir("/proc/self/fd")?.count().saturating_sub(1) as u64;
    Ok(FdUsage {
        open,
        limit: fd_limit(),
    })
}

/// The RLIMIT_NOFILE soft limit (`u64::MAX` when unlimited).
pub fn fd_limit() -> u64 {
    rustix::process::getrlimit(Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// The RLIMIT_NOFILE hard limit (`u64::MAX` when unlimited): how far
/// [`raise_fd_limit`] can go.
pub fn fd_hard_limit() -> u64 {
    rustix::process::getrlimit(Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX)
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit; returns the new
/// soft limit. A broker holding thousands of connections needs this.
pub fn raise_fd_limit() -> io::Result<u64> {
    let limit = rustix::process::getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        rustix::process::setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(fd_limit())
}

/// A descriptor limit (RLIMIT_NOFILE): soft and hard, `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

/// Sets the descriptor limit of process `pid` (prlimit(2)); returns the
/// limit it had, to restore it later.
pub fn set_fd_limit_of(pid: u32, limit: FdLimit) -> io::Result<FdLimit> {
    let old = rustix::process::prlimit(
        Some(pid_of(pid)?),
        Resource::Nofile,
        Rlimit {
            current: limit.soft,
            maximum: limit.hard,
        },
    )?;
    Ok(FdLimit {
        soft: old.current,
        hard: old.maximum,
    })
}

/// A passwd entry: what LCH-2 passes to backends as USER, LOGNAME, HOME, SHELL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    /// Login name.
    pub name: String,
    /// Home directory.
    pub home: PathBuf,
    /// Login shell.
    pub shell: PathBuf,
}

/// Looks up the passwd entry of `uid` through the C library (so NSS sources
/// count); `None` when there is none.
pub fn user_account(uid: u32) -> io::Result<Option<UserAccount>> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `passwd` is plain data the call fills in; `buf` outlives the
        // call and its length is passed; `result` is written by the call.
        let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut passwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        let text = |p: *const libc::c_char| -> String {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: on success the fields point at NUL-terminated
                // strings inside `buf`, which is still alive.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        return Ok(Some(UserAccount {
            name: text(passwd.pw_name),
            home: PathBuf::from(text(passwd.pw_dir)),
            shell: PathBuf::from(text(passwd.pw_shell)),
        }));
    }
}

/// Sends `data` and one descriptor in a single `sendmsg` (SCM_RIGHTS,
/// HOF-2). Returns the bytes sent; the caller treats a short send as failure.
pub fn send_with_fd(socket: impl AsFd, data: &[u8], fd: impl AsFd) -> io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "no room for the descriptor in the control buffer",
        ));
    }
    Ok(rustix::net::sendmsg(
        socket,
        &[io::IoSlice::new(data)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?)
}

/// Receives up to `buf.len()` bytes and at most one descriptor sent with
/// them (SCM_RIGHTS). The descriptor arrives close-on-exec; extra ones are closed.
pub fn recv_with_fd(socket: impl AsFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [io::IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received_fd in fds {
                if fd.is_none() {
                    fd = Some(received_fd);
                }
            }
        }
    }
    Ok((received.bytes, fd))
}

/// What identifies a file's content without reading it: its identity
/// (device, inode) and change stamp (size, mtime, ctime). Any rewrite — a
/// rename over, or an in-place write that keeps the size and restores the
/// mtime — moves at least the ctime or the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of metadata already in hand.
    pub fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of the file `path` names (following symlinks).
    pub fn at(path: &Path) -> io::Result<Self> {
        fs::metadata(path).map(|meta| Self::of(&meta))
    }

    /// When the file last changed (its ctime); `None` before the epoch.
    pub fn changed_at(&self) -> Option<std::time::SystemTime> {
        let (secs, nanos) = self.ctime;
        let secs = u64::try_from(secs).ok()?;
        let nanos = u32::try_from(nanos).unwrap_or(0);
        Some(std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos))
    }
}

/// BLAKE3 of a file's contents, read in a streaming fashion (PRB-3, REG-1).
pub fn blake3_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(fs::File::open(path)?)?;
    Ok(*hasher.finalize().as_bytes())
}

/// What is at a broker socket path (SEC-6), read-only: `lstat` the path and, for a socket, connect without
/// blocking, send nothing and close at once. A full listen backlog counts
/// as live (someone is listening). Never removes anything.
pub fn probe_socket_path(path: &Path) -> io::Result<crate::policy::SocketPathState> {
    use std::os::unix::fs::FileTypeExt;

    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(crate::policy::SocketPathState::Absent);
        }
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Ok(crate::policy::SocketPathState::NotASocket);
    }
    match connect_without_blocking(path) {
        Ok(()) => Ok(crate::policy::SocketPathState::Live),
        Err(rustix::io::Errno::CONNREFUSED) => Ok(crate::policy::SocketPathState::Stale),
        // A full backlog (or a connect still in progress) means a listener.
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INPROGRESS) => {
            Ok(crate::policy::SocketPathState::Live)
        }
        Err(e) => Err(e.into()),
    }
}

/// One non-blocking connect; the descriptor is closed on return.
fn connect_without_blocking(path: &Path) -> Result<(), rustix::io::Errno> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&socket, &SocketAddrUnix::new(path)?)
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_facts_about_this_process() {
        let me = std::process::id();
        assert!(process_exists(me));
        assert!(process_start_time(me).is_ok_and(|t| t > 0));
        assert_eq!(
            process_exe(me).ok(),
            std::env::current_exe()
                .ok()
                .and_then(|p| p.canonicalize().ok())
        );
        let usage = fd_usage().unwrap_or(FdUsage { open: 0, limit: 0 });
        assert!(usage.open >= 3 && usage.limit > usage.open, "{usage:?}");
        assert!(user_account(euid()).is_ok_and(|a| a.is_some_and(|a| !a.name.is_empty())));
        let a: [u8; 16] = random_bytes().unwrap_or_default();
        let b: [u8; 16] = random_bytes().unwrap_or_default();
        assert_ne!(a, b);
    }

    #[test]
    fn a_descriptor_travels_with_its_bytes() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        let (mut passed, mut kept) =
            std::os::unix::net::UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            send_with_fd(&a, b"0123456789abcdef", &passed).ok(),
            Some(16)
        );
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_fd(&b, &mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n, &buf), (16, b"0123456789abcdef"));
        let mut received =
            std::os::unix::net::UnixStream::from(fd.unwrap_or_else(|| panic!("no fd")));
        use std::io::{Read, Write};
        received.write_all(b"hi").unwrap_or_else(|e| panic!("{e}"));
        let mut two = [0u8; 2];
        kept.read_exact(&mut two).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&two, b"hi", "the received descriptor is the same socket");
        let _ = passed.flush();
    }

    #[test]
    fn waiting_for_a_process_exit_sees_the_exit() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id();
        assert_eq!(
            wait_process_exit(pid, std::time::Duration::from_millis(10)).ok(),
            Some(false)
        );
        kill(pid).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            wait_process_exit(pid, std::time::Duration::from_secs(10)).ok(),
            Some(true)
        );
        let _ = child.wait();
        assert_eq!(
            wait_process_exit(pid, std::time::Duration::from_millis(10)).ok(),
            Some(true),
            "reaped"
        );
    }

    #[test]
    fn unknown_pids_do_not_exist() {
        assert!(!process_exists(0));
        assert!(!process_exists(u32::MAX));
        assert!(process_start_time(u32::MAX).is_err());
    }
}
