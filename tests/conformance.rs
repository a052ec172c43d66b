//! The conformance suite against the built-in reference broker, one named
//! test per case (`cargo test --test conformance -- frm.`). The reference
//! broker must pass every case: its expected-failure list is empty.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use broker_conformance::golden::Corpus;
use broker_conformance::inspect::annotate::{annotate_any_frame, render};
use broker_conformance::inspect::parse_hex;
use broker_conformance::runner::schedule::{CaseRunner, RunSettings};
use broker_conformance::runner::{CaseResult, Suite, Verdict};
use broker_conformance::testbed::{BuiltInTarget, Provisioner};
use libtest_mimic::{Arguments, Failed, Trial};

/// The Hello deadline given to the reference broker under test (FRM-9 cases wait it out).
const HELLO_TIMEOUT: Duration = Duration::from_millis(1000);

fn explain(result: &CaseResult) -> String {
    let mut out = format!(
        "{} [{}]: {}\n",
        result.id,
        result.verdict.label(),
        result.message
    );
    if !result.detail.is_empty() {
        out += &format!("{}\n", result.detail);
    }
    for event in &result.trace {
        out += &format!(
            "  +{:>5} ms {:<6} {:<5} {}\n",
            event.at_ms, event.conn, event.what, event.note
        );
        if let Ok(bytes) = parse_hex(&event.hex)
            && !bytes.is_empty()
        {
            for line in render(&annotate_any_frame(&bytes)).lines() {
                out += &format!("      {line}\n");
            }
        }
    }
    out
}

fn main() {
    let args = Arguments::from_args();
    let root_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite =
        Suite::load_dir(&root_dir.join("conformance")).unwrap_or_else(|e| panic!("suite: {e}"));
    let goldens = Arc::new(
        Corpus::load_dir(&root_dir.join("golden")).unwrap_or_else(|e| panic!("goldens: {e}")),
    );
    let scratch = tempfile::Builder::new()
        .prefix("cf.")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("{e}"));
    let definitions = scratch.path().join("defs");
    let provisioner = Arc::new(
        Provisioner::new(
            scratch.path(),
            std::path::Path::new(env!("CARGO_BIN_EXE_fake-backend")),
            &definitions,
        )
        .unwrap_or_else(|e| panic!("provisioning: {e}")),
    );
    provisioner
        .write_all(&suite.services)
        .unwrap_or_else(|e| panic!("provisioning: {e}"));
    let target = Arc::new(BuiltInTarget::new(&definitions, HELLO_TIMEOUT));
    let settings = RunSettings {
        jobs: 1,
        trace_all: false,
        helper_exe: PathBuf::from(env!("CARGO_BIN_EXE_broker-conformance")),
    };
    let runner = Arc::new(
        CaseRunner::start(target, provisioner, goldens, settings).unwrap_or_else(|e| panic!("{e}")),
    );
    let trials: Vec<Trial> = suite
        .cases
        .iter()
        .map(|case| {
            let skip = runner.skip_reason(case).is_some();
            let level = case.level.to_string();
            let (runner, case) = (Arc::clone(&runner), case.clone());
            Trial::test(case.id.clone(), move || {
                let result = runner.run(&case);
                match result.verdict {
                    Verdict::Pass | Verdict::Skip => Ok(()),
                    _ => Err(Failed::from(explain(&result))),
                }
            })
            .with_kind(level)
            .with_ignored_flag(skip)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    runner.stop();
    drop(scratch);
    conclusion.exit();
}
