//! Each clause catalogue is what its spec gives: byte for byte the file
//! `broker-conformance clauses --spec ../shared/spec/<spec>` writes
//! (`conformance/clauses.toml` from v1-protocol.md,
//! `conformance/clauses-v2.toml` from v2-protocol.md: every clause of the
//! spec's tables, its level, its whole rule text and, for v2, the kinds it
//! binds, with the suite's own `observable` and `why`). Only this test
//! reads `../shared`; the package itself carries the catalogues.

use std::path::PathBuf;

use broker_conformance::runner::{Catalogue, ClausesFile};
use broker_conformance::runner::{regenerate, render_catalogue, spec_clauses};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalogue_text(catalogue: &Catalogue) -> String {
    std::fs::read_to_string(
        crate_dir()
            .join("conformance")
            .join(catalogue.file.as_ref()),
    )
    .unwrap_or_else(|e| panic!("{} reads: {e}", catalogue.file))
}

fn assert_catalogue_is_what_the_spec_gives(catalogue: &Catalogue, min_clauses: usize) {
    let spec_path = crate_dir()
        .join("../shared/spec")
        .join(catalogue.spec.as_ref());
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
        from_spec.len() >= min_clauses,
        "found only {} clauses in {}",
        from_spec.len(),
        catalogue.spec
    );
    let text = catalogue_text(catalogue);
    let file: ClausesFile = toml::from_str(&text).expect("the catalogue parses");
    let fresh = regenerate(&from_spec, &file.clauses);
    let differing: Vec<&str> = fresh
        .clauses
        .iter()
        .filter(|c| !file.clauses.contains(c))
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        render_catalogue(catalogue, &fresh.clauses) == text,
        "{} is out of date with the spec: run \
         `cargo run -- clauses --spec ../shared/spec/{}`\n\
         added: {:?}\ndropped: {:?}\nchanged: {differing:?}",
        catalogue.file,
        catalogue.spec,
        fresh.added,
        fresh.dropped
    );
}

#[test]
fn the_clause_catalogue_is_what_the_spec_gives() {
    assert_catalogue_is_what_the_spec_gives(&Catalogue::V1, 100);
}

#[test]
fn the_v2_clause_catalogue_is_what_the_v2_spec_gives() {
    assert_catalogue_is_what_the_spec_gives(&Catalogue::V2, 60);
}

#[test]
fn every_v2_clause_binds_a_kind_and_no_v1_clause_does() {
    for (catalogue, v2) in [(Catalogue::V1, false), (Catalogue::V2, true)] {
        let file: ClausesFile =
            toml::from_str(&catalogue_text(&catalogue)).expect("the catalogue parses");
        let odd: Vec<&str> = file
            .clauses
            .iter()
            .filter(|c| c.binds.is_empty() == v2)
            .map(|c| c.id.as_str())
            .collect();
        assert!(odd.is_empty(), "{}: binds wrong on {odd:?}", catalogue.file);
    }
}

#[test]
fn the_committed_catalogues_have_no_cut_rule() {
    for catalogue in Catalogue::ALL {
        let file: ClausesFile =
            toml::from_str(&catalogue_text(&catalogue)).expect("the catalogue parses");
        let cut: Vec<&str> = file
            .clauses
            .iter()
            .filter(|c| c.rule.ends_with("...") || c.rule.ends_with('…'))
            .map(|c| c.id.as_str())
            .collect();
        assert!(
            cut.is_empty(),
            "{}: rules cut short: {cut:?}",
            catalogue.file
        );
    }
}
