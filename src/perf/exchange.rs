//! One client exchange, the unit every latency figure times: connect,
//! write the request, read one reply frame, close. The same code drives a
//! broker and the raw baseline, so what differs is the server.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::proto::v1::Hello;
use crate::wire::framing::{FramingError, encode_frame, parse_header};
use crate::wire::{FRAME_HEADER_LEN, MAX_FRAME_BYTES, frames};

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The server did not accept.
    #[error("connecting to {socket}: {source}")]
    Connect {
        /// The socket dialled.
        socket: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// Writing the request or reading the reply failed.
    #[error("{what}: {source}")]
    Io {
        /// Which half.
        what: &'static str,
        /// The failure.
        source: io::Error,
    },
    /// The deadline passed before this step was done.
    #[error("{what}: no progress before the deadline")]
    TimedOut {
        /// The step.
        what: &'static str,
    },
    /// The reply's header is not a valid frame header.
    #[error("the reply is not a frame: {0}")]
    Framing(#[from] FramingError),
}

/// A reusable client for one request: the bytes are encoded once and the
/// reply buffer is kept between exchanges, so timing sees only the wire.
#[derive(Debug, Clone)]
pub struct Exchange {
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl Exchange {
    /// A client sending these exact bytes.
    pub fn new(request: Vec<u8>) -> Self {
        Self {
            request,
            reply: Vec::new(),
        }
    }

    /// A client sending a Hello for `service` at `version` (request id 1).
    pub fn hello(service: &str, version: &str) -> Result<Self, FramingError> {
        Ok(Self::new(hello_request_bytes(service, version)?))
    }

    /// The request bytes.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The body of the last reply.
    pub fn last_reply(&self) -> &[u8] {
        &self.reply
    }

    /// Connects to `socket`, sends the request, reads one reply frame and
    /// closes, unbounded (benches: no timeout syscalls in the timed path).
    /// Returns the reply body's length.
    pub fn run(&mut self, socket: &Path) -> Result<usize, ExchangeError> {
        let mut stream = UnixStream::connect(socket).map_err(|source| ExchangeError::Connect {
            socket: socket.to_path_buf(),
            source,
        })?;
        self.run_on(&mut stream)
    }

    /// Connects to `socket`, sends the request, reads one reply frame and
    /// closes, each step bounded by `deadline` (a broker that stops
    /// accepting or answering costs at most the time left). Returns the
    /// reply body's length.
    pub fn run_within(&mut self, socket: &Path, deadline: Instant) -> Result<usize, ExchangeError> {
        let mut stream = connect_within(socket, deadline)?;
        let left = time_left(deadline, "writing the request")?;
        stream
            .set_write_timeout(Some(left))
            .and_then(|()| stream.set_read_timeout(Some(left)))
            .map_err(|source| io_failure("setting the deadline", source))?;
        self.run_on(&mut stream)
    }

    /// The exchange on a connected stream (left open).
    pub fn run_on(&mut self, stream: &mut UnixStream) -> Result<usize, ExchangeError> {
        stream
            .write_all(&self.request)
            .map_err(|source| io_failure("writing the request", source))?;
        read_frame_into(stream, &mut self.reply)
    }
}

/// Reads one frame from `reader`, its body into `body` (reused); returns the body length.
pub fn read_frame_into<R: Read>(
    reader: &mut R,
    body: &mut Vec<u8>,
) -> Result<usize, ExchangeError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    reader
        .read_exact(&mut header)
        .map_err(|source| io_failure("reading the reply header", source))?;
    let len = parse_header(&header, MAX_FRAME_BYTES)? as usize;
    body.resize(len, 0);
    reader
        .read_exact(body)
        .map_err(|source| io_failure("reading the reply body", source))?;
    Ok(len)
}

/// The time left before `deadline` for `what`; none left is [`ExchangeError::TimedOut`].
fn time_left(deadline: Instant, what: &'static str) -> Result<Duration, ExchangeError> {
    Some(deadline.saturating_duration_since(Instant::now()))
        .filter(|left| !left.is_zero())
        .ok_or(ExchangeError::TimedOut { what })
}

/// An I/O failure of `what`; a socket timeout is [`ExchangeError::TimedOut`].
fn io_failure(what: &'static str, source: io::Error) -> ExchangeError {
    match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ExchangeError::TimedOut { what },
        _ => ExchangeError::Io { what, source },
    }
}

/// Connects to `socket`, waiting for room in its backlog until `deadline` at most.
pub(crate) fn connect_within(
    socket: &Path,
    deadline: Instant,
) -> Result<UnixStream, ExchangeError> {
    let left = time_left(deadline, "connecting")?;
    crate::sys::connect_unix_within(socket, left).map_err(|source| match source.kind() {
        io::ErrorKind::TimedOut => ExchangeError::TimedOut { what: "connecting" },
        _ => ExchangeError::Connect {
            socket: socket.to_path_buf(),
            source,
        },
    })
}

/// The framed bytes of a minimal Hello (protocol 1..1) for `service` at `version`.
pub fn hello_request_bytes(service: &str, version: &str) -> Result<Vec<u8>, FramingError> {
    let hello = Hello {
        client_min_protocol: 1,
        client_max_protocol: 1,
        service_name: service.into(),
        wanted_version: version.into(),
        ..Hello::default()
    };
    encode_frame(&frames::hello_request(&hello, 1))
}
