//! Protobuf snippets in cases, checked against the schemas' descriptors.

use prost_reflect::DynamicMessage;

use crate::proto::descriptor_pool;

/// The v1 `Hello` message.
pub(super) const HELLO: &str = "running_process.broker.v1.Hello";
/// The v1 `Frame` message.
pub(super) const FRAME: &str = "running_process.broker.v1.Frame";
/// The refusal code enum.
pub(super) const ERROR_CODE: &str = "running_process.broker.v1.ErrorCode";

/// Parses `text` as the text format of message `full_name`.
pub(super) fn parse_as(full_name: &str, text: &str) -> Result<(), String> {
    let desc = descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("no message type named {full_name}"))?;
    DynamicMessage::parse_text_format(desc, text)
        .map(drop)
        .map_err(|e| format!("does not parse as {full_name}: {e}"))
}

/// True when `full_name` names a message of the schemas.
pub(super) fn is_message(full_name: &str) -> bool {
    descriptor_pool().get_message_by_name(full_name).is_some()
}

/// True when enum `enum_name` has a value named `value`.
pub(super) fn has_enum_value(enum_name: &str, value: &str) -> bool {
    descriptor_pool()
        .get_enum_by_name(enum_name)
        .is_some_and(|e| e.get_value_by_name(value).is_some())
}

/// True when message `full_name` has a field named `field`.
pub(super) fn has_field(full_name: &str, field: &str) -> bool {
    descriptor_pool()
        .get_message_by_name(full_name)
        .is_some_and(|m| m.get_field_by_name(field).is_some())
}
