//! A small blocking frame server for backends: a thread per connection
//! from a pool of acceptors, identity probes answered, every other frame
//! handed to a handler.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use super::identity::BackendIdentity;
use super::probe::{
    ProbeAnswer, answer_probe, answer_probe_cut, answer_probe_in_pieces, is_probe_request,
};
use crate::proto::v1::{Frame, FrameKind};
use crate::wire::MAX_FRAME_BYTES;
use crate::wire::framing::blocking::{read_frame, write_frame};

/// Whether to keep a connection open after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next frame.
    Continue,
    /// Close the connection.
    Close,
}

/// A backend's behaviour on one connection.
pub trait ConnectionHandler: Send + Sync + 'static {
    /// Called for every frame that is not an identity probe.
    fn on_frame(&self, frame: Frame, stream: &mut UnixStream) -> io::Result<Flow>;

    /// Decides the answer to an identity probe; the default tells the truth.
    fn on_probe(&self, _request: &Frame, identity: &BackendIdentity) -> ProbeAnswer {
        ProbeAnswer::Reply(identity.daemon_process().clone())
    }

    /// Called after a probe was answered; returning `Close` ends the connection.
    fn after_probe(&self) -> Flow {
        Flow::Continue
    }
}

/// Answers every request frame with a RESPONSE carrying the same payload,
/// protocol and request_id: a minimal working backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoHandler;

impl ConnectionHandler for EchoHandler {
    fn on_frame(&self, frame: Frame, stream: &mut UnixStream) -> io::Result<Flow> {
        let reply = Frame {
            kind: FrameKind::Response as i32,
            ..frame
        };
        write_frame(stream, &reply).map_err(io::Error::other)?;
        Ok(Flow::Continue)
    }
}

/// Serves `listener` forever (see [`serve_until`]).
pub fn serve(
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
) -> io::Result<()> {
    serve_until(
        listener,
        identity,
        handler,
        Arc::new(AtomicBool::new(false)),
    )
}

/// Threads kept waiting in `accept` beyond the one the pool always has.
const MAX_IDLE_ACCEPTORS: usize = 4;

/// What every acceptor of one listener shares.
struct Pool {
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
    stop: Arc<AtomicBool>,
    /// Threads waiting in `accept`.
    idle: AtomicUsize,
}

/// Serves `listener` until `stop` is set; whoever sets it connects once to
/// wake an acceptor, which wakes the next. Connections already running
/// finish on their own.
///
/// Connections are served by the thread that accepted them, so a request
/// that arrives with its connection is answered without a hand-over; the
/// pool keeps one thread waiting in `accept` at all times (a new one is
/// started as the last waiting one takes a connection) and lets threads
/// beyond `MAX_IDLE_ACCEPTORS` waiting ones end.
pub fn serve_until(
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let pool = Arc::new(Pool {
        listener,
        identity,
        handler,
        stop,
        idle: AtomicUsize::new(1),
    });
    accept_loop(&pool, true)
}

/// One acceptor: accept, serve, repeat. The first one (`primary`) only
/// returns on stop or a listener error; the others also when enough wait.
fn accept_loop(pool: &Arc<Pool>, primary: bool) -> io::Result<()> {
    loop {
        if pool.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let accepted = pool.listener.accept();
        if pool.stop.load(Ordering::SeqCst) {
            // Pass the wake-up on to the next waiting acceptor.
            if let Ok(addr) = pool.listener.local_addr()
                && let Some(path) = addr.as_pathname()
            {
                let _ = UnixStream::connect(path);
            }
            return Ok(());
        }
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if pool.idle.fetch_sub(1, Ordering::SeqCst) == 1 {
            // This was the last waiting acceptor: start another before serving.
            pool.idle.fetch_add(1, Ordering::SeqCst);
            let next = Arc::clone(pool);
            let started = thread::Builder::new()
                .name("backend-conn".into())
                .spawn(move || {
                    let _ = accept_loop(&next, false);
                });
            if started.is_err() {
                pool.idle.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _ = serve_connection(stream, &pool.identity, pool.handler.as_ref());
        let waiting = pool.idle.fetch_add(1, Ordering::SeqCst);
        if !primary && waiting >= MAX_IDLE_ACCEPTORS {
            pool.idle.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
    }
}

/// Serves one connection until the peer closes it or the handler says Close.
pub fn serve_connection(
    mut stream: UnixStream,
    identity: &BackendIdentity,
    handler: &dyn ConnectionHandler,
) -> io::Result<()> {
    // A socket received by SCM_RIGHTS keeps its sender's flags.
    stream.set_nonblocking(false)?;
    loop {
        let frame = match read_frame(&mut stream, MAX_FRAME_BYTES) {
            Ok(frame) => frame,
            Err(e) if e.is_clean_close() => return Ok(()),
            Err(e) => return Err(io::Error::other(e)),
        };
        let flow = if is_probe_request(&frame) {
            match handler.on_probe(&frame, identity) {
                ProbeAnswer::Reply(process) => {
                    answer_probe(&mut stream, &frame, &process).map_err(io::Error::other)?;
                    handler.after_probe()
                }
                ProbeAnswer::ReplyInPieces { identity, pause } => {
                    answer_probe_in_pieces(&mut stream, &frame, &identity, pause)
                        .map_err(io::Error::other)?;
                    handler.after_probe()
                }
                ProbeAnswer::ReplyCut(process) => {
                    answer_probe_cut(&mut stream, &frame, &process).map_err(io::Error::other)?;
                    Flow::Close
                }
                ProbeAnswer::Ignore => Flow::Continue,
                ProbeAnswer::Close => Flow::Close,
            }
        } else {
            handler.on_frame(frame, &mut stream)?
        };
        if flow == Flow::Close {
            return Ok(());
        }
    }
}
