//! One framed request and its reply over a blocking Unix socket, bounded by
//! a deadline (CLI-6). The only place the blocking client touches sockets.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::ClientError;
use crate::proto::v1::Frame;
use crate::wire::framing::blocking::{read_frame, write_frame};
use crate::wire::{FramingError, MAX_FRAME_BYTES};

/// A `Frame.request_id` not used before by this process (counts from 1).
pub fn next_request_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Connects with a plain blocking `connect(2)`. A connect with a timeout
/// can hand back an unconnected socket when the listener's backlog is
/// full, so none is used.
pub(crate) fn connect_socket(endpoint: &Path) -> Result<UnixStream, ClientError> {
    UnixStream::connect(endpoint).map_err(|source| ClientError::Connect {
        endpoint: endpoint.to_owned(),
        source,
    })
}

/// The names of the steps of a round trip, for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    /// Writing the request.
    pub send: &'static str,
    /// Reading the reply.
    pub receive: &'static str,
}

/// The steps of a Hello round trip.
pub(crate) const HELLO_STEPS: Steps = Steps {
    send: "sending the Hello",
    receive: "waiting for the Hello reply",
};

/// The steps of an admin round trip.
pub(crate) const ADMIN_STEPS: Steps = Steps {
    send: "sending the admin request",
    receive: "waiting for the admin reply",
};

/// Connects to `endpoint`, writes `request` and reads exactly one reply
/// frame, all of the writing and reading within `timeout` (CLI-6). The
/// stream comes back with its timeouts cleared.
pub(crate) fn round_trip(
    endpoint: &Path,
    request: &Frame,
    timeout: Duration,
    steps: Steps,
) -> Result<(UnixStream, Frame), ClientError> {
    let stream = connect_socket(endpoint)?;
    let mut bounded = DeadlineStream::new(&stream, timeout);
    write_frame(&mut bounded, request).map_err(|e| ClientError::framing(steps.send, timeout, e))?;
    let reply = read_frame(&mut bounded, MAX_FRAME_BYTES)
        .map_err(|e| ClientError::framing(steps.receive, timeout, e))?;
    clear_timeouts(&stream).map_err(|source| ClientError::Io {
        during: "clearing the socket timeouts",
        source,
    })?;
    Ok((stream, reply))
}

/// Reads one frame from `stream` within `within`. Every failure, the
/// deadline included, is returned as the framing error it was.
pub(crate) fn read_frame_within(
    stream: &UnixStream,
    within: Duration,
) -> Result<Frame, FramingError> {
    read_frame(&mut DeadlineStream::new(stream, within), MAX_FRAME_BYTES)
}

/// Removes read and write timeouts, handing the stream back in its
/// ordinary blocking state.
pub(crate) fn clear_timeouts(stream: &UnixStream) -> io::Result<()> {
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)
}

/// A stream whose every read and write must finish by one deadline: before
/// each call the socket timeout is set to the time left, so a peer that
/// drips bytes cannot stretch the bound.
struct DeadlineStream<'a> {
    stream: &'a UnixStream,
    /// `None` when the bound is too large to represent: no deadline.
    deadline: Option<Instant>,
}

impl<'a> DeadlineStream<'a> {
    fn new(stream: &'a UnixStream, within: Duration) -> Self {
        Self {
            stream,
            deadline: Instant::now().checked_add(within),
        }
    }

    /// The socket timeout for the next call, or a timeout error once the
    /// deadline has passed.
    fn remaining(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
        } else {
            Ok(Some(left))
        }
    }
}

impl Read for DeadlineStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(self.remaining()?)?;
        (&mut &*self.stream).read(buf)
    }
}

impl Write for DeadlineStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(self.remaining()?)?;
        (&mut &*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
