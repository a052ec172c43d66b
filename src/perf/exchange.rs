//! One client exchange, the unit every latency figure times: connect,
//! write the request, read one reply frame, close. The same code drives a
//! broker and the raw baseline, so what differs is the server.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

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
    /// closes. Returns the reply body's length.
    pub fn run(&mut self, socket: &Path) -> Result<usize, ExchangeError> {
        let mut stream = UnixStream::connect(socket).map_err(|source| ExchangeError::Connect {
            socket: socket.to_path_buf(),
            source,
        })?;
        self.run_on(&mut stream)
    }

    /// The exchange on a connected stream (left open).
    pub fn run_on(&mut self, stream: &mut UnixStream) -> Result<usize, ExchangeError> {
        stream
            .write_all(&self.request)
            .map_err(|source| ExchangeError::Io {
                what: "writing the request",
                source,
            })?;
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
        .map_err(|source| ExchangeError::Io {
            what: "reading the reply header",
            source,
        })?;
    let len = parse_header(&header, MAX_FRAME_BYTES)? as usize;
    body.resize(len, 0);
    reader
        .read_exact(body)
        .map_err(|source| ExchangeError::Io {
            what: "reading the reply body",
            source,
        })?;
    Ok(len)
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
