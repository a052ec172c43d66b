//! What the testbed provisions: one service entry of
//! `conformance/services.toml` (or of a `define` step), written as
//! definition files with a fake-backend installation behind them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A service definition: in `conformance/services.toml` (written before a
/// run) or in a `define` step (written during a case).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service name (also the name of its fake-backend installation).
    pub service: String,
    /// The behaviour its fake backend shows when launched for a plain
    /// version [default: from the service name, else `echo`].
    #[serde(default)]
    pub behavior: Option<String>,
    /// Which files to write: `v1` (`<service>.servicedef`), `v2`
    /// (`<service>.servicedef.v2`) or both [default: `v1`].
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
    /// (no binary_path), `relative-dir` (a relative per_version_binary_dir),
    /// `missing` (a binary_path in the directory naming no file) or
    /// `outside` (a per_version_binary_dir that does not contain it).
    #[serde(default)]
    pub binary: Option<String>,
    /// The v2 file declares `http_server` (field 10, an empty message: the
    /// two bytes `52 00`; v2 spec §6). Only `v2` files can.
    #[serde(default)]
    pub http_server: bool,
    /// Raw file contents (hex) instead of a definition, for broken files.
    #[serde(default)]
    pub raw_hex: Option<String>,
}
