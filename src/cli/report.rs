//! `broker-conformance report A.json B.json …`: an implementation × case
//! matrix (Markdown) from run reports, and optionally their JUnit XML.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{EXIT_HARNESS, EXIT_OK};
use broker_conformance::runner::RunReport;
use broker_conformance::runner::{
    ReportError, read_json_file, render_matrix, write_junit_many, write_output,
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run reports written by `run --json`, one column each.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Where to write the Markdown matrix (`-` or absent: standard output).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write the runs as JUnit XML to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

fn is_stdout(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p == Path::new("-"))
}

pub fn run(args: ReportArgs) -> u8 {
    if args.junit.as_deref().is_some_and(|p| p == Path::new("-"))
        && is_stdout(args.markdown.as_deref())
    {
        eprintln!(
            "error: --junit - and the matrix would both go to standard output; give --markdown FILE"
        );
        return EXIT_HARNESS;
    }
    let reports: Result<Vec<RunReport>, ReportError> =
        args.reports.iter().map(|p| read_json_file(p)).collect();
    let reports = match reports {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_HARNESS;
        }
    };
    let matrix = render_matrix(&reports);
    let markdown = args.markdown.unwrap_or_else(|| PathBuf::from("-"));
    let mut written = write_output(&markdown, |out| out.write_all(matrix.as_bytes()));
    if let Some(junit) = &args.junit {
        written = written.and_then(|()| write_output(junit, |out| write_junit_many(&reports, out)));
    }
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_HARNESS
        }
    }
}
