//! Reports of a run: the observer the engine drives while cases run, and
//! renderings for people (text), tools (JSON), CI (JUnit) and comparisons
//! across implementations (a Markdown matrix).

pub(crate) mod human;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod markdown;
pub(crate) mod tally;
pub(crate) mod wirelog;
pub(crate) mod xml;

pub use human::{ColorChoice, HumanReporter};
pub use json::{REPORT_SCHEMA_VERSION, read_json_file, write_json_file};
pub use junit::{write_junit_file, write_junit_many};
pub use markdown::render_matrix;

use std::path::PathBuf;

use super::model::{CaseResult, RunReport, TargetInfo};

/// Receives a run's progress. The engine calls [`started`](Self::started)
/// once, [`finished_case`](Self::finished_case) once per case from one
/// thread at a time, then [`finished`](Self::finished) once.
pub trait RunObserver {
    /// The run begins: `total` cases will be reported.
    fn started(&mut self, target: &TargetInfo, total: usize);
    /// One case has its final verdict (expected failures already applied).
    fn finished_case(&mut self, result: &CaseResult);
    /// The run is over; `problems` are failures of the run that belong to
    /// no case (e.g. a stale expected-failure list).
    fn finished(&mut self, report: &RunReport, problems: &[String]);
}

/// The area of a case id: the part before the first dot.
pub(crate) fn area_of(case_id: &str) -> &str {
    case_id.split('.').next().unwrap_or(case_id)
}

/// The distinct areas of `results`, in order of first appearance (suite
/// order), each with its results in order.
pub(crate) fn group_by_area<'a>(
    results: impl IntoIterator<Item = &'a CaseResult>,
) -> Vec<(&'a str, Vec<&'a CaseResult>)> {
    let mut groups: Vec<(&str, Vec<&CaseResult>)> = Vec::new();
    for result in results {
        let area = area_of(&result.id);
        match groups.iter_mut().find(|(a, _)| *a == area) {
            Some((_, members)) => members.push(result),
            None => groups.push((area, vec![result])),
        }
    }
    groups
}

/// A report file that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file (`-` for standard output).
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A run report does not parse or has an unsupported schema version.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Runs `write` on the file at `path`, or on standard output when `path`
/// is `-`, mapping failures to [`ReportError::Io`] naming the path.
pub fn write_output(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_owned(),
        source,
    };
    if path == std::path::Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        write(&mut lock)
            .and_then(|()| std::io::Write::flush(&mut lock))
            .map_err(io)
    } else {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        write(&mut file)
            .and_then(|()| std::io::Write::flush(&mut file))
            .map_err(io)
    }
}
