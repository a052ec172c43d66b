//! Loading the suite: `conformance/cases/*.toml`, `retired.toml`,
//! `services.toml`, `clauses.toml` and `clauses-v2.toml`, from a directory
//! or from the copy embedded in the binary.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::catalogue::Catalogue;
use super::model::{Case, CaseFile, ClauseInfo, ClausesFile, ServiceSpec, ServicesFile, Tombstone};

/// The suite's files, by path relative to `conformance/`.
static EMBEDDED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/embedded_conformance.rs"));

/// A suite file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A file does not parse.
    #[error("{file}: {message}")]
    Parse {
        /// The file, relative to the suite.
        file: String,
        /// The parser's message with its line.
        message: String,
    },
}

/// The whole suite.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// Where it came from.
    pub source: String,
    /// Live cases, in file then definition order.
    pub cases: Vec<Case>,
    /// The file each case came from.
    pub case_files: BTreeMap<String, String>,
    /// Retired ids.
    pub retired: Vec<Tombstone>,
    /// Services provisioned before a run.
    pub services: Vec<ServiceSpec>,
    /// The specs' clauses (v1, then v2).
    pub clauses: Vec<ClauseInfo>,
    /// Raw files, by relative path (for expected-failure lists and docs).
    pub files: BTreeMap<String, Vec<u8>>,
}

fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, SuiteError> {
    std::str::from_utf8(bytes).map_err(|e| SuiteError::Parse {
        file: file.to_owned(),
        message: format!("not UTF-8: {e}"),
    })
}

/// `line N: ` for an error's span in `text`, when it has one.
fn line_of(text: &str, error: &toml::de::Error) -> String {
    error.span().map_or_else(String::new, |s| {
        let line = text[..s.start.min(text.len())].lines().count().max(1);
        format!("line {line}: ")
    })
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, SuiteError> {
    let text = utf8(file, bytes)?;
    toml::from_str(text).map_err(|e| SuiteError::Parse {
        file: file.to_owned(),
        message: format!("{}{}", line_of(text, &e), e.message()),
    })
}

/// Parses one case file. A case that does not parse is reported with its
/// id, its step and the field's path (`case hel.x: step 2:
/// expect_reply.fields.refused.code: unknown matcher "equals" …`).
pub(crate) fn parse_case_file(file: &str, bytes: &[u8]) -> Result<CaseFile, SuiteError> {
    let text = utf8(file, bytes)?;
    let located = |message: String| SuiteError::Parse {
        file: file.to_owned(),
        message,
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| located(format!("{}{}", line_of(text, &e), e.message())))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let place = place(text, e.path());
        let inner = e.into_inner();
        located(format!(
            "{}{place}{}",
            line_of(text, &inner),
            inner.message()
        ))
    })
}

/// Where in a case file a path points: `case ID: step N: field.path: `.
fn place(text: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut segments = path.iter().peekable();
    let mut field = Vec::new();
    while let Some(segment) = segments.next() {
        match (segment, segments.peek()) {
            (Segment::Map { key }, Some(Segment::Seq { index }))
                if key == "case" && out.is_empty() =>
            {
                out.push_str(&format!("case {}: ", case_id(text, *index)));
                segments.next();
            }
            (Segment::Map { key }, Some(Segment::Seq { index })) if key == "step" => {
                out.push_str(&format!("step {}: ", index + 1));
                segments.next();
            }
            (Segment::Map { key } | Segment::Enum { variant: key }, _) => field.push(key.clone()),
            (Segment::Seq { index }, _) => field.push(index.to_string()),
            (Segment::Unknown, _) => {}
        }
    }
    if !field.is_empty() {
        out.push_str(&format!("{}: ", field.join(".")));
    }
    out
}

/// The id of the `index`th case of a file, or its position when it has none.
fn case_id(text: &str, index: usize) -> String {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| {
            t.get("case")?
                .as_array()?
                .get(index)?
                .get("id")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("#{}", index + 1))
}

impl Suite {
    /// Parses a set of suite files.
    pub fn from_files(
        source: String,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, SuiteError> {
        let mut suite = Suite {
            source,
            ..Suite::default()
        };
        for (path, bytes) in &files {
            if let Some(name) = path.strip_prefix("cases/").filter(|p| p.ends_with(".toml")) {
                let file = parse_case_file(path, bytes)?;
                for case in file.cases {
                    suite.case_files.insert(case.id.clone(), name.to_owned());
                    suite.cases.push(case);
                }
            } else if path == "retired.toml" {
                suite.retired = parse_case_file(path, bytes)?.retired;
            } else if path == "services.toml" {
                suite.services = parse::<ServicesFile>(path, bytes)?.services;
            } else if Catalogue::ALL.iter().any(|c| c.file == path.as_str()) {
                suite
                    .clauses
                    .extend(parse::<ClausesFile>(path, bytes)?.clauses);
            }
        }
        suite.files = files;
        Ok(suite)
    }

    /// The suite embedded in this binary at build time.
    pub fn embedded() -> Result<Self, SuiteError> {
        let files = EMBEDDED
            .iter()
            .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
            .collect();
        Self::from_files("the suite embedded in this binary".into(), files)
    }

    /// Reads a suite directory.
    pub fn load_dir(dir: &Path) -> Result<Self, SuiteError> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files)?;
        Self::from_files(dir.display().to_string(), files)
    }

    /// The cases a set of filters selects: all of them without filters,
    /// else those whose id contains a filter or that cite it as a clause.
    pub fn selected(&self, filters: &[String]) -> Vec<&Case> {
        self.cases
            .iter()
            .filter(|c| {
                filters.is_empty()
                    || filters
                        .iter()
                        .any(|f| c.id.contains(f.as_str()) || c.clauses.iter().any(|cl| cl == f))
            })
            .collect()
    }

    /// A case by id.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// A clause by id.
    pub fn clause(&self, id: &str) -> Option<&ClauseInfo> {
        self.clauses.iter().find(|c| c.id == id)
    }
}

fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), SuiteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SuiteError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            read_tree(root, &path, files)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(rel, fs::read(&path).map_err(io(&path))?);
        }
    }
    Ok(())
}
