//! `broker-conformance clauses`: writes a clause catalogue from its
//! spec's clause tables (v1-protocol.md → conformance/clauses.toml,
//! v2-protocol.md → conformance/clauses-v2.toml), keeping the catalogue's `observable` and `why`
//! (exit 0 written or up to date, 1 stale with `--check`, 2 unreadable).

use std::fs;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::runner::ClausesFile;
use broker_conformance::runner::{Catalogue, regenerate, render_catalogue, spec_clauses};

#[derive(Debug, Args)]
pub struct ClausesArgs {
    /// The spec whose clause tables are the source of truth.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// The catalogue to rewrite; its `observable` and `why` are kept
    /// [default: conformance/clauses.toml for v1, conformance/clauses-v2.toml for v2].
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Write nothing; exit 1 when the catalogue is not what the spec gives.
    #[arg(long)]
    check: bool,
}

pub fn run(args: ClausesArgs) -> u8 {
    let catalogue = Catalogue::for_spec(&args.spec);
    let path = match (&args.catalogue, catalogue.file.is_empty()) {
        (Some(path), _) => path.clone(),
        (None, false) => PathBuf::from("conformance").join(catalogue.file.as_ref()),
        (None, true) => {
            eprintln!(
                "error: {}: not a spec the suite catalogues (v1-protocol.md, v2-protocol.md): give --catalogue",
                args.spec.display()
            );
            return EXIT_HARNESS;
        }
    };
    match regenerated(&args, &catalogue, &path) {
        Ok((old_text, new_text, note)) if old_text == new_text => {
            eprintln!("{}: up to date{note}", path.display());
            EXIT_OK
        }
        Ok((_, _, note)) if args.check => {
            println!(
                "{}: out of date with {}{note}; run without --check to rewrite it",
                path.display(),
                args.spec.display()
            );
            EXIT_FAILED
        }
        Ok((_, new_text, note)) => match fs::write(&path, new_text) {
            Ok(()) => {
                eprintln!("{}: written{note}", path.display());
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
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
fn regenerated(
    args: &ClausesArgs,
    catalogue: &Catalogue,
    path: &PathBuf,
) -> Result<(String, String, String), String> {
    let read =
        |path: &PathBuf| fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let spec =
        spec_clauses(&read(&args.spec)?).map_err(|e| format!("{}: {e}", args.spec.display()))?;
    // A catalogue not yet written starts empty: every clause is new.
    let old_text = if path.exists() {
        read(path)?
    } else {
        String::new()
    };
    let old: ClausesFile =
        toml::from_str(&old_text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let fresh = regenerate(&spec, &old.clauses);
    let mut note = format!(" ({} clauses", fresh.clauses.len());
    for (what, ids) in [("added", &fresh.added), ("dropped", &fresh.dropped)] {
        if !ids.is_empty() {
            note.push_str(&format!("; {what}: {}", ids.join(", ")));
        }
    }
    note.push(')');
    Ok((old_text, render_catalogue(catalogue, &fresh.clauses), note))
}
