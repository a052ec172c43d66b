//! The suite's files besides the cases: tombstones of retired ids
//! (`retired.toml`), the services the runner provisions
//! (`services.toml`, also `define` steps) and the clause catalogue
//! (`clauses.toml`), and the [`Level`] of clauses and cases.

use std::collections::BTreeMap;
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

/// A service definition: in `conformance/services.toml` (written before a
/// run) or in a `define` step (written during a case).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service name (also the name of its fake-backend installation).
    pub service: String,
    /// The behaviour its fake backend shows when launched for a plain
    /// version [default: from the service name, else `echo`].
    #[serde(default)]
    pub behavior: Option<String>,
    /// Which files to write: `v1`, `v2` or both [default: `v1`].
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// `min_version`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// `version_allow_list`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Labels, e.g. `handoff = "1"`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `private` (default), `shared` or `explicit`.
    #[serde(default)]
    pub isolation: Option<String>,
    /// `explicit_instance`, written as given (invalid ones included).
    #[serde(default)]
    pub explicit_instance: Option<String>,
    /// Write this `service_name` inside the file instead (a mismatch).
    #[serde(default)]
    pub name_in_file: Option<String>,
    /// `installed` (default), `relative` (a relative binary_path), `empty`
    /// (no binary_path), `relative-dir` (a relative per_version_binary_dir)
    /// or `outside` (a per_version_binary_dir that does not contain it).
    #[serde(default)]
    pub binary: Option<String>,
    /// Raw file contents (hex) instead of a definition, for broken files.
    #[serde(default)]
    pub raw_hex: Option<String>,
}

/// `conformance/services.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesFile {
    /// The services.
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceSpec>,
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
