//! The suite's files besides the cases: tombstones of retired ids
//! (`retired.toml`), the services the runner provisions
//! (`services.toml`, also `define` steps) and the clause catalogue
//! (`clauses.toml`), and the [`Level`] of clauses and cases.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How strongly the spec requires what a case checks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Level {
    /// Every conforming broker.
    #[serde(rename = "MUST")]
    Must,
    /// The documented intent; deployed brokers may differ.
    #[serde(rename = "SHOULD")]
    Should,
    /// The reference broker's choice: informational for other brokers.
    #[serde(rename = "REF")]
    Ref,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::Ref => "REF",
        })
    }
}

/// A retired case id: kept so it is never reused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// The retired id.
    pub id: String,
    /// Why it was retired.
    pub reason: String,
}

pub(crate) use crate::testbed::ServiceSpec;

/// `conformance/services.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServicesFile {
    /// The services.
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceSpec>,
}

/// A kind of implementation a v2 clause binds (v2 spec §0 and each
/// section's "Applies to" line). v1 clauses bind every v1 broker and name none.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClauseKind {
    /// A v2 front door (FD).
    FrontDoor,
    /// A v2-capable launching broker (LB).
    Launching,
    /// A client library's v2 helpers (V2K): no broker run observes them.
    Client,
    /// A writer of v2 cache manifests (V2M): no broker run observes it.
    Writer,
}

impl ClauseKind {
    /// The name catalogues and cases use.
    pub fn name(self) -> &'static str {
        match self {
            Self::FrontDoor => "front-door",
            Self::Launching => "launching",
            Self::Client => "client",
            Self::Writer => "writer",
        }
    }
}

impl fmt::Display for ClauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One clause of the spec as the suite tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClauseInfo {
    /// Its id.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its rule, shortened.
    pub rule: String,
    /// The kinds it binds (v2 clauses only; empty: every v1 broker).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<ClauseKind>,
    /// False when no case can observe it from outside a broker.
    #[serde(default = "yes")]
    pub observable: bool,
    /// Why not, and where else it is proved.
    #[serde(default)]
    pub why: Option<String>,
}

fn yes() -> bool {
    true
}

/// `conformance/clauses.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClausesFile {
    /// The clauses.
    #[serde(rename = "clause", default)]
    pub clauses: Vec<ClauseInfo>,
}
