//! `broker-conformance clauses`: writes the clause catalogue from the
//! spec's clause tables, keeping the catalogue's `observable` and `why`
//! (exit 0 written or up to date, 1 stale with `--check`, 2 unreadable).

use std::fs;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::runner::ClausesFile;
use broker_conformance::runner::{regenerate, render_catalogue, spec_clauses};

#[derive(Debug, Args)]
pub struct ClausesArgs {
    /// The spec whose clause tables are the source of truth.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// The catalogue to rewrite; its `observable` and `why` are kept.
    #[arg(long, value_name = "FILE", default_value = "conformance/clauses.toml")]
    catalogue: PathBuf,
    /// Write nothing; exit 1 when the catalogue is not what the spec gives.
    #[arg(long)]
    check: bool,
}

pub fn run(args: ClausesArgs) -> u8 {
    match regenerated(&args) {
        Ok((old_text, new_text, note)) if old_text == new_text => {
            eprintln!("{}: up to date{note}", args.catalogue.display());
            EXIT_OK
        }
        Ok((_, _, note)) if args.check => {
            println!(
                "{}: out of date with {}{note}; run without --check to rewrite it",
                args.catalogue.display(),
                args.spec.display()
            );
            EXIT_FAILED
        }
        Ok((_, new_text, note)) => match fs::write(&args.catalogue, new_text) {
            Ok(()) => {
                eprintln!("{}: written{note}", args.catalogue.display());
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {}: {e}", args.catalogue.display());
                EXIT_HARNESS
            }
        },
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_HARNESS
        }
    }
}

/// The catalogue's text now, the text the spec gives, and a note on the
/// clauses added and dropped.
fn regenerated(args: &ClausesArgs) -> Result<(String, String, String), String> {
    let read =
        |path: &PathBuf| fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let spec =
        spec_clauses(&read(&args.spec)?).map_err(|e| format!("{}: {e}", args.spec.display()))?;
    let old_text = read(&args.catalogue)?;
    let old: ClausesFile = toml::from_str(&old_text)
        .map_err(|e| format!("{}: {}", args.catalogue.display(), e.message()))?;
    let fresh = regenerate(&spec, &old.clauses);
    let mut note = format!(" ({} clauses", fresh.clauses.len());
    for (what, ids) in [("added", &fresh.added), ("dropped", &fresh.dropped)] {
        if !ids.is_empty() {
            note.push_str(&format!("; {what}: {}", ids.join(", ")));
        }
    }
    note.push(')');
    Ok((old_text, render_catalogue(&fresh.clauses), note))
}
