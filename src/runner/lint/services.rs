//! Checks on service definitions: `services.toml` and `define` steps.

use std::collections::BTreeSet;

use super::Problems;
use crate::fake_backend::Behavior;
use crate::inspect::hex::parse_hex;
use crate::runner::model::ServiceSpec;
use crate::runner::suite::Suite;
use crate::wire::grammar::validate_service_name;

const BINARIES: &[&str] = &[
    "installed",
    "relative",
    "empty",
    "relative-dir",
    "missing",
    "outside",
];
const FILES: &[&str] = &["v1", "v2"];
const ISOLATIONS: &[&str] = &["private", "shared", "explicit"];

/// Problems with one service spec.
pub(super) fn check_service(spec: &ServiceSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if spec.service.trim().is_empty() {
        problems.push("service name is empty".into());
    }
    if let Some(behavior) = &spec.behavior
        && behavior.parse::<Behavior>().is_err()
    {
        problems.push(format!(
            "unknown fake-backend behavior {behavior:?} (known: {})",
            Behavior::ALL
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(files) = &spec.files {
        if files.is_empty() {
            problems.push("files is empty: write v1, v2 or both".into());
        }
        let mut seen = BTreeSet::new();
        for file in files {
            if !FILES.contains(&file.as_str()) {
                problems.push(format!("files holds {file:?}; only v1 and v2 exist"));
            }
            if !seen.insert(file) {
                problems.push(format!("files lists {file:?} twice"));
            }
        }
    }
    one_of(
        "isolation",
        spec.isolation.as_deref(),
        ISOLATIONS,
        &mut problems,
    );
    one_of("binary", spec.binary.as_deref(), BINARIES, &mut problems);
    if let Some(Err(e)) = spec.raw_hex.as_deref().map(parse_hex) {
        problems.push(format!("raw_hex does not parse: {e}"));
    }
    problems
}

fn one_of(field: &str, value: Option<&str>, allowed: &[&str], problems: &mut Vec<String>) {
    if let Some(value) = value
        && !allowed.contains(&value)
    {
        problems.push(format!(
            "{field} {value:?} is not one of {}",
            allowed.join(", ")
        ));
    }
}

/// Checks `services.toml`: every entry valid, names unique.
pub(super) fn services_file(suite: &Suite, problems: &mut Problems) {
    const FILE: &str = "services.toml";
    // One entry may write the v1 file and another the v2 file of a service;
    // two entries writing the same file would overwrite each other.
    let mut seen = BTreeSet::new();
    for spec in &suite.services {
        let name = spec.service.as_str();
        let files = spec.files.clone().unwrap_or_else(|| vec!["v1".to_owned()]);
        for file in files {
            if !seen.insert((name, file.clone())) {
                problems.push(FILE, name, format!("service's {file} file defined twice"));
            }
        }
        for problem in check_service(spec) {
            problems.push(FILE, name, problem);
        }
    }
}

/// True for service names a case may ask for without defining them: names
/// meant to be unknown (`unknown-…`, `nobody…`) and names the grammar
/// refuses (SVC-3), which never reach a definition lookup.
pub(super) fn needs_no_definition(name: &str) -> bool {
    name.starts_with("unknown-")
        || name.starts_with("nobody")
        || validate_service_name(name).is_err()
}
