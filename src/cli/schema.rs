//! `broker-conformance schema`: prints the JSON Schema of a case file, for
//! editors (`conformance/README.md`, "Editing cases").

use super::{EXIT_HARNESS, EXIT_OK};
use broker_conformance::runner::case_file_schema;

/// Prints the schema as pretty JSON.
pub fn run() -> u8 {
    match serde_json::to_string_pretty(&case_file_schema()) {
        Ok(text) => {
            println!("{text}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("broker-conformance: the schema does not serialize: {e}");
            EXIT_HARNESS
        }
    }
}
