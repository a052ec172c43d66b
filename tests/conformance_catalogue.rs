//! `conformance/clauses.toml` tracks the spec: the same clause ids with the
//! same levels as the clause tables of `../shared/spec/v1-protocol.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use broker_conformance::runner::model::ClausesFile;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of every table whose header starts `| ID | Level |`: id → level.
fn spec_clauses(spec: &str) -> BTreeMap<String, String> {
    let mut clauses = BTreeMap::new();
    let mut in_table = false;
    for line in spec.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        if cells.len() >= 2
            && cells[0].eq_ignore_ascii_case("id")
            && cells[1].eq_ignore_ascii_case("level")
        {
            in_table = true;
            continue;
        }
        if !in_table || cells[0].starts_with("---") || cells[0].starts_with(":-") {
            continue;
        }
        let previous = clauses.insert(cells[0].to_owned(), cells[1].to_owned());
        assert!(previous.is_none(), "the spec defines {} twice", cells[0]);
    }
    clauses
}

#[test]
fn the_clause_catalogue_matches_the_spec() {
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
    let from_spec = spec_clauses(&spec);
    assert!(
        from_spec.len() >= 100,
        "found only {} clauses in the spec",
        from_spec.len()
    );
    let text = std::fs::read_to_string(crate_dir().join("conformance/clauses.toml"))
        .expect("clauses.toml reads");
    let catalogue: ClausesFile = toml::from_str(&text).expect("clauses.toml parses");
    let from_catalogue: BTreeMap<String, String> = catalogue
        .clauses
        .iter()
        .map(|c| (c.id.clone(), c.level.to_string()))
        .collect();
    assert_eq!(
        from_catalogue.len(),
        catalogue.clauses.len(),
        "clauses.toml repeats an id"
    );
    let missing: Vec<&String> = from_spec
        .keys()
        .filter(|id| !from_catalogue.contains_key(*id))
        .collect();
    let extra: Vec<&String> = from_catalogue
        .keys()
        .filter(|id| !from_spec.contains_key(*id))
        .collect();
    let level_differs: Vec<String> = from_spec
        .iter()
        .filter_map(|(id, level)| {
            let ours = from_catalogue.get(id)?;
            (ours != level).then(|| format!("{id}: spec {level}, clauses.toml {ours}"))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && level_differs.is_empty(),
        "clauses.toml is out of sync with the spec\nmissing: {missing:?}\nnot in the spec: {extra:?}\nlevels: {level_differs:#?}"
    );
}

#[test]
fn the_spec_table_parser_reads_only_clause_tables() {
    let spec = "\
| ID | Level | Rule |
|---|---|---|
| FRM-1 | MUST | a \\| b |
| FRM-2 | REF | c |

| Name | Value |
|---|---|
| X-1 | 5 |

| ID | Level | Condition | Reply |
|----|-------|---|---|
| HEL-1 | SHOULD | x | y |
";
    let clauses = spec_clauses(spec);
    assert_eq!(
        clauses.into_iter().collect::<Vec<_>>(),
        [
            ("FRM-1".to_owned(), "MUST".to_owned()),
            ("FRM-2".to_owned(), "REF".to_owned()),
            ("HEL-1".to_owned(), "SHOULD".to_owned()),
        ]
    );
}
