//! The lifecycle event log (spec §10, EVT-1 to EVT-3): the reference
//! broker's append-only, tamper-evident record of every Hello outcome,
//! spawn, backend death, definition load and security event.
//!
//! # On-disk format
//!
//! A log file is nothing but a sequence of records, with no header:
//!
//! ```text
//! record = varint(len) message      -- prost `encode_length_delimited`
//! message = running_process.broker.v1.LifecycleEvent, `len` bytes
//! ```
//!
//! * **EVT-1** — a whole record, its length prefix included, is at most
//!   [`LIFECYCLE_EVENT_PIPE_BUF_FLOOR`](crate::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR)
//!   (512) bytes, and is appended with exactly one `write(2)` to a file opened
//!   with `O_APPEND` (created with mode 0600). A short write is an error; a
//!   record is never written in pieces. Oversized events are cut down first
//!   by [`fit_to_floor`] (reason, then extra values, never the chain entry).
//! * **EVT-3** — every record carries `extra["chain_prev"]`: the lowercase
//!   hex BLAKE3 of the previous record's message bytes (prefix excluded), or
//!   64 `'0'` for the first record. A record's own hash — BLAKE3 of its
//!   message bytes — is what the next record names and what
//!   [`EventLog::head_hash`] reports for the last one.
//!
//! [`verify_log`] walks a file and reports the first record that cannot be
//! framed, is over the floor, does not decode, or does not name its
//! predecessor. Altering a record's content is therefore reported at the
//! record after it (whose `chain_prev` no longer matches), removing or
//! inserting records at the first record after the gap; only the last record
//! depends on an outside copy of the head hash (the admin STATUS reply).
//!
//! | module | what it holds |
//! |---|---|
//! | `record` | building events, severities, encoding, EVT-1 truncation |
//! | `chain` | the EVT-3 hash chain |
//! | `log` | [`EventLog`], the writer |
//! | `verify` | the reader and the verdict |
//! | `render` | text and JSON lines for `events tail` |

mod broker;
mod chain;
mod log;
mod record;
mod render;
mod verify;

pub use broker::{BrokerEvent, Death, fd_pressure_reason};
pub use chain::{
    CHAIN_KEY, ChainProblem, GENESIS_PREV, chain_value, check_link, link, record_hash,
};
#[cfg(unix)]
pub use log::LOG_FILE_MODE;
pub use log::{AppendedRecord, EventLog, EventLogError, RECENT_CAPACITY};
pub use record::{
    SEVERITY_ERROR, SEVERITY_INFO, SEVERITY_WARN, encode_record, fit_to_floor, kind_name,
    new_event, record_len, severity_of,
};
pub use render::{render_json, render_line, rfc3339_utc};
pub use verify::{
    LogBreak, LogProblem, LogReader, LogRecord, LogScan, LogVerdict, ReadFailure, check_message,
    read_log, read_log_tail, verify_log,
};

pub use crate::proto::v1::{EventKind, LifecycleEvent};
