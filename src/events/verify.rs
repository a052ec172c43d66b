//! Reading a log back: framing each record, decoding it, checking its chain
//! link, and stopping at the first record that fails (EVT-1, EVT-3).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read};
use std::path::Path;

use prost::Message as _;

use super::chain::{ChainProblem, check_link, record_hash};
use crate::inspect::to_hex;
use crate::proto::v1::LifecycleEvent;
use crate::wire::LIFECYCLE_EVENT_PIPE_BUF_FLOOR;

/// Longest varint: a length prefix that is still continuing after this many
/// bytes is malformed.
const MAX_PREFIX_LEN: usize = 10;

/// One intact record read back from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// 0-based position in the log.
    pub index: u64,
    /// Byte offset of the record (its length prefix) in the file.
    pub offset: u64,
    /// Size of the record, length prefix included.
    pub len: usize,
    /// BLAKE3 of the message bytes: what the next record's `chain_prev` names.
    pub hash: [u8; 32],
    /// The decoded event.
    pub event: LifecycleEvent,
}

/// What makes a record fail verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogProblem {
    /// The file ends inside a length prefix.
    TruncatedPrefix {
        /// Prefix bytes present.
        have: usize,
    },
    /// The length prefix is not a valid varint.
    BadPrefix,
    /// EVT-1: the record (prefix included) is over the 512-byte floor.
    Oversize {
        /// The record's size, prefix included.
        len: u64,
    },
    /// The file ends inside the message.
    TruncatedBody {
        /// Message bytes the prefix announces.
        expected: usize,
        /// Message bytes present.
        found: usize,
    },
    /// The message bytes are not a `LifecycleEvent`.
    Undecodable(String),
    /// EVT-3: the chain entry is missing or names another predecessor.
    Chain(ChainProblem),
}

impl fmt::Display for LogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedPrefix { have } => {
                write!(
                    f,
                    "truncated length prefix ({have} byte(s) before end of file)"
                )
            }
            Self::BadPrefix => write!(f, "malformed length prefix (not a varint)"),
            Self::Oversize { len } => write!(
                f,
                "record of {len} bytes is longer than the {LIFECYCLE_EVENT_PIPE_BUF_FLOOR}-byte floor (EVT-1)"
            ),
            Self::TruncatedBody { expected, found } => write!(
                f,
                "truncated body: the prefix announces {expected} bytes, the file holds {found}"
            ),
            Self::Undecodable(why) => write!(f, "undecodable LifecycleEvent: {why}"),
            Self::Chain(problem) => write!(
                f,
                "chain break (EVT-3): {problem} (this record or its predecessor was altered, \
                 or records were removed or inserted before it)"
            ),
        }
    }
}

/// The first record of a log that fails verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBreak {
    /// 0-based index of the record.
    pub record: u64,
    /// Byte offset where the record starts.
    pub offset: u64,
    /// What is wrong with it.
    pub problem: LogProblem,
}

impl fmt::Display for LogBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "broken at record {} (byte offset {}): {}",
            self.record, self.offset, self.problem
        )
    }
}

/// Verdict over a whole log file (EVT-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogVerdict {
    /// Every record frames, decodes and links to its predecessor.
    Intact {
        /// Number of records.
        records: u64,
        /// Hash of the last record; `None` for an empty log.
        head: Option<[u8; 32]>,
    },
    /// The first record that fails.
    Broken {
        /// Its 0-based index.
        record: u64,
        /// Its byte offset.
        offset: u64,
        /// What is wrong, for people.
        problem: String,
    },
}

impl LogVerdict {
    /// Whether the log verified.
    pub fn is_intact(&self) -> bool {
        matches!(self, Self::Intact { .. })
    }
}

impl From<LogBreak> for LogVerdict {
    fn from(b: LogBreak) -> Self {
        Self::Broken {
            record: b.record,
            offset: b.offset,
            problem: b.problem.to_string(),
        }
    }
}

impl fmt::Display for LogVerdict {
    /// The one-line verdict of `events verify`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Intact { records, head } => write!(
                f,
                "intact: {records} records, head {}",
                head.as_ref()
                    .map_or_else(|| "none".to_owned(), |h| to_hex(h))
            ),
            Self::Broken {
                record,
                offset,
                problem,
            } => write!(
                f,
                "broken at record {record} (byte offset {offset}): {problem}"
            ),
        }
    }
}

/// Why reading a record stopped.
#[derive(Debug)]
pub enum ReadFailure {
    /// The source could not be read: the log is unreadable, not broken.
    Io(io::Error),
    /// The record at this position fails verification.
    Broken(LogBreak),
}

/// Checks one record's message bytes: it decodes and follows `prev`
/// (EVT-3). Returns the event and its hash. Pure.
pub fn check_message(
    message: &[u8],
    prev: Option<&[u8; 32]>,
) -> Result<(LifecycleEvent, [u8; 32]), LogProblem> {
    let event =
        LifecycleEvent::decode(message).map_err(|e| LogProblem::Undecodable(e.to_string()))?;
    check_link(&event, prev).map_err(LogProblem::Chain)?;
    Ok((event, record_hash(message)))
}

/// Streams the records of a log, checking each as it goes. Yields every
/// intact record, then at most one failure, then ends.
pub struct LogReader<R> {
    source: BufReader<R>,
    offset: u64,
    index: u64,
    prev: Option<[u8; 32]>,
    finished: bool,
}

impl<R: Read> LogReader<R> {
    /// A reader over a log's bytes from its first record.
    pub fn new(source: R) -> Self {
        Self {
            source: BufReader::new(source),
            offset: 0,
            index: 0,
            prev: None,
            finished: false,
        }
    }

    /// Hash of the last intact record read so far.
    pub fn head(&self) -> Option<[u8; 32]> {
        self.prev
    }

    /// Number of intact records read so far.
    pub fn records(&self) -> u64 {
        self.index
    }

    fn broken(&mut self, problem: LogProblem) -> Option<Result<LogRecord, ReadFailure>> {
        self.finished = true;
        Some(Err(ReadFailure::Broken(LogBreak {
            record: self.index,
            offset: self.offset,
            problem,
        })))
    }

    /// Reads up to `buf.len()` bytes, fewer only at end of file.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.source.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// Reads the length prefix: `Ok(None)` at a clean end of file.
    fn read_prefix(&mut self) -> io::Result<Result<Option<(usize, u64)>, LogProblem>> {
        let mut value: u64 = 0;
        for i in 0..MAX_PREFIX_LEN {
            let mut byte = [0u8; 1];
            if self.fill(&mut byte)? == 0 {
                return Ok(if i == 0 {
                    Ok(None)
                } else {
                    Err(LogProblem::TruncatedPrefix { have: i })
                });
            }
            let bits = u64::from(byte[0] & 0x7f);
            if i == MAX_PREFIX_LEN - 1 && byte[0] > 1 {
                return Ok(Err(LogProblem::BadPrefix));
            }
            value |= bits << (7 * i);
            if byte[0] & 0x80 == 0 {
                return Ok(Ok(Some((i + 1, value))));
            }
        }
        Ok(Err(LogProblem::BadPrefix))
    }
}

impl<R: Read> Iterator for LogReader<R> {
    type Item = Result<LogRecord, ReadFailure>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let (prefix_len, body_len) = match self.read_prefix() {
            Err(e) => {
                self.finished = true;
                return Some(Err(ReadFailure::Io(e)));
            }
            Ok(Ok(None)) => {
                self.finished = true;
                return None;
            }
            Ok(Ok(Some(prefix))) => prefix,
            Ok(Err(problem)) => return self.broken(problem),
        };
        let total = body_len.saturating_add(prefix_len as u64);
        if total > LIFECYCLE_EVENT_PIPE_BUF_FLOOR as u64 {
            return self.broken(LogProblem::Oversize { len: total });
        }
        // Bounded by the floor just above.
        let body_len = body_len as usize;
        let mut body = vec![0u8; body_len];
        let found = match self.fill(&mut body) {
            Ok(found) => found,
            Err(e) => {
                self.finished = true;
                return Some(Err(ReadFailure::Io(e)));
            }
        };
        if found < body_len {
            return self.broken(LogProblem::TruncatedBody {
                expected: body_len,
                found,
            });
        }
        match check_message(&body, self.prev.as_ref()) {
            Err(problem) => self.broken(problem),
            Ok((event, hash)) => {
                let record = LogRecord {
                    index: self.index,
                    offset: self.offset,
                    len: prefix_len + body_len,
                    hash,
                    event,
                };
                self.index += 1;
                self.offset += total;
                self.prev = Some(hash);
                Some(Ok(record))
            }
        }
    }
}

/// Every intact record of a log, and where it broke if it did.
#[derive(Debug, Clone, PartialEq)]
pub struct LogScan {
    /// The records before the first failure (all of them for an intact log).
    pub records: Vec<LogRecord>,
    /// The first failing record, if any.
    pub broken: Option<LogBreak>,
}

/// The last `keep` intact records of a log (oldest first), and where it
/// broke if it did. Memory stays bounded by `keep` whatever the file size.
pub fn read_log_tail(path: &Path, keep: usize) -> io::Result<LogScan> {
    let mut records = VecDeque::with_capacity(keep.min(1024));
    let mut broken = None;
    for item in LogReader::new(File::open(path)?) {
        match item {
            Ok(record) => {
                if keep > 0 {
                    if records.len() == keep {
                        records.pop_front();
                    }
                    records.push_back(record);
                }
            }
            Err(ReadFailure::Broken(b)) => broken = Some(b),
            Err(ReadFailure::Io(e)) => return Err(e),
        }
    }
    Ok(LogScan {
        records: records.into(),
        broken,
    })
}

/// Every intact record of a log and where it broke, if it did. `Err` when
/// the file cannot be read.
pub fn read_log(path: &Path) -> io::Result<LogScan> {
    read_log_tail(path, usize::MAX)
}

/// EVT-3: walks the whole log and reports the first record that fails
/// (framing, the EVT-1 size floor, decoding, or the chain link). An empty
/// file is intact with 0 records. `Err` when the file cannot be read.
pub fn verify_log(path: &Path) -> io::Result<LogVerdict> {
    verify_log_source(File::open(path)?)
}

/// [`verify_log`] over any byte source, e.g. a log already in memory (a
/// `&[u8]` never fails to read, so its verdict is always `Ok`). Pure for
/// in-memory sources.
pub fn verify_log_source<R: Read>(source: R) -> io::Result<LogVerdict> {
    let mut reader = LogReader::new(source);
    for item in reader.by_ref() {
        match item {
            Ok(_) => {}
            Err(ReadFailure::Broken(b)) => return Ok(b.into()),
            Err(ReadFailure::Io(e)) => return Err(e),
        }
    }
    Ok(LogVerdict::Intact {
        records: reader.records(),
        head: reader.head(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::chain::link;
    use crate::events::record::encode_record;

    /// A log of `n` chained records in memory.
    fn log_bytes(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = None;
        for i in 0..n {
            let event = link(
                LifecycleEvent {
                    ts_ms: 1_700_000_000_000 + i as u64,
                    reason: format!("record {i}"),
                    ..LifecycleEvent::default()
                },
                prev.as_ref(),
            );
            let record = encode_record(&event);
            prev = Some(record_hash(&record[1..]));
            out.extend(record);
        }
        out
    }

    fn failure_of(bytes: &[u8]) -> Option<LogBreak> {
        LogReader::new(bytes).find_map(|item| match item {
            Ok(_) => None,
            Err(ReadFailure::Broken(b)) => Some(b),
            Err(ReadFailure::Io(e)) => panic!("in-memory read failed: {e}"),
        })
    }

    #[test]
    fn an_intact_log_yields_every_record_with_offsets_and_hashes() {
        let bytes = log_bytes(3);
        let records: Vec<LogRecord> = LogReader::new(&bytes[..])
            .map(|r| r.map_err(|_| "failure"))
            .collect::<Result<_, _>>()
            .expect("intact");
        assert_eq!(records.len(), 3);
        let mut offset = 0;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.index, i as u64);
            assert_eq!(r.offset, offset);
            assert_eq!(
                r.hash,
                record_hash(&bytes[offset as usize + 1..][..r.len - 1])
            );
            offset += r.len as u64;
        }
        assert_eq!(offset, bytes.len() as u64);
    }

    #[test]
    fn an_empty_log_is_intact() {
        assert!(failure_of(&[]).is_none());
        assert_eq!(LogReader::new(&[][..]).count(), 0);
    }

    #[test]
    fn an_unfinished_prefix_is_a_truncated_prefix() {
        let b = failure_of(&[0x80]).expect("broken");
        assert_eq!((b.record, b.offset), (0, 0));
        assert_eq!(b.problem, LogProblem::TruncatedPrefix { have: 1 });
    }

    #[test]
    fn an_endless_varint_is_a_bad_prefix() {
        let b = failure_of(&[0xff; 12]).expect("broken");
        assert_eq!(b.problem, LogProblem::BadPrefix);
    }

    #[test]
    fn a_record_over_the_floor_is_refused_before_its_body_is_read() {
        // 600 as a varint, then nothing: the size is judged first.
        let b = failure_of(&[0xd8, 0x04]).expect("broken");
        assert_eq!(b.problem, LogProblem::Oversize { len: 602 });
    }

    #[test]
    fn a_short_body_is_a_truncated_body() {
        let mut bytes = log_bytes(2);
        bytes.pop();
        let b = failure_of(&bytes).expect("broken");
        assert_eq!(b.record, 1);
        assert!(
            matches!(b.problem, LogProblem::TruncatedBody { found, expected } if found + 1 == expected)
        );
    }

    #[test]
    fn garbage_is_undecodable() {
        // Length 2, then a field with wire type 7 (invalid).
        let b = failure_of(&[0x02, 0x0f, 0x00]).expect("broken");
        assert!(
            matches!(b.problem, LogProblem::Undecodable(_)),
            "{}",
            b.problem
        );
    }

    #[test]
    fn a_record_without_a_chain_entry_is_a_chain_break() {
        let b = failure_of(&[0x00]).expect("broken");
        assert_eq!(b.problem, LogProblem::Chain(ChainProblem::Missing));
    }

    #[test]
    fn verdicts_render_as_one_line() {
        let intact = LogVerdict::Intact {
            records: 2,
            head: Some([0xab; 32]),
        };
        assert_eq!(
            intact.to_string(),
            format!("intact: 2 records, head {}", "ab".repeat(32))
        );
        let empty = LogVerdict::Intact {
            records: 0,
            head: None,
        };
        assert_eq!(empty.to_string(), "intact: 0 records, head none");
        let broken: LogVerdict = LogBreak {
            record: 3,
            offset: 120,
            problem: LogProblem::BadPrefix,
        }
        .into();
        assert_eq!(
            broken.to_string(),
            "broken at record 3 (byte offset 120): malformed length prefix (not a varint)"
        );
    }
}
