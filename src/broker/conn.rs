//! One accepted connection, kept off the event loop until it would block.
//!
//! A client writes its Hello right after connecting, so by the time the
//! broker looks, the bytes are nearly always there: the Hello is read (in
//! one syscall) and the reply written with plain non-blocking syscalls, and
//! only a connection that has to wait is registered with the reactor. That saves
//! the registration, the deregistration and a trip through the reactor on
//! every ordinary exchange.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream as PlainStream;

use bytes::Bytes;
use tokio::net::UnixStream as RegisteredStream;

use crate::wire::{FrameDecoder, FramingError};

/// A non-blocking client socket, registered with the reactor on first wait.
#[derive(Debug)]
pub struct Connection {
    // Exactly one of the two is set.
    plain: Option<PlainStream>,
    registered: Option<RegisteredStream>,
    read_past_frame: bool,
}

/// The most the first read of a connection takes: a typical Hello frame
/// with room to spare.
const FIRST_READ: usize = 1024;

/// Which way the caller is waiting.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl Connection {
    /// Wraps an accepted socket; it must already be non-blocking.
    pub fn new(stream: PlainStream) -> Self {
        Self {
            plain: Some(stream),
            registered: None,
            read_past_frame: false,
        }
    }

    fn gone() -> io::Error {
        io::Error::new(ErrorKind::NotConnected, "the connection is gone")
    }

    /// One non-blocking read.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (&mut self.plain, &self.registered) {
            (Some(plain), _) => plain.read(buf),
            (None, Some(registered)) => registered.try_read(buf),
            (None, None) => Err(Self::gone()),
        }
    }

    /// One non-blocking write.
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (&mut self.plain, &self.registered) {
            (Some(plain), _) => plain.write(buf),
            (None, Some(registered)) => registered.try_write(buf),
            (None, None) => Err(Self::gone()),
        }
    }

    /// Waits until the socket is ready, registering it first if needed.
    async fn wait(&mut self, direction: Direction) -> io::Result<()> {
        if let Some(plain) = self.plain.take() {
            self.registered = Some(RegisteredStream::from_std(plain)?);
        }
        let registered = self.registered.as_ref().ok_or_else(Self::gone)?;
        // `try_read`/`try_write` clear the readiness when they would
        // block, so a wake-up after them is never lost.
        match direction {
            Direction::Read => registered.readable().await,
            Direction::Write => registered.writable().await,
        }
    }

    /// Reads one frame body through a decoder. The first read takes up to
    /// `FIRST_READ` bytes at once: a Hello (header and body, usually one
    /// segment from the client) then costs one syscall. Anything read past
    /// the frame is dropped and remembered ([`read_past_frame`]): a client
    /// that wrote more before seeing a reply broke ENV-5 (and HOF-8), and
    /// such a connection is not handed off, since what it sent would be
    /// lost. Later reads take exactly what the frame still needs.
    ///
    /// [`read_past_frame`]: Self::read_past_frame
    pub async fn read_frame_body(&mut self, limit: u32) -> Result<Bytes, FramingError> {
        let mut decoder = FrameDecoder::with_limit(limit);
        let mut first = [0u8; FIRST_READ];
        loop {
            match self.try_read(&mut first) {
                Ok(0) => return Err(decoder.eof_error()),
                Ok(n) => {
                    let (consumed, body) = decoder.push(&first[..n])?;
                    if let Some(body) = body {
                        self.read_past_frame = consumed < n;
                        return Ok(body);
                    }
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(Direction::Read).await?,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        loop {
            match self.try_read(decoder.read_window_whole_header()) {
                Ok(0) => return Err(decoder.eof_error()),
                Ok(n) => {
                    if let Some(body) = decoder.commit(n)? {
                        return Ok(body);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(Direction::Read).await?,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// True when the client had sent bytes beyond its first frame by the
    /// time that frame was read (they were dropped).
    pub fn read_past_frame(&self) -> bool {
        self.read_past_frame
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.try_write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(Direction::Write).await?,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Connection {
    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match (&self.plain, &self.registered) {
            (Some(plain), _) => Ok(plain.as_fd()),
            (None, Some(registered)) => Ok(registered.as_fd()),
            // A registration that failed consumed the socket.
            (None, None) => Err(Self::gone()),
        }
    }

    /// The peer's credentials (SO_PEERCRED).
    pub fn peer(&self) -> io::Result<crate::sys::PeerCredentials> {
        crate::sys::peer_credentials(self.fd()?)
    }

    /// A second descriptor for the same socket (to pass to a backend).
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.fd()?.try_clone_to_owned()
    }
}
