//! The content checks of a service definition (SVC-3), the one
//! implementation shared by the loader, the builders and `servicedef show`,
//! plus the v1 builder and the v1 <-> v2 conversion (§11).

use std::fmt;
use std::path::Path;

use super::isolation::{Isolation, IsolationProblem, grammar_reason};
use crate::proto::{v1, v2};
use crate::wire::grammar::{GrammarError, validate_service_name, validate_version_as};

/// One way a decoded definition breaks SVC-3. Each names the field, the value
/// and the clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionProblem {
    /// The service name the definition is checked against breaks the name
    /// grammar (HEL-7), so no file can be named after it.
    #[error(
        "service_name {value:?} is not a valid service name: {reason} (SVC-3)",
        reason = grammar_reason(.source)
    )]
    InvalidServiceName {
        /// The rejected name.
        value: String,
        /// The grammar it breaks.
        source: GrammarError,
    },
    /// The file's `service_name` differs from the requested one.
    #[error("service_name {found:?} does not match the requested service {requested:?} (SVC-3)")]
    ServiceNameMismatch {
        /// The name that was asked for (and that names the file).
        requested: String,
        /// The name inside the definition.
        found: String,
    },
    /// A required path is empty.
    #[error("{field} is empty; it must be an absolute path (SVC-3)")]
    EmptyPath {
        /// `binary_path`.
        field: &'static str,
    },
    /// A path is not absolute.
    #[error("{field} {value:?} is not absolute (SVC-3)")]
    RelativePath {
        /// `binary_path` or `per_version_binary_dir`.
        field: &'static str,
        /// The rejected path.
        value: String,
    },
    /// A path handed to a builder is not UTF-8, so no proto string can hold it.
    #[error("{field} {value:?} is not valid UTF-8 (SVC-3)")]
    NonUtf8Path {
        /// `binary_path` or `per_version_binary_dir`.
        field: &'static str,
        /// The path, lossily converted.
        value: String,
    },
    /// `min_version` or an allow-list entry is not a valid version (HEL-8
    /// grammar).
    #[error(
        "{field} {value:?} is not a valid version: {reason} (SVC-3)",
        reason = grammar_reason(.source)
    )]
    InvalidVersion {
        /// `min_version` or `version_allow_list[i]`.
        field: String,
        /// The rejected text.
        value: String,
        /// The grammar it breaks.
        source: GrammarError,
    },
    /// The isolation pair is invalid.
    #[error(transparent)]
    Isolation(#[from] IsolationProblem),
}

/// Why a definition could not be built, validated or written.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// SVC-3 problems, in check order. [`validate_definition`] stops at the
    /// first (exactly one entry); the builders collect all of them.
    #[error("{}", ProblemList(.problems))]
    Invalid {
        /// The problems found, never empty.
        problems: Vec<DefinitionProblem>,
    },
    /// The definition file or its directory could not be written.
    #[error("could not write service definition {path}: {source}")]
    Write {
        /// The file or directory being written.
        path: std::path::PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
}

impl DefinitionError {
    /// The SVC-3 problems this error carries (empty for I/O failures).
    pub fn problems(&self) -> &[DefinitionProblem] {
        match self {
            Self::Invalid { problems } => problems,
            Self::Write { .. } => &[],
        }
    }
}

struct ProblemList<'a>(&'a [DefinitionProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Every SVC-3 content problem of `def` read for `requested_service`, in the
/// order SVC-3 lists the checks (the first entry is the one a loader
/// reports): service name, `binary_path`, `per_version_binary_dir`,
/// `min_version`, allow-list entries, isolation. The directory and decode
/// checks that precede these belong to the loader.
pub fn definition_problems(
    def: &v1::ServiceDefinition,
    requested_service: &str,
) -> Vec<DefinitionProblem> {
    let mut problems = Vec::new();
    if let Err(source) = validate_service_name(requested_service) {
        problems.push(DefinitionProblem::InvalidServiceName {
            value: requested_service.to_owned(),
            source,
        });
    } else if def.service_name != requested_service {
        problems.push(DefinitionProblem::ServiceNameMismatch {
            requested: requested_service.to_owned(),
            found: def.service_name.clone(),
        });
    }
    if def.binary_path.is_empty() {
        problems.push(DefinitionProblem::EmptyPath {
            field: "binary_path",
        });
    } else {
        problems.extend(relative_path("binary_path", &def.binary_path));
    }
    if !def.per_version_binary_dir.is_empty() {
        problems.extend(relative_path(
            "per_version_binary_dir",
            &def.per_version_binary_dir,
        ));
    }
    if !def.min_version.is_empty() {
        problems.extend(invalid_version("min_version", &def.min_version));
    }
    for (i, entry) in def.version_allow_list.iter().enumerate() {
        problems.extend(invalid_version(&format!("version_allow_list[{i}]"), entry));
    }
    if let Err(problem) = Isolation::of(def) {
        problems.push(problem.into());
    }
    problems
}

fn relative_path(field: &'static str, value: &str) -> Option<DefinitionProblem> {
    (!Path::new(value).is_absolute()).then(|| DefinitionProblem::RelativePath {
        field,
        value: value.to_owned(),
    })
}

fn invalid_version(field: &str, value: &str) -> Option<DefinitionProblem> {
    validate_version_as("version", value)
        .err()
        .map(|source| DefinitionProblem::InvalidVersion {
            field: field.to_owned(),
            value: value.to_owned(),
            source,
        })
}

/// SVC-3 content checks of a decoded definition requested as
/// `requested_service`, first failure wins (the directory and decode checks
/// come before these and belong to the loader).
pub fn validate_definition(
    def: &v1::ServiceDefinition,
    requested_service: &str,
) -> Result<(), DefinitionError> {
    match definition_problems(def, requested_service)
        .into_iter()
        .next()
    {
        None => Ok(()),
        Some(first) => Err(DefinitionError::Invalid {
            problems: vec![first],
        }),
    }
}

/// Reasons a definition that passes SVC-3 still cannot be launched (LCH-1),
/// judged from the text alone (LCH-1 itself compares canonical paths).
pub fn launch_gaps(def: &v1::ServiceDefinition) -> Vec<String> {
    if def.per_version_binary_dir.is_empty() {
        return vec![
            "per_version_binary_dir is not set: the definition loads, but LCH-1 refuses to launch \
             its backend (BACKEND_SPAWN_FAILED)"
                .to_owned(),
        ];
    }
    if !Path::new(&def.binary_path).starts_with(&def.per_version_binary_dir) {
        return vec![format!(
            "binary_path {:?} is not inside per_version_binary_dir {:?}: LCH-1 refuses the launch \
             unless symlinks resolve it inside",
            def.binary_path, def.per_version_binary_dir
        )];
    }
    Vec::new()
}

/// The v1 view of a v2 definition: fields 1-8 copied, `http_server` dropped
/// (§11).
pub fn v2_to_v1(def: &v2::ServiceDefinition) -> v1::ServiceDefinition {
    v1::ServiceDefinition {
        service_name: def.service_name.clone(),
        binary_path: def.binary_path.clone(),
        isolation: def.isolation,
        explicit_instance: def.explicit_instance.clone(),
        per_version_binary_dir: def.per_version_binary_dir.clone(),
        min_version: def.min_version.clone(),
        version_allow_list: def.version_allow_list.clone(),
        labels: def.labels.clone(),
    }
}

/// A v2 definition holding `def`'s fields 1-8 and `http_server` (§11).
pub fn v1_to_v2(
    def: v1::ServiceDefinition,
    http_server: Option<v2::HttpServerCapability>,
) -> v2::ServiceDefinition {
    v2::ServiceDefinition {
        service_name: def.service_name,
        binary_path: def.binary_path,
        isolation: def.isolation,
        explicit_instance: def.explicit_instance,
        per_version_binary_dir: def.per_version_binary_dir,
        min_version: def.min_version,
        version_allow_list: def.version_allow_list,
        labels: def.labels,
        http_server,
    }
}

/// Builds a v1 (or v2) service definition and checks it with the loader's
/// SVC-3 checks ([`definition_problems`], the service name checked against
/// itself).
///
/// Problems are collected, not first-wins: [`build`](Self::build) reports
/// every one at once (paths that are not UTF-8 first, then the SVC-3
/// problems in check order), so a CLI can print them all.
#[derive(Debug, Clone)]
pub struct ServiceDefinitionBuilder {
    def: v1::ServiceDefinition,
    isolation: Isolation,
    encoding_problems: Vec<DefinitionProblem>,
}

impl ServiceDefinitionBuilder {
    /// A private-isolation definition for `service_name` with nothing else
    /// set.
    pub fn new(service_name: &str) -> Self {
        Self {
            def: v1::ServiceDefinition {
                service_name: service_name.to_owned(),
                ..v1::ServiceDefinition::default()
            },
            isolation: Isolation::Private,
            encoding_problems: Vec::new(),
        }
    }

    /// The backend executable (must be absolute).
    pub fn binary_path(mut self, p: impl AsRef<Path>) -> Self {
        self.def.binary_path = self.path_text("binary_path", p.as_ref());
        self
    }

    /// The directory the binary must lie in (LCH-1; absolute).
    pub fn per_version_binary_dir(mut self, p: impl AsRef<Path>) -> Self {
        self.def.per_version_binary_dir = self.path_text("per_version_binary_dir", p.as_ref());
        self
    }

    /// The version floor (HEL-15).
    pub fn min_version(mut self, v: &str) -> Self {
        v.clone_into(&mut self.def.min_version);
        self
    }

    /// Adds one entry to the version allow-list (HEL-16).
    pub fn allow_version(mut self, v: &str) -> Self {
        self.def.version_allow_list.push(v.to_owned());
        self
    }

    /// The isolation (§7.1); private unless set.
    pub fn isolation(mut self, i: Isolation) -> Self {
        self.isolation = i;
        self
    }

    /// Sets one label (e.g. `handoff = "1"`, LCH-6).
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.def.labels.insert(k.to_owned(), v.to_owned());
        self
    }

    /// The checked v1 definition, or every problem found.
    pub fn build(self) -> Result<v1::ServiceDefinition, DefinitionError> {
        let mut def = self.def;
        def.isolation = self.isolation.wire_value() as i32;
        self.isolation
            .explicit_instance()
            .clone_into(&mut def.explicit_instance);
        let mut problems = self.encoding_problems;
        problems.extend(definition_problems(&def, &def.service_name));
        if problems.is_empty() {
            Ok(def)
        } else {
            Err(DefinitionError::Invalid { problems })
        }
    }

    /// The checked v2 definition: the v1 fields plus `http_server` (§11).
    pub fn build_v2(
        self,
        http: Option<v2::HttpServerCapability>,
    ) -> Result<v2::ServiceDefinition, DefinitionError> {
        self.build().map(|def| v1_to_v2(def, http))
    }

    fn path_text(&mut self, field: &'static str, path: &Path) -> String {
        let text = path.to_string_lossy().into_owned();
        if path.to_str().is_none() {
            self.encoding_problems.push(DefinitionProblem::NonUtf8Path {
                field,
                value: text.clone(),
            });
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> v1::ServiceDefinition {
        v1::ServiceDefinition {
            service_name: "zccache".into(),
            binary_path: "/opt/zccache/bin/zccache".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_definition_has_no_problems() {
        assert!(definition_problems(&valid(), "zccache").is_empty());
        assert!(validate_definition(&valid(), "zccache").is_ok());
    }

    #[test]
    fn validate_reports_only_the_first_problem() {
        let def = v1::ServiceDefinition {
            binary_path: "rel".into(),
            min_version: "1.0".into(),
            ..valid()
        };
        assert_eq!(definition_problems(&def, "zccache").len(), 2);
        let err = validate_definition(&def, "zccache").unwrap_err();
        assert_eq!(
            err.to_string(),
            "binary_path \"rel\" is not absolute (SVC-3)"
        );
        assert_eq!(err.problems().len(), 1);
    }

    #[test]
    fn allow_list_problems_name_the_entry() {
        let def = v1::ServiceDefinition {
            version_allow_list: vec!["1.0.0".into(), "v2".into()],
            ..valid()
        };
        let err = validate_definition(&def, "zccache").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("version_allow_list[1] \"v2\" is not a valid version: "),
            "{err}"
        );
    }

    #[test]
    fn launch_gaps_flag_a_missing_or_foreign_binary_dir() {
        assert_eq!(launch_gaps(&valid()).len(), 1);
        let inside = v1::ServiceDefinition {
            per_version_binary_dir: "/opt/zccache".into(),
            ..valid()
        };
        assert!(launch_gaps(&inside).is_empty());
        let outside = v1::ServiceDefinition {
            per_version_binary_dir: "/opt/other".into(),
            ..valid()
        };
        assert_eq!(launch_gaps(&outside).len(), 1);
    }

    #[test]
    fn v2_conversion_copies_fields_one_to_eight() {
        let mut def = valid();
        def.labels.insert("handoff".into(), "1".into());
        def.version_allow_list.push("1.2.3".into());
        let http = v2::HttpServerCapability {
            bind_addr: "127.0.0.1".into(),
            ..Default::default()
        };
        let v2 = v1_to_v2(def.clone(), Some(http.clone()));
        assert_eq!(v2.http_server, Some(http));
        assert_eq!(v2_to_v1(&v2), def);
    }
}
