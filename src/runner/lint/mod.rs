//! `lint`: validates the suite as data, so a broken case is caught when it
//! is written rather than when it runs. One problem per line,
//! `file: item: problem`.
//!
//! Checked: the clause catalogue, the tombstones, `services.toml`, and per
//! case its id (form, uniqueness, area = file stem, not retired), clauses
//! (known, level compatible), summary, and every step: goldens, protobuf
//! text snippets against the schemas, captured names, connections and the
//! services a Hello asks for. What the typed model already refuses at load
//! (matcher names and arguments, one source per send, hex, modes) is not
//! checked again.

mod case;
pub(crate) mod layout;
mod services;
mod steps;
mod text_format;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::golden::Corpus;
use crate::runner::catalogue::Catalogue;
use crate::runner::model::CaseFile;
use crate::runner::suite::{Suite, SuiteError};

/// One problem in the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintProblem {
    /// The file, relative to the suite directory (`cases/hel.toml`).
    pub file: String,
    /// The case id, clause id, service or tombstone concerned (`-` for the
    /// whole file).
    pub item: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for LintProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.item, self.problem)
    }
}

/// Collects problems.
#[derive(Debug, Default)]
struct Problems(Vec<LintProblem>);

impl Problems {
    fn push(&mut self, file: &str, item: &str, problem: impl Into<String>) {
        self.0.push(LintProblem {
            file: file.to_owned(),
            item: item.to_owned(),
            problem: problem.into(),
        });
    }
}

/// Problems of one case, reported as `file: case-id: problem`.
struct CaseSink<'o> {
    file: &'o str,
    id: &'o str,
    problems: &'o mut Problems,
}

impl<'o> CaseSink<'o> {
    fn new(file: &'o str, id: &'o str, problems: &'o mut Problems) -> Self {
        Self { file, id, problems }
    }

    fn add(&mut self, problem: impl Into<String>) {
        self.problems.push(self.file, self.id, problem);
    }
}

/// What every case check may consult.
struct Context<'a> {
    suite: &'a Suite,
    corpus: &'a Corpus,
    /// Services `services.toml` provisions.
    services: BTreeSet<&'a str>,
}

/// Lints a whole suite; goldens named by cases are looked up in `corpus`.
/// Returns no problems for a clean suite.
pub fn lint_suite(suite: &Suite, corpus: &Corpus) -> Vec<LintProblem> {
    let mut problems = Problems::default();
    catalogue(suite, &mut problems);
    tombstones(suite, &mut problems);
    services::services_file(suite, &mut problems);
    let ctx = Context {
        suite,
        corpus,
        services: suite.services.iter().map(|s| s.service.as_str()).collect(),
    };
    case_files(&ctx, &mut problems);
    layout::suite_layout(suite, &mut problems);
    problems.0
}

/// `^[a-z0-9]+(\.[a-z0-9-]+)+$`
fn is_case_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let area_ok = parts.next().is_some_and(|a| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let mut rest = parts.peekable();
    area_ok
        && rest.peek().is_some()
        && rest.all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// `^[A-Z][A-Z0-9]*-[0-9]+$`, e.g. `FRM-4`.
fn is_clause_id(id: &str) -> bool {
    let Some((prefix, number)) = id.split_once('-') else {
        return false;
    };
    prefix
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_uppercase())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn catalogue(suite: &Suite, problems: &mut Problems) {
    if suite.clauses.is_empty() {
        problems.push(
            &Catalogue::V1.file,
            "-",
            "the clause catalogue is missing or empty",
        );
    }
    let mut seen = BTreeSet::new();
    for clause in &suite.clauses {
        let id = clause.id.as_str();
        // Only v2 clauses bind kinds (the generator reads them off the v2 spec).
        let file = match clause.binds.is_empty() {
            true => Catalogue::V1.file,
            false => Catalogue::V2.file,
        };
        let file = file.as_ref();
        if !is_clause_id(id) {
            problems.push(file, id, "clause id is not of the form AREA-N");
        }
        if !seen.insert(id) {
            problems.push(file, id, "clause listed twice");
        }
        if clause.rule.trim().is_empty() {
            problems.push(file, id, "rule is empty");
        }
        if !clause.observable && clause.why.as_deref().is_none_or(|w| w.trim().is_empty()) {
            problems.push(
                file,
                id,
                "an unobservable clause must say why (and where else it is proved)",
            );
        }
    }
}

fn tombstones(suite: &Suite, problems: &mut Problems) {
    const FILE: &str = "retired.toml";
    let mut seen = BTreeSet::new();
    for tombstone in &suite.retired {
        let id = tombstone.id.as_str();
        if !is_case_id(id) {
            problems.push(FILE, id, "retired id is not of the form <area>.<slug>");
        }
        if !seen.insert(id) {
            problems.push(FILE, id, "retired twice");
        }
        if tombstone.reason.trim().is_empty() {
            problems.push(FILE, id, "a tombstone needs a reason");
        }
    }
    if let Some(file) = parse_case_file(suite, FILE, problems)
        && !file.cases.is_empty()
    {
        problems.push(
            FILE,
            "-",
            "[[case]] entries here are ignored: cases live in cases/<area>.toml",
        );
    }
}

fn parse_case_file(suite: &Suite, path: &str, problems: &mut Problems) -> Option<CaseFile> {
    let bytes = suite.files.get(path)?;
    match crate::runner::suite::parse_case_file(path, bytes) {
        Ok(file) => Some(file),
        Err(SuiteError::Parse { message, .. }) => {
            problems.push(path, "-", message);
            None
        }
        Err(other) => {
            problems.push(path, "-", other.to_string());
            None
        }
    }
}

fn case_files(ctx: &Context<'_>, problems: &mut Problems) {
    let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
    for path in ctx.suite.files.keys() {
        let Some(name) = path.strip_prefix("cases/") else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".toml") else {
            problems.push(path, "-", "not a .toml file: the suite ignores it");
            continue;
        };
        let Some(file) = parse_case_file(ctx.suite, path, problems) else {
            continue;
        };
        if !file.retired.is_empty() {
            problems.push(
                path,
                "-",
                "[[retired]] entries here are ignored: tombstones live in retired.toml",
            );
        }
        for case in &file.cases {
            match first_seen.get(&case.id) {
                Some(first) => problems.push(
                    path,
                    &case.id,
                    format!("id is not unique: {first} already defines it"),
                ),
                None => {
                    first_seen.insert(case.id.clone(), path.clone());
                }
            }
            case::lint_case(ctx, path, stem, case, problems);
        }
    }
}

#[cfg(test)]
mod tests;
