//! The name and version grammars of the Hello (HEL-7, HEL-8), reused for
//! service definitions (SVC-3) and instance names, and the numeric version
//! comparison of the version floor (HEL-15).

use std::cmp::Ordering;

use super::constants::{MAX_SERVICE_NAME_BYTES, MAX_WANTED_VERSION_BYTES};

/// Why a string does not fit one of the protocol's grammars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The string is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which field was checked.
        what: &'static str,
    },
    /// The string is longer than the field allows.
    #[error("{what} is {len} bytes long, over the limit of {max}")]
    TooLong {
        /// Which field was checked.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A byte outside `[a-z0-9-]` (uppercase included: nothing is lowercased).
    #[error("{what} has {found:?} at byte {at}; only [a-z0-9-] is allowed")]
    InvalidByte {
        /// Which field was checked.
        what: &'static str,
        /// Offset of the first offending byte.
        at: usize,
        /// The offending byte, shown as a char when it is ASCII.
        found: char,
    },
    /// Not `MAJOR.MINOR.PATCH` with an optional `-prerelease` of `[a-z0-9.]`.
    #[error("{what} {value:?} is not MAJOR.MINOR.PATCH[-prerelease]: {problem}")]
    NotAVersion {
        /// Which field was checked.
        what: &'static str,
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Checks `^[a-z0-9-]{1,64}$`: service names (HEL-7) and explicit instance
/// names (SVC-3). `Foo` is refused, never lowercased.
pub fn validate_service_name(name: &str) -> Result<(), GrammarError> {
    validate_name("service_name", name)
}

/// Checks a v2 front door's program name `P` (v2 spec V2N-3); the grammar
/// of service names.
pub fn validate_program_name(name: &str) -> Result<(), GrammarError> {
    validate_name("program", name)
}

/// Checks an explicit instance name; the grammar of service names (SVC-3).
pub(crate) fn validate_instance_name(name: &str) -> Result<(), GrammarError> {
    validate_name("explicit_instance", name)
}

fn validate_name(what: &'static str, name: &str) -> Result<(), GrammarError> {
    if name.is_empty() {
        return Err(GrammarError::Empty { what });
    }
    if name.len() > MAX_SERVICE_NAME_BYTES {
        return Err(GrammarError::TooLong {
            what,
            len: name.len(),
            max: MAX_SERVICE_NAME_BYTES,
        });
    }
    match name
        .bytes()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    {
        Some(at) => Err(GrammarError::InvalidByte {
            what,
            at,
            found: name[at..].chars().next().unwrap_or('\u{fffd}'),
        }),
        None => Ok(()),
    }
}

/// Checks a version: at most 64 bytes and
/// `^[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.]+)?$` (HEL-8). Leading zeros are
/// allowed; `v1.0.0`, `1.0`, `1.0.0-RC`, `1.0.0-a-b` and `1.0.0+b` are not.
pub fn validate_version(version: &str) -> Result<(), GrammarError> {
    validate_version_as("wanted_version", version)
}

/// [`validate_version`] reporting errors under another field name
/// (`min_version`, `version_allow_list`, ...).
pub(crate) fn validate_version_as(what: &'static str, version: &str) -> Result<(), GrammarError> {
    if version.is_empty() {
        return Err(GrammarError::Empty { what });
    }
    if version.len() > MAX_WANTED_VERSION_BYTES {
        return Err(GrammarError::TooLong {
            what,
            len: version.len(),
            max: MAX_WANTED_VERSION_BYTES,
        });
    }
    let not_a_version = |problem| GrammarError::NotAVersion {
        what,
        value: version.to_owned(),
        problem,
    };
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let mut parts = core.split('.');
    for _ in 0..3 {
        match parts.next() {
            Some(part) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {}
            Some(_) => {
                return Err(not_a_version(
                    "MAJOR, MINOR and PATCH must be decimal digits",
                ));
            }
            None => {
                return Err(not_a_version(
                    "it needs exactly three dot-separated numbers",
                ));
            }
        }
    }
    if parts.next().is_some() {
        return Err(not_a_version(
            "it needs exactly three dot-separated numbers",
        ));
    }
    if let Some(pre) = pre_release {
        if pre.is_empty() {
            return Err(not_a_version("the pre-release after '-' is empty"));
        }
        if !pre
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
        {
            return Err(not_a_version("the pre-release may hold only [a-z0-9.]"));
        }
    }
    Ok(())
}

/// The numeric `MAJOR.MINOR.PATCH` of a version; the pre-release is
/// ignored (HEL-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VersionCore {
    /// MAJOR.
    pub major: u64,
    /// MINOR.
    pub minor: u64,
    /// PATCH.
    pub patch: u64,
}

impl VersionCore {
    /// Parses the core of `version`; `None` when it has no three numeric
    /// parts or a part does not fit in a u64 ("unparsable", HEL-15).
    pub(crate) fn parse(version: &str) -> Option<Self> {
        let core = version.split_once('-').map_or(version, |(core, _)| core);
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let core = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(core)
    }
}

/// Compares the cores of two versions; `None` when either is unparsable.
pub(crate) fn compare_version_cores(left: &str, right: &str) -> Option<Ordering> {
    Some(VersionCore::parse(left)?.cmp(&VersionCore::parse(right)?))
}

/// True when `wanted`'s core is below `min`'s core (HEL-15). An empty or
/// unparsable floor, or an unparsable wanted version, blocks nothing.
pub(crate) fn is_below_version_floor(wanted: &str, min: &str) -> bool {
    !min.is_empty() && compare_version_cores(wanted, min) == Some(Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_core_ignores_pre_release_and_leading_zeros() {
        assert_eq!(
            compare_version_cores("1.2.3-rc.1", "01.002.3"),
            Some(Ordering::Equal)
        );
        assert!(is_below_version_floor("1.2.3", "1.10.0"));
        assert!(!is_below_version_floor("1.10.0", "1.2.3"));
    }

    #[test]
    fn unparsable_versions_block_nothing() {
        assert!(!is_below_version_floor("99999999999999999999.0.0", "1.0.0"));
        assert!(!is_below_version_floor("0.0.1", "not-a-version"));
        assert!(!is_below_version_floor("0.0.1", ""));
    }
}
