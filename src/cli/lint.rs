//! `broker-conformance lint`: validates the conformance suite, one line per
//! problem (exit 0 clean, 1 problems, 2 unreadable).

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use crate::golden::Corpus;
use crate::runner::lint::lint_suite;
use crate::runner::suite::{Suite, SuiteError};

/// Which suite a command reads.
#[derive(Debug, Args)]
pub struct SuiteLocation {
    /// Suite directory (holding cases/, clauses.toml, …) [default: the suite embedded in this binary].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl SuiteLocation {
    /// Loads the suite.
    pub fn load(&self) -> Result<Suite, SuiteError> {
        match &self.dir {
            Some(dir) => Suite::load_dir(dir),
            None => Suite::embedded(),
        }
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    suite: SuiteLocation,
    /// Golden corpus the cases' goldens come from [default: the embedded
    /// corpus for the embedded suite, else ./golden, this crate's golden/ or
    /// the embedded copy].
    #[arg(long, value_name = "DIR")]
    golden: Option<PathBuf>,
}

pub fn run(args: LintArgs) -> u8 {
    let suite = match args.suite.load() {
        Ok(suite) => suite,
        // A file that does not parse is a problem in the suite, not an unreadable one.
        Err(SuiteError::Parse { file, message }) => {
            println!("{}: -: {message}", shown(&args.suite, &file));
            return EXIT_FAILED;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_HARNESS;
        }
    };
    let corpus = match (&args.golden, &args.suite.dir) {
        (Some(dir), _) => Corpus::load_dir(dir),
        (None, None) => Ok(Corpus::embedded()),
        (None, Some(_)) => Corpus::default_location(),
    };
    let corpus = match corpus {
        Ok(corpus) => corpus,
        Err(e) => {
            eprintln!("error: golden corpus: {e}");
            return EXIT_HARNESS;
        }
    };
    let problems = lint_suite(&suite, &corpus);
    for p in &problems {
        println!("{}: {}: {}", shown(&args.suite, &p.file), p.item, p.problem);
    }
    if problems.is_empty() {
        eprintln!("{}: {} cases, no problems", suite.source, suite.cases.len());
        EXIT_OK
    } else {
        eprintln!("{}: {} problems", suite.source, problems.len());
        EXIT_FAILED
    }
}

/// A suite file as the user can open it: under `--dir` when given.
fn shown(location: &SuiteLocation, file: &str) -> String {
    match &location.dir {
        Some(dir) => dir.join(file).display().to_string(),
        None => file.to_owned(),
    }
}
