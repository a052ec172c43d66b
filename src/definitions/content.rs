//! The pure half of loading one definition file (SVC-1, SVC-3, V2-1,
//! HEL-14): its bytes and path in, the checked definition or what is wrong
//! with it out. The loader adds the directory check (SEC-3), the file
//! system and its cache; the fuzz target calls this directly.

use std::path::{Path, PathBuf};

use prost::Message;

use super::files::{Generation, parse_service_def_file_name};
use super::service_def::{DefinitionProblem, definition_problems, v2_to_v1};
use crate::proto::{v1, v2};

/// Largest definition file the loader reads (reference limit; a real
/// definition is a few hundred bytes).
pub const MAX_DEFINITION_BYTES: u64 = 1 << 20;

/// A definition file's content: its v1 view (a v2 file converted by copying
/// fields 1-8, §11) plus the v2 extras.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionContent {
    /// The v1 view of the definition.
    pub definition: v1::ServiceDefinition,
    /// The v2 `http_server` capability (always `None` for v1 files).
    pub http_server: Option<v2::HttpServerCapability>,
}

/// Why one definition file cannot be served (HEL-14). The text starts with
/// the path and is fit to follow `service definition could not be loaded: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionFileError {
    /// The file is over [`MAX_DEFINITION_BYTES`].
    #[error(
        "{}: file is {len} bytes or more, over the {MAX_DEFINITION_BYTES}-byte limit",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, or as much of it as was read.
        len: u64,
    },
    /// The bytes do not decode as the generation the file name says (SVC-3).
    #[error("{}: not a valid {generation} ServiceDefinition: {source} (SVC-3)", .path.display())]
    NotADefinition {
        /// The file.
        path: PathBuf,
        /// The generation its name says.
        generation: Generation,
        /// The decode failure.
        source: prost::DecodeError,
    },
    /// The decoded definition fails an SVC-3 content check (the first one).
    #[error("{}: {problem}", .path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// The first problem, in SVC-3 order.
        problem: Box<DefinitionProblem>,
    },
    /// The file name ends in neither definition extension (SVC-1, V2-2).
    #[error("{}: not a service definition file name (SVC-1)", .path.display())]
    FileName {
        /// The file.
        path: PathBuf,
    },
}

/// Decodes a definition file's bytes as `generation`, refusing more than
/// [`MAX_DEFINITION_BYTES`]; no content check.
pub fn decode_definition(
    path: &Path,
    generation: Generation,
    bytes: &[u8],
) -> Result<DefinitionContent, DefinitionFileError> {
    if bytes.len() as u64 > MAX_DEFINITION_BYTES {
        return Err(DefinitionFileError::TooLarge {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
        });
    }
    let not_a_definition = |source| DefinitionFileError::NotADefinition {
        path: path.to_path_buf(),
        generation,
        source,
    };
    match generation {
        Generation::V1 => v1::ServiceDefinition::decode(bytes)
            .map(|definition| DefinitionContent {
                definition,
                http_server: None,
            })
            .map_err(not_a_definition),
        Generation::V2 => v2::ServiceDefinition::decode(bytes)
            .map(|def| DefinitionContent {
                definition: v2_to_v1(&def),
                http_server: def.http_server,
            })
            .map_err(not_a_definition),
    }
}

/// SVC-3 on the bytes of the file `path` holding `service`'s definition of
/// `generation`: the size limit, the decode, then every content check in
/// SVC-3 order, first failure wins.
pub fn check_definition_bytes(
    path: &Path,
    service: &str,
    generation: Generation,
    bytes: &[u8],
) -> Result<DefinitionContent, DefinitionFileError> {
    let content = decode_definition(path, generation, bytes)?;
    match definition_problems(&content.definition, service)
        .into_iter()
        .next()
    {
        None => Ok(content),
        Some(problem) => Err(DefinitionFileError::Content {
            path: path.to_path_buf(),
            problem: Box::new(problem),
        }),
    }
}

/// [`check_definition_bytes`] with the service and generation read from the
/// file name, `<svc>.servicedef` or `<svc>.servicedef.v2` (SVC-1, V2-2).
pub fn check_definition_file(
    path: &Path,
    bytes: &[u8],
) -> Result<DefinitionContent, DefinitionFileError> {
    let (service, generation) = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(parse_service_def_file_name)
        .ok_or_else(|| DefinitionFileError::FileName {
            path: path.to_path_buf(),
        })?;
    check_definition_bytes(path, service, generation, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> v1::ServiceDefinition {
        crate::definitions::ServiceDefinitionBuilder::new("svc")
            .binary_path("/opt/svc/bin")
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_file_name_chooses_the_service_and_the_generation() {
        let bytes = valid().encode_to_vec();
        let loaded = check_definition_file(Path::new("/d/svc.servicedef"), &bytes);
        assert_eq!(loaded.map(|c| c.definition), Ok(valid()));
        let other = check_definition_file(Path::new("/d/other.servicedef"), &bytes);
        assert!(
            matches!(
                other,
                Err(DefinitionFileError::Content { ref problem, .. })
                    if matches!(**problem, DefinitionProblem::ServiceNameMismatch { .. })
            ),
            "{other:?}"
        );
        let v2 = check_definition_file(Path::new("/d/svc.servicedef.v2"), &bytes);
        assert_eq!(v2.map(|c| c.http_server), Ok(None));
        let unnamed = check_definition_file(Path::new("/d/svc.txt"), &bytes);
        assert!(matches!(unnamed, Err(DefinitionFileError::FileName { .. })));
    }

    #[test]
    fn errors_name_the_file_and_the_clause() {
        let path = Path::new("/d/svc.servicedef");
        let undecodable = check_definition_file(path, &[0xff, 0xff]);
        let text = undecodable.map_err(|e| e.to_string()).unwrap_err();
        assert!(
            text.starts_with("/d/svc.servicedef: not a valid v1 ServiceDefinition: ")
                && text.ends_with("(SVC-3)"),
            "{text}"
        );
        let big = vec![0u8; MAX_DEFINITION_BYTES as usize + 1];
        assert!(matches!(
            check_definition_file(path, &big),
            Err(DefinitionFileError::TooLarge { len, .. }) if len == MAX_DEFINITION_BYTES + 1
        ));
    }
}
