//! The admin room (ADM-1…ADM-10): a snapshot of the broker captured from
//! the rooms that keep its figures, and the verbs as a pure function over
//! it. Side effects (SHUTDOWN's drain, DIAGNOSE's bundle file) come back as
//! actions for the connection shell.

mod respond;
mod snapshot;

pub(crate) use respond::{AdminResponse, diagnose_reply, respond};
pub(crate) use snapshot::{AdminSnapshot, AdminSources};
