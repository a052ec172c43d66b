//! `broker-conformance schema` prints a JSON Schema every case file of the
//! suite (read as JSON) validates against, and that refuses what the
//! runner refuses at load.
#![cfg(unix)]

mod support;

use std::fs;
use std::path::Path;

/// The schema the binary prints.
fn printed_schema() -> serde_json::Value {
    let (code, stdout, stderr) = support::cli_output(support::cli_command().arg("schema"));
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("the schema is not JSON: {e}"))
}

/// A TOML document read as JSON (straight into JSON values, so integers
/// above i64, which the suite writes for u64 fields, survive).
fn as_json(toml_text: &str) -> serde_json::Value {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"))
}

/// Every problem the validator reports, one per line.
fn errors(validator: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
    validator
        .iter_errors(&as_json(toml_text))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_case_file_validates_against_the_printed_schema() {
    let validator = jsonschema::validator_for(&printed_schema())
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/cases");
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            errors(&validator, &text),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 12, "only {files} case files in {}", dir.display());
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator = jsonschema::validator_for(&printed_schema())
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"));
    let case = |step: &str| {
        format!(
            "[[case]]\nid = \"x.y\"\nclauses = [\"FRM-4\"]\nlevel = \"MUST\"\nsummary = \"s\"\n[[case.step]]\n{step}\n"
        )
    };
    let good = case("expect_reply = { fields = { a = { min = 1 } }, ref_fields = { b = \"x\" } }");
    assert_eq!(errors(&validator, &good), Vec::<String>::new());
    for bad in [
        "expect_reply = { fields = { a = { ref = 1 } } }",
        "expect_reply = { fields = { a = { equals = 1 } } }",
        "expect_reply = { fields = { a = { len = 1, empty = true } } }",
        "expect_reply = { result = \"rejected\" }",
        "send = { hex = \"01\", golden = \"v1/x\" }",
        "send = { truncate = 1 }",
        "send = { admin = { verb = \"ADMIN_VERB_STATUZ\" } }",
        "chmod_definitions = \"rwx\"",
        "expect_close = { on = \"main\", nope = 1 }",
    ] {
        assert!(
            !errors(&validator, &case(bad)).is_empty(),
            "{bad} validates"
        );
    }
}
