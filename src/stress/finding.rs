//! Findings: what a storm caught, reproducible from its JSON alone (the
//! seed, the phase, the index, the exact bytes sent and what came back).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::inspect::annotate::{annotate_any_frame, render};
use crate::inspect::{parse_hex, to_hex};

/// A phase of a storm.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Mutated frames from the golden wire frames.
    Mutations,
    /// Connections that send part of a frame and hold (FRM-9, FRM-13).
    Slow,
    /// Connect-and-close, connect-and-half-close and a burst of connections.
    Storms,
    /// The broker pushed into EMFILE under a low descriptor limit (ENV-3).
    FdExhaustion,
    /// Launches through fake backends that fail at every step (HEL-19, LCH-5).
    BackendFaults,
    /// SIGKILL mid-traffic, then a start on the same socket path (SEC-6).
    Restart,
}

impl Phase {
    /// Every phase, in the order a storm runs them.
    pub const ALL: [Self; 6] = [
        Self::Mutations,
        Self::Slow,
        Self::Storms,
        Self::FdExhaustion,
        Self::Restart,
        Self::BackendFaults,
    ];

    /// Whether the phase needs the broker's process (one the runner started).
    pub fn needs_process(self) -> bool {
        matches!(self, Self::FdExhaustion | Self::Restart)
    }

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mutations => "mutations",
            Self::Slow => "slow",
            Self::Storms => "storms",
            Self::FdExhaustion => "fd-exhaustion",
            Self::BackendFaults => "backend-faults",
            Self::Restart => "restart",
        }
    }
}

/// What kind of thing went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A reply broke ENV-4, FRM-11, REF-1 or REF-2.
    ReplyViolation,
    /// The liveness Hello after a phase was not answered correctly in time.
    Liveness,
    /// A Hello was not answered in time while other clients held (FRM-13).
    Stall,
    /// Held connections were still open after the Hello deadline (FRM-9).
    HeldOpen,
    /// Under descriptor exhaustion the broker never demoted, or never
    /// recovered (ENV-3).
    FdPressure,
    /// A launch was not answered in time, or a valid launch failed after
    /// the faults (HEL-19, PRB-4, NEG-1).
    Launch,
    /// The broker did not come back after a SIGKILL (SEC-6).
    Restart,
    /// Descriptors, threads or memory grew past the bounds, or zombies
    /// stayed (LCH-5).
    Resources,
}

impl FindingKind {
    /// Its name in reports and expected-findings files.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReplyViolation => "reply-violation",
            Self::Liveness => "liveness",
            Self::Stall => "stall",
            Self::HeldOpen => "held-open",
            Self::FdPressure => "fd-pressure",
            Self::Launch => "launch",
            Self::Restart => "restart",
            Self::Resources => "resources",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The storm's seed.
    pub seed: u64,
    /// The phase it came from.
    pub phase: Phase,
    /// The mutation index (mutations), or the probe's number.
    pub index: u64,
    /// What went wrong.
    pub kind: FindingKind,
    /// The clause broken.
    pub clause: String,
    /// What went wrong, with values.
    pub message: String,
    /// The exact bytes sent, as hex.
    pub sent_hex: String,
    /// Whether the sender half-closed after writing.
    pub half_close: bool,
    /// The reply body received (hex; empty when none).
    pub received_hex: String,
    /// The bytes sent, annotated like the suite's wire logs.
    pub sent_annotated: String,
    /// The reply, annotated (framed as it came).
    pub received_annotated: String,
}

/// A finding file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FindingError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not a finding or a report holding findings.
    #[error("{path}: not a finding: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The failure.
        source: serde_json::Error,
    },
    /// A hex field does not parse.
    #[error("{field}: {source}")]
    Hex {
        /// The field.
        field: &'static str,
        /// The failure.
        source: crate::inspect::HexError,
    },
    /// A report holds no finding with that number.
    #[error("{path}: no finding #{index} (it holds {count})")]
    NoSuchFinding {
        /// The file.
        path: String,
        /// The number asked for.
        index: usize,
        /// How many it holds.
        count: usize,
    },
}

/// What a finding records about one exchange.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// The bytes sent.
    pub sent: &'a [u8],
    /// Whether the sender half-closed.
    pub half_close: bool,
    /// The reply body (without its header), if any.
    pub received: Option<&'a [u8]>,
}

impl Finding {
    /// A finding with its bytes annotated.
    pub fn new(
        (seed, phase, index): (u64, Phase, u64),
        kind: FindingKind,
        clause: &str,
        message: impl Into<String>,
        evidence: &Evidence<'_>,
    ) -> Self {
        let received = evidence.received.unwrap_or_default();
        let received_annotated = match evidence.received {
            Some(body) => {
                let mut framed = crate::wire::framing::encode_header(body.len() as u32).to_vec();
                framed.extend_from_slice(body);
                render(&annotate_any_frame(&framed))
            }
            None => String::new(),
        };
        Self {
            seed,
            phase,
            index,
            kind,
            clause: clause.to_owned(),
            message: message.into(),
            sent_hex: to_hex(evidence.sent),
            half_close: evidence.half_close,
            received_hex: to_hex(received),
            sent_annotated: if evidence.sent.is_empty() {
                String::new()
            } else {
                render(&annotate_any_frame(evidence.sent))
            },
            received_annotated,
        }
    }

    /// The bytes sent.
    pub fn sent(&self) -> Result<Vec<u8>, FindingError> {
        parse_hex(&self.sent_hex).map_err(|source| FindingError::Hex {
            field: "sent_hex",
            source,
        })
    }

    /// Reads a finding from `path`: a finding's JSON, or a storm report's
    /// JSON and the finding numbered `index` (from 0) in it.
    pub fn read(path: &Path, index: usize) -> Result<Self, FindingError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FindingError::Io {
            path: shown.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| FindingError::Parse {
                path: shown.clone(),
                source,
            })?;
        let value = match value.get("findings").and_then(|f| f.as_array()) {
            Some(list) => list
                .get(index)
                .cloned()
                .ok_or(FindingError::NoSuchFinding {
                    path: shown.clone(),
                    index,
                    count: list.len(),
                })?,
            None => value,
        };
        serde_json::from_value(value).map_err(|source| FindingError::Parse {
            path: shown,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Finding {
        let reply = [0x08, 0x01, 0x10, 0x02];
        Finding::new(
            (42, Phase::Mutations, 7),
            FindingKind::ReplyViolation,
            "REF-1",
            "daemon protocol range 1..0",
            &Evidence {
                sent: &[0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x01],
                half_close: true,
                received: Some(&reply),
            },
        )
    }

    #[test]
    fn a_finding_survives_its_json_and_keeps_the_exact_bytes() {
        let finding = sample();
        let text = serde_json::to_string(&finding).unwrap();
        let back: Finding = serde_json::from_str(&text).unwrap();
        assert_eq!(back, finding);
        assert_eq!(
            back.sent().unwrap(),
            [0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x01]
        );
        assert_eq!(back.received_hex, "08011002");
        assert!(text.contains("\"phase\":\"mutations\""), "{text}");
        assert!(text.contains("\"kind\":\"reply-violation\""), "{text}");
    }

    #[test]
    fn a_finding_is_annotated_like_a_wire_log() {
        let finding = sample();
        assert!(
            finding.sent_annotated.contains("body length 2"),
            "{}",
            finding.sent_annotated
        );
        assert!(
            finding.received_annotated.contains("envelope_version"),
            "{}",
            finding.received_annotated
        );
    }

    #[test]
    fn a_finding_is_read_alone_or_from_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let finding = sample();
        let alone = dir.path().join("f.json");
        std::fs::write(&alone, serde_json::to_string(&finding).unwrap()).unwrap();
        assert_eq!(Finding::read(&alone, 0).unwrap(), finding);
        let report = dir.path().join("r.json");
        let text = serde_json::json!({ "findings": [finding.clone(), finding.clone()] });
        std::fs::write(&report, text.to_string()).unwrap();
        assert_eq!(Finding::read(&report, 1).unwrap(), finding);
        assert!(matches!(
            Finding::read(&report, 2),
            Err(FindingError::NoSuchFinding { count: 2, .. })
        ));
    }
}
