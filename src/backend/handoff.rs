//! Connection handoff, backend side (HOF-2…HOF-4, HOF-9, LCH-6): accept
//! connections on the handoff socket, receive the client's descriptor with
//! its 16 token bytes, check the offer, answer with an ack, and serve the
//! adopted client like any other connection.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;

use super::identity::BackendIdentity;
use super::listener::BackendListener;
use super::serve::{ConnectionHandler, serve_connection};
use crate::proto::v1::{Frame, HandoffAck};
use crate::sys::recv_with_fd;
use crate::wire::frames::handoff_ack;
use crate::wire::framing::blocking::{read_frame, write_frame};
use crate::wire::handoff::{CheckedOffer, OfferRejection, check_offer};
use crate::wire::{HANDOFF_TOKEN_LEN, MAX_FRAME_BYTES};

/// One offer as received: the token bytes and descriptor from the
/// control message, the offer frame, and the HOF-9 verdict on it.
#[derive(Debug)]
pub struct ReceivedHandoff {
    /// The 16 bytes that came with the descriptor.
    pub token: Vec<u8>,
    /// The client's socket, if a descriptor arrived.
    pub client: Option<UnixStream>,
    /// The offer frame.
    pub frame: Frame,
    /// The offer checked against the token (HOF-9).
    pub offer: Result<CheckedOffer, OfferRejection>,
}

/// Receives one offer on a handoff connection: `recvmsg` of the 16 token
/// bytes with the descriptor (HOF-2), then the offer frame (HOF-3).
pub fn receive_handoff(conn: &mut UnixStream) -> io::Result<ReceivedHandoff> {
    let mut token = [0u8; HANDOFF_TOKEN_LEN];
    let (received, fd) = recv_with_fd(&*conn, &mut token)?;
    if received == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "handoff connection closed",
        ));
    }
    let mut filled = received;
    // HOF-2 sends all 16 bytes at once; a short read is finished plainly.
    while filled < HANDOFF_TOKEN_LEN {
        let n = io::Read::read(conn, &mut token[filled..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "handoff token cut short",
            ));
        }
        filled += n;
    }
    let frame = read_frame(conn, MAX_FRAME_BYTES).map_err(io::Error::other)?;
    let offer = check_offer(&frame, &token);
    Ok(ReceivedHandoff {
        token: token.to_vec(),
        client: fd.map(UnixStream::from),
        frame,
        offer,
    })
}

/// The ack a backend sends, and what it then does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckPlan {
    /// The ack.
    pub ack: HandoffAck,
    /// The frame's request id (the correlation id, HOF-4).
    pub request_id: u64,
    /// Wait this long before acking.
    pub delay: Duration,
    /// Serve the client's socket after acking.
    pub serve_client: bool,
}

impl AckPlan {
    /// HOF-9: echo the offered token and correlation id; accept a valid
    /// offer that came with a descriptor, otherwise decline with a reason.
    pub fn truthful(received: &ReceivedHandoff) -> Self {
        let (correlation_id, token) = match &received.offer {
            Ok(checked) => (checked.offer.correlation_id, checked.offer.token.clone()),
            Err(_) => (
                received.frame.request_id,
                Bytes::copy_from_slice(&received.token),
            ),
        };
        let (accepted, error_detail) = match (&received.offer, &received.client) {
            (Ok(_), Some(_)) => (true, String::new()),
            (Ok(_), None) => (false, "no descriptor came with the offer".to_owned()),
            (Err(e), _) => (false, e.to_string()),
        };
        Self {
            ack: HandoffAck {
                token,
                accepted,
                error_detail,
                correlation_id,
            },
            request_id: correlation_id,
            delay: Duration::ZERO,
            serve_client: accepted,
        }
    }
}

/// Decides the ack for each offer; the default is [`AckPlan::truthful`].
pub trait HandoffPolicy: Send + Sync + 'static {
    /// The plan for one received offer.
    fn plan(&self, received: &ReceivedHandoff) -> AckPlan {
        AckPlan::truthful(received)
    }
}

/// Accepts every valid offer.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptHandoffs;

impl HandoffPolicy for AcceptHandoffs {}

/// Binds the handoff socket (LCH-6), replacing a stale file.
pub fn bind_handoff_listener(path: &Path) -> io::Result<UnixListener> {
    Ok(BackendListener::bind(path)?.listener)
}

/// How long the handoff socket waits for a broker's offer bytes before it
/// gives up on that connection (HOF-4 gives the whole exchange 5 s).
const OFFER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves handoff connections forever. Each offer is received, planned and
/// acked on the accepting thread — an ack is due at once (HOF-4), and a
/// thread start would only delay it; a policy that delays its ack gets a
/// thread of its own — then the adopted client is served on a new thread,
/// which starts while the broker tells the client, so it is ready for the
/// client's first request.
pub fn serve_handoffs(
    listener: UnixListener,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
    policy: Arc<dyn HandoffPolicy>,
) -> io::Result<()> {
    loop {
        let (mut conn, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let _ = conn.set_read_timeout(Some(OFFER_READ_TIMEOUT));
        let Ok(received) = receive_handoff(&mut conn) else {
            continue;
        };
        let plan = policy.plan(&received);
        let offer = Offer {
            conn,
            received,
            plan,
            identity: Arc::clone(&identity),
            handler: Arc::clone(&handler),
        };
        if offer.plan.delay.is_zero() {
            offer.finish();
        } else {
            thread::Builder::new()
                .name("backend-handoff".into())
                .spawn(move || offer.finish())?;
        }
    }
}

/// One received offer and what to do about it.
struct Offer {
    conn: UnixStream,
    received: ReceivedHandoff,
    plan: AckPlan,
    identity: Arc<BackendIdentity>,
    handler: Arc<dyn ConnectionHandler>,
}

impl Offer {
    /// Acks as planned, then serves the adopted client on a thread of its
    /// own. A declined client's descriptor is closed here, so only the
    /// broker's copy (closed by the broker, HOF-6) remains.
    fn finish(mut self) {
        if !self.plan.delay.is_zero() {
            thread::sleep(self.plan.delay);
        }
        let mut frame = handoff_ack(&self.plan.ack);
        frame.request_id = self.plan.request_id;
        if write_frame(&mut self.conn, &frame).is_err() {
            return;
        }
        drop(self.conn);
        let Some(client) = self
            .received
            .client
            .take()
            .filter(|_| self.plan.serve_client)
        else {
            return;
        };
        let (identity, handler) = (self.identity, self.handler);
        let _ = thread::Builder::new()
            .name("backend-adopted".into())
            .spawn(move || {
                let _ = serve_connection(client, &identity, handler.as_ref());
            });
    }
}
