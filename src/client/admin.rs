//! Admin verbs (ADM-1): one request, one reply, on a fresh broker connection.

use std::path::Path;
use std::time::Duration;

use super::error::ClientError;
use super::exchange::{ADMIN_STEPS, next_request_id, round_trip};
use super::reply::decode_admin_reply;
use crate::proto::v1::{AdminReply, AdminRequest};
use crate::wire::frames::admin_request;

/// Sends `request` to the broker at `broker` and returns its reply (ADM-1),
/// the round trip bounded by `timeout` (CLI-6).
pub fn admin(
    broker: &Path,
    request: &AdminRequest,
    timeout: Duration,
) -> Result<AdminReply, ClientError> {
    let frame = admin_request(request, next_request_id());
    let (_stream, reply) = round_trip(broker, &frame, timeout, ADMIN_STEPS)?;
    decode_admin_reply(&reply)
}
