//! The suite as data: the case format of `conformance/cases/*.toml`
//! (documented in `conformance/README.md`), the suite's other files, and
//! the results a run produces.

mod case;
mod catalogue;
mod matcher;
mod result;
mod v2;

pub use case::*;
pub use catalogue::*;
pub(crate) use matcher::*;
pub use result::*;
pub(crate) use v2::*;

/// The JSON Schema of a case file (`conformance/cases/*.toml`, read as
/// JSON), generated from the typed model: what an editor's TOML language
/// server validates against, and what `broker-conformance schema` prints.
pub fn case_file_schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(CaseFile);
    schema.insert(
        "title".into(),
        "broker-conformance case file (conformance/cases/*.toml)".into(),
    );
    schema
}
