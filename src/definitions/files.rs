//! Where definitions live: file names (SVC-1, V2-2), the definition
//! directory (SVC-1), its permission check (SEC-3) and atomic writes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use prost::Message;

use super::service_def::{DefinitionError, definition_problems, v2_to_v1};
use crate::env::EnvSource;
use crate::proto::{v1, v2};
use crate::wire::env_vars;

/// Extension of a v1 definition file (SVC-1).
pub const SERVICE_DEF_EXTENSION_V1: &str = ".servicedef";
/// Extension of a v2 definition file (§11); never shared with v1 (V2-2).
pub const SERVICE_DEF_EXTENSION_V2: &str = ".servicedef.v2";
/// Mode of a written definition file.
pub const DEFINITION_FILE_MODE: u32 = 0o600;
/// Mode of a directory created to hold definitions or manifests.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Which schema generation a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Generation {
    /// `running_process.broker.v1`.
    V1,
    /// `running_process.broker.v2` (§11).
    V2,
}

impl Generation {
    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }

    /// The definition file extension of this generation (SVC-1, V2-2).
    pub fn service_def_extension(self) -> &'static str {
        match self {
            Self::V1 => SERVICE_DEF_EXTENSION_V1,
            Self::V2 => SERVICE_DEF_EXTENSION_V2,
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<svc>.servicedef` (v1) or `<svc>.servicedef.v2` (v2) (SVC-1, V2-2). The
/// name is used as given: check it first (HEL-7) before joining it to a
/// directory.
pub fn service_def_file_name(service: &str, generation: Generation) -> String {
    format!("{service}{}", generation.service_def_extension())
}

/// The service name and generation a definition file name stands for, `None`
/// when it has neither extension. The name is not grammar-checked here.
pub fn parse_service_def_file_name(file_name: &str) -> Option<(&str, Generation)> {
    if let Some(service) = file_name.strip_suffix(SERVICE_DEF_EXTENSION_V2) {
        return Some((service, Generation::V2));
    }
    file_name
        .strip_suffix(SERVICE_DEF_EXTENSION_V1)
        .map(|service| (service, Generation::V1))
}

/// Which setting chose a directory (SVC-1, MAN-2), for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirSource {
    /// A command-line flag (a broker's `--service-def-dir`).
    Flag,
    /// An environment variable: the tool's own (`RUNNING_PROCESS_…`), an XDG
    /// base directory, or `HOME`.
    Variable(&'static str),
}

impl fmt::Display for DirSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("flag"),
            Self::Variable(name) => write!(f, "${name}"),
        }
    }
}

/// The service-definition directory (SVC-1): `flag` (a broker's
/// `--service-def-dir`) if given, else `$RUNNING_PROCESS_SERVICE_DEF_DIR`,
/// else `$XDG_CONFIG_HOME/running-process/services`, else
/// `$HOME/.config/running-process/services`; `None` when none is available.
/// Empty variables count as unset.
pub fn resolve_service_def_dir(flag: Option<&Path>, env: &dyn EnvSource) -> Option<PathBuf> {
    resolve_service_def_dir_with_source(flag, env).map(|(dir, _)| dir)
}

/// [`resolve_service_def_dir`] together with the setting that chose the
/// directory.
pub fn resolve_service_def_dir_with_source(
    flag: Option<&Path>,
    env: &dyn EnvSource,
) -> Option<(PathBuf, DirSource)> {
    if let Some(flag) = flag {
        return Some((flag.to_path_buf(), DirSource::Flag));
    }
    if let Some(dir) = env.var(env_vars::SERVICE_DEF_DIR) {
        return Some((
            PathBuf::from(dir),
            DirSource::Variable(env_vars::SERVICE_DEF_DIR),
        ));
    }
    if let Some(config) = env.var("XDG_CONFIG_HOME") {
        return Some((
            Path::new(&config).join("running-process").join("services"),
            DirSource::Variable("XDG_CONFIG_HOME"),
        ));
    }
    env.var("HOME").map(|home| {
        (
            Path::new(&home)
                .join(".config")
                .join("running-process")
                .join("services"),
            DirSource::Variable("HOME"),
        )
    })
}

/// Why a definition directory fails SEC-3 (or cannot be examined).
#[derive(Debug, thiserror::Error)]
pub enum DirProblem {
    /// Nothing exists at the path (HEL-13: no definition).
    #[error("service definition directory {} does not exist", .path.display())]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// The path exists but is not a directory.
    #[error("service definition directory {} is not a directory", .path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory grants a group or other permission bit.
    #[error(
        "service definition directory {} has mode {mode:04o}; it must not grant any group or other permission (SEC-3)",
        .path.display()
    )]
    Insecure {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory could not be examined.
    #[error("service definition directory {} could not be examined: {source}", .path.display())]
    Unreadable {
        /// The directory.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
}

/// The SEC-3 check of a definition directory: it exists, is a directory
/// (a symlink to one counts) and `mode & 0o077 == 0`. Never cached: every
/// call looks again.
#[cfg(unix)]
pub fn check_definition_dir(dir: &Path) -> Result<(), DirProblem> {
    use std::os::unix::fs::PermissionsExt;

    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DirProblem::Missing {
                path: dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(DirProblem::Unreadable {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_dir() {
        return Err(DirProblem::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(DirProblem::Insecure {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates `dir` and any missing parents with mode 0700. An existing
/// directory is left as it is.
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

/// Checks `def` (SVC-3, every problem) and writes it to
/// `<dir>/<svc>.servicedef` atomically (MAN-3 procedure), mode 0600. `dir` is
/// created with mode 0700 if missing; an existing directory's mode is left
/// alone (a harness may stage an insecure one on purpose), so check it with
/// [`check_definition_dir`] if it matters. Returns the path written.
#[cfg(unix)]
pub fn write_service_definition(
    dir: &Path,
    def: &v1::ServiceDefinition,
) -> Result<PathBuf, DefinitionError> {
    check_all(def)?;
    write_definition_bytes(
        dir,
        &service_def_file_name(&def.service_name, Generation::V1),
        &def.encode_to_vec(),
    )
}

/// [`write_service_definition`] for a v2 definition: checked through its v1
/// fields, written to `<dir>/<svc>.servicedef.v2`.
#[cfg(unix)]
pub fn write_service_definition_v2(
    dir: &Path,
    def: &v2::ServiceDefinition,
) -> Result<PathBuf, DefinitionError> {
    check_all(&v2_to_v1(def))?;
    write_definition_bytes(
        dir,
        &service_def_file_name(&def.service_name, Generation::V2),
        &def.encode_to_vec(),
    )
}

fn check_all(def: &v1::ServiceDefinition) -> Result<(), DefinitionError> {
    let problems = definition_problems(def, &def.service_name);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DefinitionError::Invalid { problems })
    }
}

#[cfg(unix)]
fn write_definition_bytes(
    dir: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<PathBuf, DefinitionError> {
    create_private_dir(dir).map_err(|source| DefinitionError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(file_name);
    super::atomic::write_atomic(&path, bytes, DEFINITION_FILE_MODE).map_err(|source| {
        DefinitionError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn file_names_differ_per_generation() {
        assert_eq!(
            service_def_file_name("zccache", Generation::V1),
            "zccache.servicedef"
        );
        assert_eq!(
            service_def_file_name("zccache", Generation::V2),
            "zccache.servicedef.v2"
        );
        assert_eq!(
            parse_service_def_file_name("zccache.servicedef.v2"),
            Some(("zccache", Generation::V2))
        );
        assert_eq!(
            parse_service_def_file_name("zccache.servicedef"),
            Some(("zccache", Generation::V1))
        );
        assert_eq!(parse_service_def_file_name("zccache.pb"), None);
    }

    #[test]
    fn service_def_dir_follows_svc_1_order() {
        let all = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, "/env/defs"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            resolve_service_def_dir(Some(Path::new("/flag")), &all),
            Some(PathBuf::from("/flag"))
        );
        assert_eq!(
            resolve_service_def_dir(None, &all),
            Some(PathBuf::from("/env/defs"))
        );
        let xdg = MapEnv::from_pairs([
            (env_vars::SERVICE_DEF_DIR, ""),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            resolve_service_def_dir(None, &xdg),
            Some(PathBuf::from("/xdg/running-process/services"))
        );
        let home = MapEnv::from_pairs([("HOME", "/home/u")]);
        assert_eq!(
            resolve_service_def_dir(None, &home),
            Some(PathBuf::from("/home/u/.config/running-process/services"))
        );
        assert_eq!(resolve_service_def_dir(None, &MapEnv::default()), None);
    }

    #[test]
    fn the_source_of_the_service_def_dir_is_named() {
        let source = |flag: Option<&str>, pairs: &[(&str, &str)]| {
            resolve_service_def_dir_with_source(
                flag.map(Path::new),
                &MapEnv::from_pairs(pairs.iter().copied()),
            )
            .map(|(_, source)| source.to_string())
        };
        let home = [("HOME", "/h")];
        assert_eq!(source(Some("/f"), &home).as_deref(), Some("flag"));
        assert_eq!(source(None, &home).as_deref(), Some("$HOME"));
        assert_eq!(
            source(None, &[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]).as_deref(),
            Some("$XDG_CONFIG_HOME")
        );
        assert_eq!(
            source(None, &[(env_vars::SERVICE_DEF_DIR, "/d")]).as_deref(),
            Some("$RUNNING_PROCESS_SERVICE_DEF_DIR")
        );
        assert_eq!(source(None, &[]), None);
    }
}
