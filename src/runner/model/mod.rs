//! The suite as data: the case format of `conformance/cases/*.toml`
//! (documented in `conformance/README.md`), the suite's other files, and
//! the results a run produces.

mod case;
mod catalogue;
mod matcher;
mod result;

pub use case::*;
pub use catalogue::*;
pub use matcher::*;
pub use result::*;
