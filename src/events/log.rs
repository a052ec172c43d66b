//! [`EventLog`]: the broker's append-only, hash-chained lifecycle log
//! (EVT-1, EVT-2, EVT-3).

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use prost::Message as _;

use super::chain::{link, record_hash};
use super::record::{encode_record, fit_to_floor, severity_of};
use super::verify::{LogBreak, LogReader, ReadFailure};
use crate::proto::v1::LifecycleEvent;
use crate::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR;

/// How many recent events an [`EventLog`] keeps in memory.
pub const RECENT_CAPACITY: usize = 256;

/// Permissions of a newly created log file: owner read and write only.
#[cfg(unix)]
pub const LOG_FILE_MODE: u32 = 0o600;

/// Failures opening or appending to an event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The log's directory does not exist (it is never created here).
    #[error("event log {path}: directory {dir} does not exist", path = .path.display(), dir = .dir.display())]
    MissingDirectory {
        /// The log file.
        path: PathBuf,
        /// Its missing directory.
        dir: PathBuf,
    },
    /// The file could not be opened or created.
    #[error("cannot open event log {path}: {source}", path = .path.display())]
    Open {
        /// The log file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The existing records could not be read.
    #[error("cannot read event log {path}: {source}", path = .path.display())]
    Read {
        /// The log file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The record's `write(2)` failed; nothing was appended.
    #[error("cannot append to event log {path}: {source}", path = .path.display())]
    Write {
        /// The log file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// EVT-1: `write(2)` took only part of the record. The rest is not
    /// written in pieces, so the file now ends in a torn record that
    /// verification will report.
    #[error(
        "short write to event log {path}: {written} of {len} bytes (EVT-1: a record is never split)",
        path = .path.display()
    )]
    ShortWrite {
        /// The log file.
        path: PathBuf,
        /// Bytes the kernel took.
        written: usize,
        /// Size of the record.
        len: usize,
    },
    /// EVT-1: the record could not be brought under the floor (only an
    /// impossible event gets here; nothing was written).
    #[error(
        "record of {len} bytes is over the {LIFECYCLE_EVENT_PIPE_BUF_FLOOR}-byte floor (EVT-1)"
    )]
    TooLarge {
        /// Size of the record, prefix included.
        len: usize,
    },
}

/// Where one appended record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedRecord {
    /// 0-based position in the chain (records found on open count).
    pub index: u64,
    /// BLAKE3 of the record's message bytes: the new head hash.
    pub hash: [u8; 32],
    /// Bytes written, length prefix included (at most 512).
    pub len: usize,
}

/// The append-only lifecycle log (EVT-2, EVT-3). `Send + Sync`: every
/// append goes through one internal lock, so the order of the chain is the
/// order of the file. One `EventLog` per file: two writers (two handles or
/// two processes) on one file each keep their own head and break the chain.
pub struct EventLog {
    path: Option<PathBuf>,
    opened_broken: Option<LogBreak>,
    state: Mutex<State>,
}

/// Everything an append changes.
struct State {
    file: Option<File>,
    head: Option<[u8; 32]>,
    chain_len: u64,
    written: u64,
    recent: VecDeque<LifecycleEvent>,
}

impl State {
    fn empty(file: Option<File>) -> Self {
        Self {
            file,
            head: None,
            chain_len: 0,
            written: 0,
            recent: VecDeque::with_capacity(RECENT_CAPACITY),
        }
    }

    fn remember(&mut self, event: LifecycleEvent) {
        if self.recent.len() == RECENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(event);
    }
}

impl EventLog {
    /// Opens (or creates, mode 0600) the log at `path` with `O_APPEND` and
    /// resumes its chain from the records already there. An existing file
    /// that fails verification is still opened: the chain continues from its
    /// last intact record and [`EventLog::opened_broken`] says where it broke.
    /// A missing parent directory is an error; it is never created.
    pub fn open(path: &Path) -> Result<EventLog, EventLogError> {
        let file = open_append(path)?;
        let mut state = State::empty(None);
        let mut opened_broken = None;
        let mut reader = LogReader::new(&file);
        for item in reader.by_ref() {
            match item {
                Ok(record) => state.remember(record.event),
                Err(ReadFailure::Broken(b)) => opened_broken = Some(b),
                Err(ReadFailure::Io(source)) => {
                    return Err(EventLogError::Read {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        }
        state.head = reader.head();
        state.chain_len = reader.records();
        state.file = Some(file);
        Ok(EventLog {
            path: Some(path.to_owned()),
            opened_broken,
            state: Mutex::new(state),
        })
    }

    /// A log without a file: it keeps the chain, the counters and the recent
    /// ring only.
    pub fn in_memory() -> EventLog {
        EventLog {
            path: None,
            opened_broken: None,
            state: Mutex::new(State::empty(None)),
        }
    }

    /// Appends one event (EVT-1, EVT-3): sets its `chain_prev` to the head
    /// hash (replacing any value the caller set), fills the severity from the
    /// kind if the caller left it 0, truncates it to the floor with
    /// [`fit_to_floor`], and writes the whole record with exactly one
    /// `write(2)`. The head only moves when the write succeeded in full.
    pub fn append(&self, mut event: LifecycleEvent) -> Result<AppendedRecord, EventLogError> {
        if event.severity_number == 0 {
            let (number, text) = severity_of(event.kind());
            event.severity_number = number;
            event.severity_text = text.to_owned();
        }
        let mut state = self.lock();
        let event = fit_to_floor(link(event, state.head.as_ref()));
        let record = encode_record(&event);
        let len = record.len();
        if len > LIFECYCLE_EVENT_PIPE_BUF_FLOOR {
            return Err(EventLogError::TooLarge { len });
        }
        // The message is what follows the length prefix.
        let hash = record_hash(&record[len.saturating_sub(event.encoded_len())..]);
        if let Some(file) = &state.file {
            self.write_once(file, &record)?;
        }
        let index = state.chain_len;
        state.head = Some(hash);
        state.chain_len += 1;
        state.written += 1;
        state.remember(event);
        Ok(AppendedRecord { index, hash, len })
    }

    /// Hash of the last record (the EVT-3 head), `None` while the log is empty.
    pub fn head_hash(&self) -> Option<[u8; 32]> {
        self.lock().head
    }

    /// Up to `limit` most recent events, oldest first and newest last; the
    /// ring holds the last [`RECENT_CAPACITY`] (filled from the file on open).
    pub fn recent(&self, limit: usize) -> Vec<LifecycleEvent> {
        let state = self.lock();
        let skip = state.recent.len().saturating_sub(limit);
        state.recent.iter().skip(skip).cloned().collect()
    }

    /// Records appended through this `EventLog` since it was opened.
    pub fn records_written(&self) -> u64 {
        self.lock().written
    }

    /// Records in the chain: the intact ones found on open plus those appended.
    pub fn chain_len(&self) -> u64 {
        self.lock().chain_len
    }

    /// The log file, `None` for [`EventLog::in_memory`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Where the existing file failed verification when it was opened, if it
    /// did; the chain was continued from the last record before that point.
    pub fn opened_broken(&self) -> Option<&LogBreak> {
        self.opened_broken.as_ref()
    }

    /// The state, even if a thread panicked while holding the lock: state
    /// only changes after a successful write, so it is never half-updated.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// EVT-1: one `write(2)` of the whole record. A signal before anything
    /// was written is retried; a short write is an error, never completed
    /// in pieces.
    fn write_once(&self, mut file: &File, record: &[u8]) -> Result<(), EventLogError> {
        let path = || self.path.clone().unwrap_or_default();
        let written = loop {
            match file.write(record) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(EventLogError::Write {
                        path: path(),
                        source,
                    });
                }
                Ok(n) => break n,
            }
        };
        if written == record.len() {
            Ok(())
        } else {
            Err(EventLogError::ShortWrite {
                path: path(),
                written,
                len: record.len(),
            })
        }
    }
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("EventLog")
            .field("path", &self.path)
            .field("chain_len", &state.chain_len)
            .field("records_written", &state.written)
            .field("opened_broken", &self.opened_broken)
            .finish_non_exhaustive()
    }
}

/// Opens `path` for reading and appending (`O_APPEND | O_CREAT`, mode 0600
/// when created).
fn open_append(path: &Path) -> Result<File, EventLogError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(LOG_FILE_MODE);
    }
    options.open(path).map_err(|source| {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .filter(|d| !d.exists());
        match dir {
            Some(dir) if source.kind() == ErrorKind::NotFound => EventLogError::MissingDirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            },
            _ => EventLogError::Open {
                path: path.to_owned(),
                source,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::chain::{CHAIN_KEY, GENESIS_PREV};
    use crate::proto::v1::EventKind;

    fn event(reason: &str) -> LifecycleEvent {
        LifecycleEvent {
            ts_ms: 1_700_000_000_000,
            kind: EventKind::Spawn as i32,
            service_name: "svc".into(),
            reason: reason.into(),
            ..LifecycleEvent::default()
        }
    }

    #[test]
    fn the_log_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EventLog>();
    }

    #[test]
    fn an_in_memory_log_chains_and_remembers() {
        let log = EventLog::in_memory();
        assert_eq!(log.head_hash(), None);
        let first = log.append(event("one")).expect("append");
        let second = log.append(event("two")).expect("append");
        assert_eq!((first.index, second.index), (0, 1));
        assert_eq!(log.head_hash(), Some(second.hash));
        assert_eq!(log.records_written(), 2);
        let recent = log.recent(10);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].extra[CHAIN_KEY], GENESIS_PREV);
        assert_eq!(
            recent[1].extra[CHAIN_KEY],
            crate::inspect::to_hex(&first.hash)
        );
        assert_eq!(record_hash(&recent[1].encode_to_vec()), second.hash);
        assert_eq!(log.path(), None);
    }

    #[test]
    fn append_fills_a_missing_severity_from_the_kind() {
        let log = EventLog::in_memory();
        log.append(event("x")).expect("append");
        let e = &log.recent(1)[0];
        assert_eq!((e.severity_number, e.severity_text.as_str()), (9, "INFO"));
    }

    #[test]
    fn the_recent_ring_keeps_the_newest_256() {
        let log = EventLog::in_memory();
        for i in 0..300 {
            log.append(event(&i.to_string())).expect("append");
        }
        let all = log.recent(usize::MAX);
        assert_eq!(all.len(), RECENT_CAPACITY);
        assert_eq!(all[0].reason, "44");
        assert_eq!(all[RECENT_CAPACITY - 1].reason, "299");
        let last3: Vec<_> = log.recent(3).into_iter().map(|e| e.reason).collect();
        assert_eq!(last3, ["297", "298", "299"]);
    }
}
