//! A case's connection to the broker: reads are buffered (so alternatives
//! can replay what arrived) and every byte in either direction goes into
//! the case's wire log.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::model::TraceEvent;
use crate::inspect::to_hex;
use crate::proto::v1::Frame;
use crate::wire::MAX_FRAME_BYTES;
use crate::wire::framing::{FrameDecoder, FramingError, decode_frame_body};

/// The wire log of one case.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    started: Instant,
    /// The events so far.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// A log starting now.
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            events: Vec::new(),
        }
    }

    /// Appends an event.
    pub(crate) fn push(&mut self, conn: &str, what: &str, bytes: &[u8], note: impl Into<String>) {
        self.events.push(TraceEvent {
            at_ms: self.started.elapsed().as_millis() as u64,
            conn: conn.to_owned(),
            what: what.to_owned(),
            hex: to_hex(bytes),
            note: note.into(),
        });
    }
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}

/// Why no frame was read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The peer closed after sending these bytes of a frame (none: a clean close).
    Closed {
        /// Bytes of an unfinished frame.
        partial: Vec<u8>,
    },
    /// Nothing complete arrived in time.
    Timeout {
        /// Bytes of an unfinished frame.
        partial: Vec<u8>,
    },
    /// The bytes are not a frame.
    Framing(FramingError),
    /// The socket failed.
    Io(io::Error),
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed { partial } if partial.is_empty() => {
                f.write_str("the broker closed the connection")
            }
            Self::Closed { partial } => write!(
                f,
                "the broker closed the connection after {} bytes of a frame",
                partial.len()
            ),
            Self::Timeout { partial } if partial.is_empty() => {
                f.write_str("nothing arrived in time")
            }
            Self::Timeout { partial } => {
                write!(f, "only {} bytes of a frame arrived in time", partial.len())
            }
            Self::Framing(e) => write!(f, "the reply is not a frame: {e}"),
            Self::Io(e) => write!(f, "reading failed: {e}"),
        }
    }
}

/// A connection with a read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    name: String,
    stream: Option<UnixStream>,
    buffer: VecDeque<u8>,
    eof: bool,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

impl Conn {
    /// Connects (plain blocking connect: a connect with a timeout can
    /// return an unconnected socket when the backlog is full).
    pub(crate) fn connect(name: &str, socket: &Path) -> io::Result<Self> {
        Ok(Self::from_stream(name, UnixStream::connect(socket)?))
    }

    /// Wraps an existing stream.
    pub(crate) fn from_stream(name: &str, stream: UnixStream) -> Self {
        Self {
            name: name.to_owned(),
            stream: Some(stream),
            buffer: VecDeque::new(),
            eof: false,
        }
    }

    /// The socket, while it is open.
    pub(crate) fn stream(&self) -> Option<&UnixStream> {
        self.stream.as_ref()
    }

    /// Writes bytes, logging them.
    pub(crate) fn send(&mut self, bytes: &[u8], trace: &mut Trace, note: &str) -> io::Result<()> {
        trace.push(&self.name, "send", bytes, note);
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("the connection is closed"))?;
        stream.write_all(bytes)
    }

    /// Shuts the writing half.
    pub(crate) fn half_close(&mut self, trace: &mut Trace) -> io::Result<()> {
        trace.push(&self.name, "note", &[], "half-close (shutdown write)");
        match &self.stream {
            Some(s) => s.shutdown(std::net::Shutdown::Write),
            None => Ok(()),
        }
    }

    /// Reads more bytes into the buffer; false on EOF. Times out at `deadline`.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let Some(stream) = self.stream.as_mut() else {
            self.eof = true;
            return Ok(false);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline"));
        }
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buffer.extend(&chunk[..n]);
                Ok(true)
            }
            Err(e) if is_reset(&e) => {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads one frame before `deadline`; returns it with its bytes.
    pub(crate) fn next_frame(
        &mut self,
        deadline: Instant,
        trace: &mut Trace,
    ) -> Result<(Frame, Vec<u8>), ReadFailure> {
        let mut decoder = FrameDecoder::with_limit(MAX_FRAME_BYTES);
        let mut raw = Vec::new();
        loop {
            while let Some(byte) = self.buffer.pop_front() {
                raw.push(byte);
                match decoder.push(&[byte]) {
                    Ok((_, Some(body))) => {
                        trace.push(&self.name, "recv", &raw, "");
                        return decode_frame_body(body)
                            .map(|f| (f, raw))
                            .map_err(ReadFailure::Framing);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        trace.push(&self.name, "recv", &raw, format!("not a frame: {e}"));
                        return Err(ReadFailure::Framing(e));
                    }
                }
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    trace.push(&self.name, "close", &raw, "closed by the broker");
                    return Err(ReadFailure::Closed { partial: raw });
                }
                Err(e) if is_timeout(&e) => {
                    // Put the partial frame back: a later step may wait longer.
                    if !raw.is_empty() {
                        trace.push(&self.name, "note", &raw, "partial frame so far");
                    }
                    for b in raw.iter().rev() {
                        self.buffer.push_front(*b);
                    }
                    return Err(ReadFailure::Timeout { partial: raw });
                }
                Err(e) => return Err(ReadFailure::Io(e)),
            }
        }
    }

    /// Waits until the peer closes. `Ok(extra bytes)` when it closed
    /// (empty for a clean close), `Err` when still open at `deadline`.
    pub(crate) fn wait_close(
        &mut self,
        deadline: Instant,
        trace: &mut Trace,
    ) -> Result<Vec<u8>, ReadFailure> {
        loop {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    let extra: Vec<u8> = self.buffer.drain(..).collect();
                    trace.push(&self.name, "close", &extra, "closed by the broker");
                    return Ok(extra);
                }
                Err(e) if is_timeout(&e) => {
                    return Err(ReadFailure::Timeout {
                        partial: self.buffer.iter().copied().collect(),
                    });
                }
                Err(e) => return Err(ReadFailure::Io(e)),
            }
        }
    }

    /// Reads everything until the peer closes or `deadline`, into the
    /// buffer, so several alternatives can each replay it.
    pub(crate) fn drain_until(&mut self, deadline: Instant) {
        while let Ok(true) = self.fill(deadline) {}
    }

    /// A copy that replays the buffered bytes (and the socket, when still open).
    pub(crate) fn replay(&self) -> io::Result<Self> {
        Ok(Self {
            name: self.name.clone(),
            stream: match (&self.stream, self.eof) {
                (Some(s), false) => Some(s.try_clone()?),
                _ => None,
            },
            buffer: self.buffer.clone(),
            eof: self.eof,
        })
    }
}
