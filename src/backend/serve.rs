//! A small blocking frame server for backends: one thread per connection,
//! identity probes answered, every other frame handed to a handler.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::identity::BackendIdentity;
use super::probe::{ProbeAnswer, answer_probe, is_probe_request};
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

/// Serves `listener` forever: each connection on its own thread.
pub fn serve(
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
) -> io::Result<()> {
    serve_until(listener, identity, handler, &AtomicBool::new(false))
}

/// Serves `listener` until `stop` is set; whoever sets it connects once to
/// wake the accept. Connections already running finish on their own.
pub fn serve_until(
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
    stop: &AtomicBool,
) -> io::Result<()> {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let identity = Arc::clone(&identity);
        let handler = Arc::clone(&handler);
        thread::Builder::new()
            .name("backend-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &identity, handler.as_ref());
            })?;
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
