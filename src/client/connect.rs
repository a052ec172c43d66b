//! Reaching a backend (CLI-1…CLI-5, HOF-8): the seam, Hello-skip, the Hello
//! exchange, handoff adoption and the reconnect to `backend_pipe`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ClientError;
use super::exchange::{
    HELLO_STEPS, clear_timeouts, connect_socket, next_request_id, read_frame_within, round_trip,
};
use super::reply::{check_handoff_event, decode_hello_reply, handoff_token, negotiated_from_reply};
use super::request::{ConnectRequest, FirstStep, Route, first_step};
use super::settings::ClientSettings;
use crate::proto::v1::{Frame, Hello, HelloReply, Negotiated};
use crate::wire::frames::hello_request;

/// A connection to a backend and how it got there; `S` is the stream
/// (std's here, tokio's in [`asynchronous`](super::asynchronous)).
#[derive(Debug)]
pub struct BackendConnection<S = UnixStream> {
    /// The connected stream, without timeouts.
    pub stream: S,
    /// The route taken.
    pub route: Route,
    /// The broker's answer, when a Hello was made.
    pub negotiated: Option<Negotiated>,
    /// The backend endpoint this connection reaches: the seam, the cached
    /// endpoint or `backend_pipe` (for [`Route::HandlePassed`] too, although
    /// the stream itself is the former broker connection).
    pub endpoint: PathBuf,
}

impl<S> BackendConnection<S> {
    /// The same connection over the stream `convert` makes of this one.
    pub fn try_map_stream<T, E>(
        self,
        convert: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<BackendConnection<T>, E> {
        Ok(BackendConnection {
            stream: convert(self.stream)?,
            route: self.route,
            negotiated: self.negotiated,
            endpoint: self.endpoint,
        })
    }
}

/// One Hello exchange, everything kept for inspection.
#[derive(Debug)]
pub struct HelloExchange {
    /// The broker socket.
    pub broker: PathBuf,
    /// The still-open broker connection, without timeouts.
    pub stream: UnixStream,
    /// The request frame sent.
    pub request: Frame,
    /// The reply frame received (it passed ENV-1).
    pub reply_frame: Frame,
    /// The decoded reply; a refusal or a missing result is not an error here.
    pub reply: HelloReply,
}

/// Connects to a backend, by the first route that applies (CLI-1…CLI-3):
/// disabled ⇒ [`ClientError::Disabled`]; a seam endpoint ⇒ straight there,
/// its connect error returned as is; a usable cached endpoint ⇒ there
/// without a Hello; otherwise the Hello, then [`establish`].
pub fn connect(
    request: &ConnectRequest,
    settings: &ClientSettings,
) -> Result<BackendConnection, ClientError> {
    let try_cached = match first_step(request, settings) {
        FirstStep::Disabled => return Err(ClientError::Disabled),
        FirstStep::Seam(seam) => return direct(seam, Route::FakeBackendSeam),
        FirstStep::Hello { try_cached } => try_cached,
    };
    if let Some(cached) = try_cached {
        match direct(cached, Route::HelloSkip) {
            Ok(connection) => return Ok(connection),
            Err(e) => tracing::debug!(error = %e, "cached backend unreachable; doing the Hello"),
        }
    }
    let exchange = hello_frame(
        &request.broker,
        &request.hello_frame(next_request_id()),
        request.timeout_with(settings),
    )?;
    establish(exchange, request)
}

/// Finishes a Hello exchange (CLI-4, HOF-8): checks the reply, adopts the
/// broker connection when a handoff completes, otherwise closes it and
/// connects to `backend_pipe`. A failed adoption is never an error itself.
pub fn establish(
    exchange: HelloExchange,
    request: &ConnectRequest,
) -> Result<BackendConnection, ClientError> {
    let negotiated = negotiated_from_reply(exchange.reply)?;
    let endpoint = PathBuf::from(&negotiated.backend_pipe);
    if let Some(token) = handoff_token(request, &negotiated)
        && adopt(&exchange.stream, token, request.handoff_ready_timeout)
    {
        return Ok(BackendConnection {
            stream: exchange.stream,
            route: Route::HandlePassed,
            negotiated: Some(negotiated),
            endpoint,
        });
    }
    drop(exchange.stream);
    Ok(BackendConnection {
        stream: connect_socket(&endpoint)?,
        route: Route::BrokerNegotiated,
        negotiated: Some(negotiated),
        endpoint,
    })
}

/// Sends `hello` in a frame with `request_id` and returns the exchange
/// (one connection, one request, one reply, ENV-1 checked).
pub fn hello(
    broker: &Path,
    hello: &Hello,
    request_id: u64,
    timeout: Duration,
) -> Result<HelloExchange, ClientError> {
    hello_frame(broker, &hello_request(hello, request_id), timeout)
}

/// Like [`hello`] with a caller-built request frame, for tools that send
/// unusual frames. The reply must still pass ENV-1 and decode.
pub fn hello_frame(
    broker: &Path,
    request: &Frame,
    timeout: Duration,
) -> Result<HelloExchange, ClientError> {
    let (stream, reply_frame) = round_trip(broker, request, timeout, HELLO_STEPS)?;
    let reply = decode_hello_reply(&reply_frame)?;
    Ok(HelloExchange {
        broker: broker.to_owned(),
        stream,
        request: request.clone(),
        reply_frame,
        reply,
    })
}

/// Connects straight to `endpoint`, without a Hello.
fn direct(endpoint: &Path, route: Route) -> Result<BackendConnection, ClientError> {
    Ok(BackendConnection {
        stream: connect_socket(endpoint)?,
        route,
        negotiated: None,
        endpoint: endpoint.to_owned(),
    })
}

/// HOF-8: waits up to `within` for one frame and reports whether it
/// completes the handoff; the stream is left without timeouts when it does.
fn adopt(stream: &UnixStream, token: &[u8], within: Duration) -> bool {
    let verdict = read_frame_within(stream, within)
        .map_err(|e| e.to_string())
        .and_then(|frame| check_handoff_event(&frame, token).map_err(|e| e.to_string()))
        .and_then(|()| clear_timeouts(stream).map_err(|e| e.to_string()));
    match verdict {
        Ok(()) => true,
        Err(reason) => {
            tracing::debug!(%reason, "handoff not adopted; reconnecting to backend_pipe");
            false
        }
    }
}
