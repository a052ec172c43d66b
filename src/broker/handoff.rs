//! Connection handoff, broker side (HOF-1…HOF-7): one-time tokens, and the
//! exchange with the backend's handoff socket that ends with the client's
//! socket served by the backend. Whether to hand off (NEG-8) is the Hello
//! machine's decision.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::UnixStream;

use super::hello::Handoff;
use crate::sys::{random_bytes, send_with_fd};
use crate::wire::frames::{handoff_event, handoff_offer};
use crate::wire::framing::async_io::{read_frame, write_frame};
use crate::wire::framing::{FramingError, encode_frame};
use crate::wire::handoff::{AckRejection, check_ack};
use crate::wire::{HANDOFF_ACK_TIMEOUT, HANDOFF_TOKEN_LEN, HANDOFF_TOKEN_TTL, MAX_FRAME_BYTES};

/// A token as issued.
type Token = [u8; HANDOFF_TOKEN_LEN];

#[derive(Debug, Clone, Copy)]
struct Issued {
    correlation_id: u64,
    expires: Instant,
}

/// Why a token does not redeem (HOF-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenRejection {
    /// Never issued, already used, or revoked.
    #[error("handoff token unknown or already used (HOF-7)")]
    Unknown,
    /// Issued more than 30 s ago.
    #[error("handoff token expired (HOF-7)")]
    Expired,
    /// Issued for another correlation id.
    #[error("handoff token belongs to another connection")]
    Correlation,
}

/// Outstanding one-time tokens (HOF-7).
#[derive(Debug)]
pub(crate) struct HandoffTokens {
    issued: Mutex<HashMap<Token, Issued>>,
    ttl: Duration,
}

impl HandoffTokens {
    /// Tokens that live [`HANDOFF_TOKEN_TTL`].
    pub(crate) fn new() -> Self {
        Self {
            issued: Mutex::default(),
            ttl: HANDOFF_TOKEN_TTL,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Token, Issued>> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues a fresh random token for `correlation_id` (HOF-1).
    pub(crate) fn issue(&self, correlation_id: u64, now: Instant) -> std::io::Result<Token> {
        let token: Token = random_bytes()?;
        let ttl = self.ttl;
        let mut issued = self.lock();
        issued.retain(|_, t| t.expires > now);
        issued.insert(
            token,
            Issued {
                correlation_id,
                expires: now + ttl,
            },
        );
        Ok(token)
    }

    /// Redeems a token once (HOF-7): a second use, an expired token or one
    /// issued for another connection is rejected.
    pub(crate) fn redeem(
        &self,
        token: &[u8],
        correlation_id: u64,
        now: Instant,
    ) -> Result<(), TokenRejection> {
        let key: Token = token.try_into().map_err(|_| TokenRejection::Unknown)?;
        let issued = self.lock().remove(&key).ok_or(TokenRejection::Unknown)?;
        if issued.expires <= now {
            return Err(TokenRejection::Expired);
        }
        if issued.correlation_id != correlation_id {
            return Err(TokenRejection::Correlation);
        }
        Ok(())
    }

    /// Revokes a token after a failed handoff (HOF-6).
    pub(crate) fn revoke(&self, token: &Token) {
        self.lock().remove(token);
    }
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
    /// The token does not redeem (HOF-7).
    #[error(transparent)]
    Token(#[from] TokenRejection),
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

/// HOF-2…HOF-5 for one client after `Negotiated` went out: pass the
/// client's socket (`client_fd`, a copy) to the backend with the token in
/// one `sendmsg`, send the offer and wait at most 5 s for a matching
/// accepting ack. Returns the encoded EVENT frame the caller pushes to the
/// client (HOF-5). On any failure the token is revoked, and the client,
/// whose socket the caller then closes, falls back to `backend_pipe` (HOF-6).
pub(crate) async fn hand_off(
    client_fd: OwnedFd,
    handoff: &Handoff,
    tokens: &HandoffTokens,
) -> Result<Vec<u8>, HandoffFailure> {
    let result = exchange(client_fd, handoff, tokens).await;
    if result.is_err() {
        tokens.revoke(&handoff.token);
    }
    result
}

async fn exchange(
    client_fd: OwnedFd,
    handoff: &Handoff,
    tokens: &HandoffTokens,
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
    let ack = check_ack(&ack_frame, &token, correlation_id)?;
    tokens.redeem(&ack.token, ack.correlation_id, Instant::now())?;
    encode_frame(&handoff_event(&token, correlation_id)).map_err(HandoffFailure::Event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_redeem_once_within_their_lifetime_for_their_connection() {
        let tokens = HandoffTokens::new();
        let t0 = Instant::now();
        let a = tokens.issue(1, t0).unwrap_or_default();
        let b = tokens.issue(2, t0).unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(tokens.redeem(&a, 1, t0), Ok(()));
        assert_eq!(
            tokens.redeem(&a, 1, t0),
            Err(TokenRejection::Unknown),
            "one-time"
        );
        assert_eq!(tokens.redeem(&b, 9, t0), Err(TokenRejection::Correlation));
        let c = tokens.issue(3, t0).unwrap_or_default();
        assert_eq!(
            tokens.redeem(&c, 3, t0 + Duration::from_secs(30)),
            Err(TokenRejection::Expired),
            "TTL 30 s"
        );
        let d = tokens.issue(4, t0).unwrap_or_default();
        tokens.revoke(&d);
        assert_eq!(
            tokens.redeem(&d, 4, t0),
            Err(TokenRejection::Unknown),
            "revoked"
        );
        assert_eq!(tokens.redeem(&[0; 3], 4, t0), Err(TokenRejection::Unknown));
    }
}
