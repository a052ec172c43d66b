//! One front-door connection: the launching broker's socket and frame
//! reader, driving the Hello machine in front-door mode — read, load the
//! v2 definition, look up the published daemon, reply (v2 spec §3-§5).

use super::identity::published_pipe;
use super::startup::Shared;
use crate::broker::connection::{Connection, read_first_frame, write_reply};
use crate::broker::hello::{Action, Effect, Event, HelloExchange};

/// Serves one connection to its end; true when its Hello was negotiated
/// (for `--once`, V2L-5).
pub(super) async fn serve_connection(shared: &Shared, mut stream: Connection) -> bool {
    let _guard = shared.lifecycle.open_connection();
    let Ok(peer) = stream.peer() else {
        return false;
    };
    let mut exchange = HelloExchange::new(&shared.policy);
    let mut event = Event::Peer(peer);
    let mut negotiated = false;
    loop {
        let action = exchange.handle(event);
        let next = perform(shared, &mut stream, action).await;
        for effect in exchange.take_effects() {
            negotiated |= apply(shared, effect);
        }
        match next {
            Some(next) => event = next,
            None => return negotiated,
        }
    }
}

/// Carries out one action; the event it produced, or `None` to close.
async fn perform(shared: &Shared, stream: &mut Connection, action: Action<'_>) -> Option<Event> {
    Some(match action {
        // V2F-1: no fd-pressure demotion on a front door.
        Action::ReadFrame { limit } => {
            read_first_frame(stream, limit, shared.hello_timeout, || false).await
        }
        Action::LoadDefinition(service) => Event::Definition {
            loaded: shared.loader.load(service),
            draining: false,
        },
        Action::LookUpDaemon(service) => Event::Daemon(published_pipe(
            &shared.paths.identity_file(service),
            &shared.boot_id,
        )),
        Action::Reply(frame) => {
            write_reply(stream, frame).await;
            Event::Replied
        }
        // A front door launches nothing, hands nothing off and has no
        // admin path; the machine never asks it to.
        Action::ResolveBinary(_)
        | Action::AcquireBackend(_)
        | Action::IssueToken
        | Action::Admin(..)
        | Action::ControlRpc(_)
        | Action::HandOff(_)
        | Action::Close => return None,
    })
}

/// Applies one effect; true for a negotiated Hello.
fn apply(shared: &Shared, effect: Effect) -> bool {
    match effect {
        Effect::Outcome { outcome, .. } => outcome == "negotiated",
        Effect::Listed(service) => {
            shared.listed.insert(service, crate::sys::unix_now_ms());
            false
        }
        Effect::Event(event) => {
            tracing::debug!(?event, "front door");
            false
        }
    }
}
