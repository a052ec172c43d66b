//! `conformance/clauses.toml` is what the spec gives: byte for byte the file
//! `broker-conformance clauses --spec ../shared/spec/v1-protocol.md` writes
//! (every clause of the spec's tables, its level and its whole rule text,
//! with the suite's own `observable` and `why`). Only this test reads
//! `../shared`; the package itself carries the catalogue.

use std::path::PathBuf;

use broker_conformance::runner::ClausesFile;
use broker_conformance::runner::{regenerate, render_catalogue, spec_clauses};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_clause_catalogue_is_what_the_spec_gives() {
    let spec_path = crate_dir().join("../shared/spec/v1-protocol.md");
    let Ok(spec) = std::fs::read_to_string(&spec_path) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: CI must check the catalogue against the spec",
            spec_path.display()
        );
        eprintln!(
            "skipped: {} is absent, so the catalogue cannot be compared",
            spec_path.display()
        );
        return;
    };
    let from_spec = spec_clauses(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
    assert!(
        from_spec.len() >= 100,
        "found only {} clauses in the spec",
        from_spec.len()
    );
    let text = std::fs::read_to_string(crate_dir().join("conformance/clauses.toml"))
        .expect("clauses.toml reads");
    let catalogue: ClausesFile = toml::from_str(&text).expect("clauses.toml parses");
    let fresh = regenerate(&from_spec, &catalogue.clauses);
    let differing: Vec<&str> = fresh
        .clauses
        .iter()
        .filter(|c| !catalogue.clauses.contains(c))
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        render_catalogue(&fresh.clauses) == text,
        "clauses.toml is out of date with the spec: run \
         `cargo run -- clauses --spec ../shared/spec/v1-protocol.md`\n\
         added: {:?}\ndropped: {:?}\nchanged: {differing:?}",
        fresh.added,
        fresh.dropped
    );
}

#[test]
fn the_committed_catalogue_has_no_cut_rule() {
    let text = std::fs::read_to_string(crate_dir().join("conformance/clauses.toml"))
        .expect("clauses.toml reads");
    let catalogue: ClausesFile = toml::from_str(&text).expect("clauses.toml parses");
    let cut: Vec<&str> = catalogue
        .clauses
        .iter()
        .filter(|c| c.rule.ends_with("...") || c.rule.ends_with('…'))
        .map(|c| c.id.as_str())
        .collect();
    assert!(cut.is_empty(), "rules cut short: {cut:?}");
}
