//! What a fake backend saw, as JSON lines a test can read: one file per
//! process in a records directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One thing a fake backend saw or did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// The process started.
    Started {
        /// Its pid.
        pid: u32,
        /// The behaviour chosen.
        behavior: String,
        /// The service it was launched for.
        service: String,
        /// The version it serves.
        version: String,
        /// Its socket path.
        backend_pipe: String,
        /// `inherited` or `bound` (LCH-3).
        listener: String,
        /// Its whole environment, sorted (LCH-2 is checked against it).
        environment: Vec<(String, String)>,
        /// Its arguments after the program name.
        args: Vec<String>,
    },
    /// An identity probe arrived.
    Probe {
        /// The probe's request id.
        request_id: u64,
        /// Whether it was answered.
        answered: bool,
        /// Bytes of nonce in the payload (PRB-1: 32).
        #[serde(default)]
        nonce_len: usize,
        /// Whether request_id is the nonce's first 8 bytes little-endian (PRB-1).
        #[serde(default)]
        request_id_from_nonce: bool,
    },
    /// A request frame arrived.
    Frame {
        /// Its payload protocol.
        payload_protocol: u32,
        /// Its request id.
        request_id: u64,
        /// The framed bytes in hex.
        hex: String,
    },
    /// A handoff offer arrived with a descriptor.
    HandoffOffer {
        /// The offered token in hex.
        token: String,
        /// The correlation id.
        correlation_id: u64,
        /// The frame's request id.
        request_id: u64,
        /// The service named in the offer.
        service: String,
        /// Whether a descriptor came with it.
        with_fd: bool,
        /// Whether the offer payload began with 08 00.
        explicit_handle: bool,
    },
    /// An `http` behaviour's page serves and it reported (or not) a port.
    HttpReport {
        /// The port its page serves on.
        serving: u16,
        /// The port reported (a u32: misbehaviours send invalid ones).
        reported: u32,
        /// `accepted`, `rejected`, `no-broker` or `error: <detail>` (V2K-7).
        outcome: String,
    },
    /// The ack sent for an offer.
    HandoffAck {
        /// Whether it accepted.
        accepted: bool,
    },
    /// A SIGTERM arrived (`ignore-term` records it and goes on).
    Sigterm,
}

/// Appends records for one process.
#[derive(Debug)]
pub struct Recorder {
    file: Option<Mutex<File>>,
    dir: Option<PathBuf>,
}

impl Recorder {
    /// Records nothing.
    pub fn disabled() -> Self {
        Self {
            file: None,
            dir: None,
        }
    }

    /// Records into `dir/<pid>.jsonl` (the directory is created).
    pub fn in_dir(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.jsonl", std::process::id()));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Some(Mutex::new(file)),
            dir: Some(dir.to_path_buf()),
        })
    }

    /// How many other processes recorded into the same directory before
    /// this one: the launches of this installation so far (0 when
    /// recording is off).
    pub fn earlier_processes(&self) -> usize {
        let Some(dir) = &self.dir else { return 0 };
        let own = std::process::id();
        record_files(dir).map_or(0, |files| files.filter(|(pid, _)| *pid != own).count())
    }

    /// Appends one record; failures are ignored (recording is best effort).
    pub fn record(&self, record: &Record) {
        let Some(file) = &self.file else { return };
        if let Ok(mut line) = serde_json::to_string(record) {
            line.push('\n');
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// The records directory beside a fake-backend executable.
pub fn records_dir_for(executable: &Path) -> PathBuf {
    executable
        .parent()
        .unwrap_or(Path::new("/"))
        .join("fake-backend-records")
}

/// The record files in `dir` (`<pid>.jsonl`, one per process), with their
/// pids; none when the directory does not exist yet.
fn record_files(dir: &Path) -> io::Result<impl Iterator<Item = (u32, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(entries.into_iter().flatten().filter_map(|entry| {
        let path = entry.ok()?.path();
        let pid = path.file_stem()?.to_str()?.parse::<u32>().ok()?;
        Some((pid, path))
    }))
}

/// Every record in `dir`, by pid.
pub fn read_records(dir: &Path) -> io::Result<Vec<(u32, Vec<Record>)>> {
    let mut all = Vec::new();
    for (pid, path) in record_files(dir)? {
        let records = BufReader::new(File::open(&path)?)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        all.push((pid, records));
    }
    all.sort_by_key(|(pid, _)| *pid);
    Ok(all)
}
