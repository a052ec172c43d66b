//! Connection handoff, broker side (HOF-1…HOF-7): a fresh token per
//! handoff, and the exchange with the backend's handoff socket that ends
//! with the client's socket served by the backend. Whether to hand off
//! (NEG-8) is the Hello machine's decision.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::io::Interest;
use tokio::net::UnixStream;

use super::hello::Handoff;
use crate::sys::{random_bytes, send_with_fd};
use crate::wire::frames::{handoff_event, handoff_offer};
use crate::wire::framing::async_io::{read_frame, write_frame};
use crate::wire::framing::{FramingError, encode_frame};
use crate::wire::handoff::{AckRejection, check_ack};
use crate::wire::{HANDOFF_ACK_TIMEOUT, HANDOFF_TOKEN_LEN, MAX_FRAME_BYTES};

/// A handoff token (HOF-1).
pub(crate) type Token = [u8; HANDOFF_TOKEN_LEN];

/// A fresh random token for one handoff (HOF-1).
///
/// HOF-7 needs no token book: the exchange that offers a token is the only
/// place its ack is read, [`check_ack`] accepts only an ack carrying that
/// token and correlation id, it reads one ack, and it gives up after 5 s
/// (HOF-4), long before the 30 s TTL. A second ack, a replayed token or an
/// expired one can therefore never complete a handoff.
pub(crate) fn fresh_token() -> std::io::Result<Token> {
    random_bytes()
}

/// Why a handoff did not complete; the client then falls back (HOF-6).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandoffFailure {
    /// The backend's handoff socket did not accept.
    #[error("dialing the handoff socket {path}: {source}")]
    Dial {
        /// The socket.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The token and descriptor could not be sent in one `sendmsg`.
    #[error("sending the descriptor: {0}")]
    Send(std::io::Error),
    /// `sendmsg` sent fewer than the 16 token bytes.
    #[error("sendmsg sent {0} of 16 token bytes")]
    ShortSend(usize),
    /// Writing the offer or reading the ack failed.
    #[error("handoff exchange: {0}")]
    Exchange(#[from] FramingError),
    /// No ack within 5 s (HOF-4).
    #[error("no HandoffAck within {} ms (HOF-4)", HANDOFF_ACK_TIMEOUT.as_millis())]
    Timeout,
    /// The ack does not complete the handoff (HOF-5).
    #[error(transparent)]
    Ack(#[from] AckRejection),
    /// The EVENT could not be encoded.
    #[error("encoding the EVENT: {0}")]
    Event(FramingError),
    /// The client's socket could not be duplicated to pass it.
    #[error("duplicating the client socket: {0}")]
    Duplicate(std::io::Error),
    /// The EVENT could not be written to the client (HOF-5).
    #[error("writing the EVENT to the client: {0}")]
    EventWrite(std::io::Error),
}

/// HOF-2…HOF-5, HOF-7 for one client after `Negotiated` went out: pass
/// the client's socket (`client_fd`, a copy) to the backend with the token
/// in one `sendmsg`, send the offer and wait at most 5 s for the one ack,
/// which must match and accept. Returns the encoded EVENT frame the caller
/// pushes to the client (HOF-5). On any failure the client, whose socket
/// the caller then closes, falls back to `backend_pipe` (HOF-6).
pub(crate) async fn hand_off(
    client_fd: OwnedFd,
    handoff: &Handoff,
) -> Result<Vec<u8>, HandoffFailure> {
    let Handoff {
        pipe: handoff_pipe,
        token,
        service,
        connection_id: correlation_id,
    } = handoff;
    let (token, correlation_id) = (*token, *correlation_id);
    let offer = handoff_offer(&token, service, correlation_id);
    // All on the event loop: the backend's answer is awaited, not waited on
    // in a worker thread, so no thread hop sits on the handoff's path.
    let exchange = async {
        let mut conn =
            UnixStream::connect(handoff_pipe)
                .await
                .map_err(|source| HandoffFailure::Dial {
                    path: handoff_pipe.to_path_buf(),
                    source,
                })?;
        // HOF-2: one sendmsg, the token bytes with the client's descriptor.
        let sent = loop {
            conn.writable().await.map_err(HandoffFailure::Send)?;
            match conn.try_io(Interest::WRITABLE, || {
                send_with_fd(&conn, &token, &client_fd)
            }) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                result => break result.map_err(HandoffFailure::Send)?,
            }
        };
        // The backend holds its own copy now.
        drop(client_fd);
        if sent != HANDOFF_TOKEN_LEN {
            return Err(HandoffFailure::ShortSend(sent));
        }
        write_frame(&mut conn, &offer).await?;
        Ok(read_frame(&mut conn, MAX_FRAME_BYTES).await?)
    };
    let ack_frame = tokio::time::timeout(HANDOFF_ACK_TIMEOUT, exchange)
        .await
        .map_err(|_| HandoffFailure::Timeout)??;
    check_ack(&ack_frame, &token, correlation_id)?;
    encode_frame(&handoff_event(&token, correlation_id)).map_err(HandoffFailure::Event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handoff_gets_its_own_random_token() {
        let a = fresh_token().unwrap_or_default();
        let b = fresh_token().unwrap_or_default();
        assert_ne!(a, [0; HANDOFF_TOKEN_LEN]);
        assert_ne!(a, b);
    }
}
