//! `broker-conformance coverage`: which cases prove each spec clause
//! (exit 1 when an observable MUST clause has none).

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::runner::coverage;

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    suite: super::lint::SuiteLocation,
}

pub fn run(args: CoverageArgs) -> u8 {
    let suite = match args.suite.load() {
        Ok(suite) => suite,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_HARNESS;
        }
    };
    let report = coverage(&suite);
    if args.json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.render_text());
    }
    if report.passed() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
