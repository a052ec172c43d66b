//! What role a broker under test plays (v2 spec §0): which cases bind it.

use serde::{Deserialize, Serialize};

/// Which protocol role the brokers of a target play (v2 spec §0): it picks
/// the cases that bind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A v1 broker: the v1 cases.
    V1,
    /// A v2-capable launching broker: the v1 cases and the launching cases.
    Launching,
    /// A v2 front door: the front-door cases.
    FrontDoor,
}

impl TargetKind {
    /// The name `run --kind` and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::Launching => "launching",
            Self::FrontDoor => "front-door",
        }
    }
}
