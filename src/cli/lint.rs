//! `broker-conformance lint`: validates the conformance suite, one line per
//! problem (exit 0 clean, 1 problems, 2 unreadable).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::golden::Corpus;
use broker_conformance::runner::lint_suite;
use broker_conformance::runner::{Suite, SuiteError};

/// Which suite a command reads.
#[derive(Debug, Args)]
pub struct SuiteLocation {
    /// Suite directory (holding cases/, clauses.toml, …) [default:
    /// ./conformance when it holds a suite, else the copy embedded in this binary].
    #[arg(long = "suite", visible_alias = "dir", value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl SuiteLocation {
    /// Loads the suite.
    pub fn load(&self) -> Result<Suite, SuiteError> {
        load_suite(self.dir.as_deref())
    }

    /// The directory the suite is read from; `None` for the embedded copy.
    pub fn resolved_dir(&self) -> Option<PathBuf> {
        suite_dir(self.dir.as_deref())
    }
}

/// `dir`, else ./conformance when it holds a suite (a checkout of this
/// crate); `None` means the copy embedded in this binary.
fn suite_dir(dir: Option<&Path>) -> Option<PathBuf> {
    match dir {
        Some(dir) => Some(dir.to_path_buf()),
        None => Some(PathBuf::from("conformance")).filter(|d| d.join("clauses.toml").is_file()),
    }
}

/// The suite in `dir`; without one, ./conformance when it holds a suite,
/// else the copy embedded in this binary.
pub fn load_suite(dir: Option<&Path>) -> Result<Suite, SuiteError> {
    match suite_dir(dir) {
        Some(dir) => Suite::load_dir(&dir),
        None => Suite::embedded(),
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
    let corpus = match (&args.golden, &args.suite.resolved_dir()) {
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

/// A suite file as the user can open it: under the suite's directory.
fn shown(location: &SuiteLocation, file: &str) -> String {
    match location.resolved_dir() {
        Some(dir) => dir.join(file).display().to_string(),
        None => file.to_owned(),
    }
}
