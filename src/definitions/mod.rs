//! Service definitions and cache manifests on disk (spec §10, §11, SEC-3).
//!
//! | module | job |
//! |---|---|
//! | `isolation` | the typed isolation and instance ids (§7.1) |
//! | `service_def` | the SVC-3 content checks (one implementation), the builder, v1 <-> v2 |
//! | `files` | file names (SVC-1, V2-2), the definition directory and its SEC-3 check, writes |
//! | `loader` | the per-Hello loader with its decode cache (SVC-2, V2-1, HEL-13, HEL-14) |
//! | `watch` | inotify on the definition directory: answers stay valid while it is quiet |
//! | `manifest` | sealing and verifying (MAN-1), locations (MAN-2), writes of v1 and v2 manifests |
//! | `atomic` | atomic file replacement (MAN-3) |

#[cfg(unix)]
mod atomic;
#[cfg(unix)]
mod binary;
mod files;
mod isolation;
#[cfg(unix)]
mod loader;
mod manifest;
mod service_def;
#[cfg(target_os = "linux")]
mod watch;

#[cfg(unix)]
pub use atomic::write_atomic;
#[cfg(unix)]
pub use binary::resolve_binary;
pub use files::{
    DEFINITION_FILE_MODE, DirProblem, DirSource, Generation, PRIVATE_DIR_MODE,
    SERVICE_DEF_EXTENSION_V1, SERVICE_DEF_EXTENSION_V2, parse_service_def_file_name,
    resolve_service_def_dir, resolve_service_def_dir_with_source, service_def_file_name,
};
#[cfg(unix)]
pub use files::{
    check_definition_dir, create_private_dir, write_service_definition, write_service_definition_v2,
};
pub use isolation::{Isolation, IsolationProblem, instance_id};
#[cfg(unix)]
pub use loader::{
    DefinitionChange, LoadError, LoadedDefinition, MAX_DEFINITION_BYTES, RACY_WINDOW,
    ServiceDefinitionLoader, read_definition_file,
};
pub use manifest::{
    CacheManifestBuilder, CacheManifestV2Builder, MANIFEST_FILE_MODE, ManifestError, ManifestPaths,
    ManifestProblem, ROOT_MANIFEST_FILE_V1, ROOT_MANIFEST_FILE_V2, central_manifest_path,
    encode_sealed, manifest_digest, manifest_registry_dir, manifest_registry_dir_with_source,
    read_manifest_v2, read_verified_manifest, root_manifest_path, seal_manifest, validate_manifest,
    validate_manifest_v2,
};
#[cfg(unix)]
pub use manifest::{
    write_central_manifest, write_manifest, write_manifest_v2, write_root_manifest,
};
pub use service_def::{
    DefinitionError, DefinitionProblem, ServiceDefinitionBuilder, definition_problems, launch_gaps,
    v1_to_v2, v2_to_v1, validate_definition,
};
