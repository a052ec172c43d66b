//! One accepted connection: its socket, kept off the event loop until it
//! would block, and the loop that drives its [`HelloExchange`] — read what
//! the machine asks for, feed the result back, apply the effects.
//!
//! A client writes its Hello right after connecting, so by the time the
//! broker looks, the bytes are nearly always there: the Hello is read (in
//! one syscall) and the reply written with plain non-blocking syscalls, and
//! only a connection that has to wait is registered with the reactor. That
//! saves the registration, the deregistration and a trip through the
//! reactor on every ordinary exchange.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream as PlainStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UnixStream as RegisteredStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;

use super::admin::{AdminResponse, AdminSnapshot, diagnose_reply, respond};
use super::control_rpc;
use super::handoff::{HandoffFailure, fresh_token, hand_off};
use super::hello::{Action, Effect, Event, Handoff, HelloExchange};
use super::metrics::OutcomeLabels;
use super::rooms::Rooms;
use crate::definitions::write_atomic;
use crate::proto::v1::{AdminRequest, Frame};
use crate::wire::frames::admin_reply;
use crate::wire::framing::{decode_frame_body, encode_frame};
use crate::wire::{FrameDecoder, FramingError, ReplyContext};

/// How long writing the one reply may take before the peer is dropped.
const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one connection to its end (FRM-10: nothing here ends the broker).
pub(crate) async fn serve_connection(
    rooms: Arc<Rooms>,
    mut stream: Connection,
    permit: OwnedSemaphorePermit,
) {
    let _guard = rooms.lifecycle.open_connection();
    let _permit = permit;
    let started = Instant::now();
    let Ok(peer) = stream.peer() else {
        return;
    };
    let mut exchange = HelloExchange::new(&rooms.policy);
    let mut event = Event::Peer(peer);
    loop {
        let action = exchange.handle(event);
        let next = perform(&rooms, &mut stream, action).await;
        for effect in exchange.take_effects() {
            apply(&rooms, effect, started);
        }
        match next {
            Some(next) => event = next,
            None => return,
        }
    }
}

/// Carries out one action; the event it produced, or `None` to close.
async fn perform(rooms: &Arc<Rooms>, stream: &mut Connection, action: Action<'_>) -> Option<Event> {
    Some(match action {
        Action::ReadFrame { limit } => {
            read_first_frame(stream, limit, rooms.config.hello_timeout, || {
                rooms.fd_pressure.demoted_now()
            })
            .await
        }
        Action::LoadDefinition(service) => Event::Definition {
            loaded: rooms.loader.load(service),
            draining: rooms.lifecycle.is_draining(),
        },
        Action::ResolveBinary(definition) => {
            Event::Binary(rooms.launcher.resolve_binary(definition).await)
        }
        Action::AcquireBackend(plan) => {
            let connection_id = rooms.lifecycle.next_connection_id();
            // Boxed: a launch is a large future, and most connections never
            // await one.
            let acquired = Box::pin(rooms.launcher.acquire(plan, connection_id)).await;
            Event::Backend {
                connection_id,
                acquired,
            }
        }
        Action::IssueToken => Event::Token(
            fresh_token()
                .inspect_err(|e| tracing::warn!(error = %e, "no handoff: cannot make a token"))
                .ok(),
        ),
        Action::Reply(frame) => {
            write_reply(stream, frame).await;
            Event::Replied
        }
        Action::Admin(request, ctx) => {
            Box::pin(answer_admin(rooms, stream, request, ctx)).await;
            Event::Replied
        }
        Action::ControlRpc(rpc) => {
            let reply =
                control_rpc::reply(rpc, rooms.http_port(), std::process::id(), |pid, port| {
                    rooms
                        .launcher
                        .endpoints()
                        .update(|book| book.report_ready(pid, port))
                });
            if let Some(reply) = reply {
                write_reply(stream, &reply).await;
            }
            Event::Replied
        }
        Action::HandOff(handoff) => {
            match Box::pin(hand_off_client(stream, handoff)).await {
                Ok(()) => tracing::debug!(handoff.connection_id, "connection handed off"),
                Err(e) => tracing::info!(
                    handoff.connection_id,
                    error = %e,
                    "handoff failed; the client falls back to backend_pipe"
                ),
            }
            Event::HandedOff
        }
        // A launching broker never looks up a published daemon (v2 §0).
        Action::LookUpDaemon(_) | Action::Close => return None,
    })
}

/// HOF-2…HOF-5 with this connection's socket, then the EVENT pushed to
/// the client; on a failure the client falls back to `backend_pipe` (HOF-6).
async fn hand_off_client(stream: &mut Connection, handoff: &Handoff) -> Result<(), HandoffFailure> {
    let fd = stream.try_clone_fd().map_err(HandoffFailure::Duplicate)?;
    let event = hand_off(fd, handoff).await?;
    stream
        .write_all(&event)
        .await
        .map_err(HandoffFailure::EventWrite)
}

/// FRM-1…FRM-9: the first frame, at most `limit` bytes of body, under the
/// Hello deadline, decoded, with what ENV-3 needs to know about the broker
/// now (`fd_pressure`, asked once the frame is in).
pub(crate) async fn read_first_frame(
    stream: &mut Connection,
    limit: u32,
    hello_timeout: Duration,
    fd_pressure: impl FnOnce() -> bool,
) -> Event {
    let Ok(read) = timeout(hello_timeout, stream.read_frame_body(limit)).await else {
        return Event::DeadlineExpired;
    };
    let decoded = read.and_then(|body| {
        let body_len = body.len();
        decode_frame_body(body).map(|frame| (frame, body_len))
    });
    match decoded {
        Ok((frame, body_len)) => Event::Frame {
            frame,
            body_len,
            read_past_frame: stream.read_past_frame(),
            fd_pressure: fd_pressure(),
        },
        Err(error) => Event::FramingFailed(error),
    }
}

/// Applies one effect of the exchange (EVT-2, ADM-6).
fn apply(rooms: &Rooms, effect: Effect, started: Instant) {
    match effect {
        Effect::Event(event) => rooms.events.emit(event),
        Effect::Outcome {
            service,
            version,
            outcome,
        } => rooms.metrics.record_hello(
            OutcomeLabels {
                service,
                version,
                outcome,
            },
            started.elapsed(),
        ),
        // A launching broker lists what it launched, not what it negotiated (V2W-15).
        Effect::Listed(_) => {}
    }
}

/// ADM-3…ADM-8 over a snapshot taken now; SHUTDOWN starts the drain before
/// its reply goes out, so anything the client does after reading it
/// already meets the drain (HEL-20), and the reply still goes out before
/// anything is closed (ADM-7).
async fn answer_admin(
    rooms: &Rooms,
    stream: &mut Connection,
    request: &AdminRequest,
    ctx: &ReplyContext,
) {
    let snapshot = AdminSnapshot::capture(&rooms.admin_sources());
    let reply = match respond(request, &snapshot) {
        AdminResponse::Reply(reply) => reply,
        AdminResponse::Shutdown {
            reply,
            drain_deadline,
        } => {
            tracing::info!("SHUTDOWN requested by admin");
            rooms.lifecycle.begin_shutdown(drain_deadline);
            reply
        }
        AdminResponse::Diagnose {
            output_path,
            bundle,
        } => {
            let written = match &output_path {
                Some(path) => write_atomic(path, bundle.as_bytes(), 0o600)
                    .map_err(|e| format!("{}: {e}", path.display())),
                None => Ok(()),
            };
            diagnose_reply(&snapshot, output_path.as_deref(), written)
        }
    };
    write_reply(stream, &admin_reply(ctx, &reply)).await;
}

/// Writes the one reply frame, bounded in time; the caller then closes.
pub(crate) async fn write_reply(stream: &mut Connection, frame: &Frame) {
    let bytes = match encode_frame(frame) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the reply");
            return;
        }
    };
    match timeout(REPLY_WRITE_TIMEOUT, stream.write_all(&bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "reply not delivered"),
        Err(_) => tracing::debug!("reply write timed out"),
    }
}

/// A non-blocking client socket, registered with the reactor on first wait.
#[derive(Debug)]
pub(crate) struct Connection {
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
    pub(crate) fn new(stream: PlainStream) -> Self {
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
    async fn read_frame_body(&mut self, limit: u32) -> Result<Bytes, FramingError> {
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
    fn read_past_frame(&self) -> bool {
        self.read_past_frame
    }

    /// Writes all of `bytes`.
    pub(crate) async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
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
    pub(crate) fn peer(&self) -> io::Result<crate::sys::PeerCredentials> {
        crate::sys::peer_credentials(self.fd()?)
    }

    /// A second descriptor for the same socket (to pass to a backend).
    pub(crate) fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.fd()?.try_clone_to_owned()
    }
}
