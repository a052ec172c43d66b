//! The physical baselines: what the kernel and a do-nothing server cost.
//!
//! - [`RawServer`]: accept, read one frame, write a canned reply, close —
//!   a broker's exchange minus every decision.
//! - `FdPassPeer` (tests) and [`FdPassServer`]: one `SCM_RIGHTS` pass of 16
//!   bytes and a descriptor to a peer thread (here, or in the process that
//!   serves the socket), answered with one byte — the handoff's kernel work.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use super::exchange::read_frame_into;
use crate::sys::{recv_with_fd, send_with_fd};

/// A minimal Unix-socket server: each of its worker threads loops on
/// accept, reads one frame, writes the canned reply and closes.
#[derive(Debug)]
pub struct RawServer {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl RawServer {
    /// Binds `socket` (replacing a stale file) and serves it from
    /// `workers` threads (at least one), each answering every request with `reply`.
    pub fn start(socket: &Path, reply: Vec<u8>, workers: usize) -> io::Result<Self> {
        let _ = std::fs::remove_file(socket);
        let listener = Arc::new(UnixListener::bind(socket)?);
        let reply: Arc<[u8]> = reply.into();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers.max(1))
            .map(|i| {
                let (listener, reply, stop) =
                    (Arc::clone(&listener), Arc::clone(&reply), Arc::clone(&stop));
                thread::Builder::new()
                    .name(format!("raw-server-{i}"))
                    .spawn(move || serve(&listener, &reply, &stop))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            socket: socket.to_path_buf(),
            stop,
            workers,
        })
    }

    /// Where it listens.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn serve(listener: &UnixListener, reply: &[u8], stop: &AtomicBool) {
    let mut body = Vec::new();
    while let Ok((mut stream, _)) = listener.accept() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        if read_frame_into(&mut stream, &mut body).is_ok() {
            let _ = stream.write_all(reply);
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Each worker blocks in accept: one connection apiece wakes them.
        for _ in &self.workers {
            let _ = UnixStream::connect(&self.socket);
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The token bytes a handoff sends beside the descriptor (HOF-2).
pub(crate) const PASS_DATA: [u8; 16] = [0x5a; 16];

/// A listener whose every connection is a peer receiving descriptor
/// passes, as `FdPassPeer`'s thread does: the far end of a raw
/// `SCM_RIGHTS` pass, in whatever process serves it.
#[derive(Debug)]
pub struct FdPassServer {
    socket: PathBuf,
    acceptor: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl FdPassServer {
    /// Binds `socket` (replacing a stale file); each connection gets a thread.
    pub fn start(socket: &Path) -> io::Result<Self> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name("fd-pass-server".into())
            .spawn(move || {
                while let Ok((stream, _)) = listener.accept() {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    let _ = thread::Builder::new()
                        .name("fd-pass-peer".into())
                        .spawn(move || receive_passes(stream));
                }
            })?;
        Ok(Self {
            socket: socket.to_path_buf(),
            acceptor: Some(acceptor),
            stop,
        })
    }
}

impl Drop for FdPassServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = UnixStream::connect(&self.socket);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One pass of `fd` over `stream` to a descriptor-receiving peer (16 data
/// bytes beside it), waiting for its one-byte answer.
pub fn pass_fd(stream: &mut UnixStream, fd: impl AsFd) -> io::Result<()> {
    send_with_fd(&*stream, &PASS_DATA, fd)?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer)
}

/// A peer thread on the far end of a socket pair that receives one
/// descriptor per pass (16 data bytes beside it), closes it, and answers one byte.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct FdPassPeer {
    ours: UnixStream,
    peer: Option<JoinHandle<()>>,
}

#[cfg(test)]
impl FdPassPeer {
    /// Starts the peer thread.
    pub(crate) fn start() -> io::Result<Self> {
        let (ours, theirs) = UnixStream::pair()?;
        let peer = thread::Builder::new()
            .name("fd-pass-peer".into())
            .spawn(move || receive_passes(theirs))?;
        Ok(Self {
            ours,
            peer: Some(peer),
        })
    }

    /// One pass of `fd`, waiting for the peer's answer.
    pub(crate) fn pass(&mut self, fd: impl AsFd) -> io::Result<()> {
        pass_fd(&mut self.ours, fd)
    }
}

fn receive_passes(mut stream: UnixStream) {
    let mut buf = [0u8; PASS_DATA.len()];
    loop {
        match recv_with_fd(&stream, &mut buf) {
            Ok((0, _)) | Err(_) => return,
            Ok((_, fd)) => {
                drop(fd);
                if stream.write_all(&[1]).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
impl Drop for FdPassPeer {
    fn drop(&mut self) {
        let _ = self.ours.shutdown(std::net::Shutdown::Both);
        if let Some(peer) = self.peer.take() {
            let _ = peer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::exchange::Exchange;

    #[test]
    fn the_raw_server_answers_every_exchange_with_its_reply() {
        let dir = tempfile::Builder::new()
            .prefix("rs.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"));
        let reply = vec![0x01, 2, 0, 0, 0, 0xaa, 0xbb];
        let server =
            RawServer::start(&dir.path().join("s"), reply, 2).unwrap_or_else(|e| panic!("{e}"));
        let mut exchange = Exchange::hello("svc", "1.0.0").unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..5 {
            assert_eq!(exchange.run(server.socket()).ok(), Some(2));
            assert_eq!(exchange.last_reply(), [0xaa, 0xbb]);
        }
        let socket = server.socket().to_path_buf();
        drop(server);
        assert!(!socket.exists(), "the socket file is removed");
    }

    #[test]
    fn an_fd_pass_server_answers_every_connection() {
        let dir = tempfile::Builder::new()
            .prefix("fp.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("{e}"));
        let server = FdPassServer::start(&dir.path().join("p")).unwrap_or_else(|e| panic!("{e}"));
        let (a, _b) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..2 {
            let mut conn =
                UnixStream::connect(dir.path().join("p")).unwrap_or_else(|e| panic!("{e}"));
            pass_fd(&mut conn, &a).unwrap_or_else(|e| panic!("{e}"));
            pass_fd(&mut conn, &a).unwrap_or_else(|e| panic!("{e}"));
        }
        drop(server);
        assert!(!dir.path().join("p").exists());
    }

    #[test]
    fn an_fd_pass_is_received_and_answered() {
        let mut peer = FdPassPeer::start().unwrap_or_else(|e| panic!("{e}"));
        let (a, _b) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            peer.pass(&a).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
