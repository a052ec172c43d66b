//! Cache manifests: sealing and verifying v1 manifests (MAN-1), their file
//! locations (MAN-2) and atomic writes of both generations (MAN-3, §11).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;

use super::files::{DirSource, Generation};
use super::isolation::grammar_reason;
use crate::env::EnvSource;
use crate::golden::manifest::sha256;
use crate::inspect::hex::to_hex;
use crate::proto::{v1, v2};
use crate::wire::grammar::{validate_service_name, validate_version_as};
use crate::wire::{CACHE_MANIFEST_MEDIA_TYPE, CACHE_MANIFEST_SCHEMA_VERSION, env_vars};

/// Root copy of a v1 manifest inside a cache root (MAN-2).
pub const ROOT_MANIFEST_FILE_V1: &str = ".running-process-manifest.pb";
/// Root copy of a v2 manifest inside a cache root (§11).
pub const ROOT_MANIFEST_FILE_V2: &str = ".running-process-manifest.v2.pb";
/// Mode of a written manifest file.
pub const MANIFEST_FILE_MODE: u32 = 0o600;

/// One field of a manifest that cannot be written where MAN-2 says, or
/// makes no sense. Names the field, the value and the clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} {reason} ({clause})")]
pub struct ManifestProblem {
    /// The field, e.g. `service_version` or `roots[1].path`.
    pub field: String,
    /// The rejected value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
    /// The clause that needs it.
    pub clause: &'static str,
}

/// Why a manifest could not be built, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes are not a protobuf manifest.
    #[error("not a valid {generation} CacheManifest: {source}")]
    Decode {
        /// The schema the bytes were decoded as.
        generation: Generation,
        /// The decode failure.
        source: prost::DecodeError,
    },
    /// `manifest_schema_version` is newer than this reader (MAN-1).
    #[error(
        "manifest_schema_version {found} is newer than the supported {CACHE_MANIFEST_SCHEMA_VERSION} (MAN-1)"
    )]
    SchemaTooNew {
        /// The version in the manifest.
        found: u32,
    },
    /// `self_sha256` is empty (MAN-1).
    #[error("self_sha256 is missing: the manifest is not sealed (MAN-1)")]
    MissingDigest,
    /// `self_sha256` is not the SHA-256 of the manifest without it (MAN-1).
    #[error("self_sha256 is {found} but the manifest's SHA-256 is {expected} (MAN-1)")]
    WrongDigest {
        /// The stored digest, hex.
        found: String,
        /// The digest of the content, hex.
        expected: String,
    },
    /// Fields that break the manifest rules, all of them.
    #[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The problems found, never empty.
        problems: Vec<ManifestProblem>,
    },
    /// The registry directory grants group or other permissions (MAN-2).
    #[error(
        "manifest registry {} has mode {mode:04o}; it must not grant any group or other permission (MAN-2)",
        .path.display()
    )]
    InsecureDirectory {
        /// The registry directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file or directory could not be written.
    #[error("could not write {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
}

/// Where [`write_manifest`] put the copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPaths {
    /// `<registry>/<service>-<version>.pb` (or `.v2.pb`).
    pub central: PathBuf,
    /// `<first root>/.running-process-manifest.pb` (or `.v2.pb`); `None` when
    /// the manifest has no roots.
    pub root: Option<PathBuf>,
}

// ---------------------------------------------------------------- sealing

/// SHA-256 of `m` encoded with `self_sha256` cleared (MAN-1).
pub fn manifest_digest(m: &v1::CacheManifest) -> [u8; 32] {
    let mut unsealed = m.clone();
    unsealed.self_sha256 = Bytes::new();
    sha256(&unsealed.encode_to_vec())
}

/// Seals `m` in place (MAN-1): `manifest_schema_version = 1`, `media_type`
/// set, `self_sha256` cleared, encoded, and the SHA-256 of that encoding
/// stored in `self_sha256`.
pub fn seal_manifest(m: &mut v1::CacheManifest) {
    m.manifest_schema_version = CACHE_MANIFEST_SCHEMA_VERSION;
    CACHE_MANIFEST_MEDIA_TYPE.clone_into(&mut m.media_type);
    m.self_sha256 = Bytes::copy_from_slice(&manifest_digest(m));
}

/// The encoding of a sealed copy of `m` (MAN-1).
pub fn encode_sealed(m: &v1::CacheManifest) -> Vec<u8> {
    let mut sealed = m.clone();
    seal_manifest(&mut sealed);
    sealed.encode_to_vec()
}

/// Decodes a v1 manifest and runs the MAN-1 reader checks in this order:
/// decode, schema version at most 1, digest present, digest right.
pub fn read_verified_manifest(bytes: &[u8]) -> Result<v1::CacheManifest, ManifestError> {
    let m = v1::CacheManifest::decode(bytes).map_err(|source| ManifestError::Decode {
        generation: Generation::V1,
        source,
    })?;
    if m.manifest_schema_version > CACHE_MANIFEST_SCHEMA_VERSION {
        return Err(ManifestError::SchemaTooNew {
            found: m.manifest_schema_version,
        });
    }
    if m.self_sha256.is_empty() {
        return Err(ManifestError::MissingDigest);
    }
    let expected = manifest_digest(&m);
    if m.self_sha256.as_ref() != expected {
        return Err(ManifestError::WrongDigest {
            found: to_hex(&m.self_sha256),
            expected: to_hex(&expected),
        });
    }
    Ok(m)
}

// ------------------------------------------------------------- validation

fn problem(field: impl Into<String>, value: &str, reason: String) -> ManifestProblem {
    ManifestProblem {
        field: field.into(),
        value: value.to_owned(),
        reason,
        clause: "MAN-2",
    }
}

/// The checks both generations share: the service and version name the
/// central file (MAN-2), and every root path is absolute.
fn identity_problems<'a>(
    service: &str,
    version: &str,
    root_paths: impl Iterator<Item = &'a str>,
) -> Vec<ManifestProblem> {
    let mut problems = Vec::new();
    if let Err(e) = validate_service_name(service) {
        problems.push(problem(
            "service_name",
            service,
            format!("is not a valid service name: {}", grammar_reason(&e)),
        ));
    }
    if let Err(e) = validate_version_as("service_version", version) {
        problems.push(problem(
            "service_version",
            version,
            format!("is not a valid version: {}", grammar_reason(&e)),
        ));
    }
    for (i, path) in root_paths.enumerate() {
        if !Path::new(path).is_absolute() {
            problems.push(problem(
                format!("roots[{i}].path"),
                path,
                "is not an absolute path".to_owned(),
            ));
        }
    }
    problems
}

fn verdict(problems: Vec<ManifestProblem>) -> Result<(), ManifestError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError::Invalid { problems })
    }
}

/// Every problem of a v1 manifest: service and version grammars (they name
/// the central file, MAN-2), absolute root paths, and valid names and
/// versions in `depends_on`.
pub fn validate_manifest(m: &v1::CacheManifest) -> Result<(), ManifestError> {
    let mut problems = identity_problems(
        &m.service_name,
        &m.service_version,
        m.roots.iter().map(|r| r.path.as_str()),
    );
    for (i, dep) in m.depends_on.iter().enumerate() {
        if let Err(e) = validate_service_name(&dep.service_name) {
            problems.push(problem(
                format!("depends_on[{i}].service_name"),
                &dep.service_name,
                format!("is not a valid service name: {}", grammar_reason(&e)),
            ));
        }
        if !dep.min_version.is_empty()
            && let Err(e) = validate_version_as("min_version", &dep.min_version)
        {
            problems.push(problem(
                format!("depends_on[{i}].min_version"),
                &dep.min_version,
                format!("is not a valid version: {}", grammar_reason(&e)),
            ));
        }
    }
    verdict(problems)
}

/// Every problem of a v2 manifest: service and version grammars and
/// absolute root paths.
pub fn validate_manifest_v2(m: &v2::CacheManifest) -> Result<(), ManifestError> {
    verdict(identity_problems(
        &m.service_name,
        &m.service_version,
        m.roots.iter().map(|r| r.path.as_str()),
    ))
}

/// Decodes and validates a v2 manifest (v2 has no digest, §11).
pub fn read_manifest_v2(bytes: &[u8]) -> Result<v2::CacheManifest, ManifestError> {
    let m = v2::CacheManifest::decode(bytes).map_err(|source| ManifestError::Decode {
        generation: Generation::V2,
        source,
    })?;
    validate_manifest_v2(&m)?;
    Ok(m)
}

// ---------------------------------------------------------------- builders

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn path_text(field: String, path: &Path, problems: &mut Vec<ManifestProblem>) -> String {
    let text = path.to_string_lossy().into_owned();
    if path.to_str().is_none() {
        problems.push(problem(field, &text, "is not valid UTF-8".to_owned()));
    }
    text
}

/// Builds a sealed v1 cache manifest. `broker_envelope_version` is `v1`;
/// `created_at_unix_ms` defaults to the time of [`build`](Self::build) and
/// `last_active_unix_ms` to `created_at_unix_ms`. `build` reports every
/// problem at once (see [`validate_manifest`]).
#[derive(Debug, Clone)]
pub struct CacheManifestBuilder {
    m: v1::CacheManifest,
    encoding_problems: Vec<ManifestProblem>,
}

impl CacheManifestBuilder {
    /// A manifest for `service` at `version`.
    pub fn new(service: &str, version: &str) -> Self {
        Self {
            m: v1::CacheManifest {
                service_name: service.to_owned(),
                service_version: version.to_owned(),
                broker_envelope_version: "v1".to_owned(),
                ..v1::CacheManifest::default()
            },
            encoding_problems: Vec::new(),
        }
    }

    /// Adds a cache root of `kind` at the absolute `path`. The first root
    /// receives the root copy (see [`write_manifest`]).
    pub fn root(mut self, path: impl AsRef<Path>, kind: v1::CacheRootKind) -> Self {
        let field = format!("roots[{}].path", self.m.roots.len());
        let path = path_text(field, path.as_ref(), &mut self.encoding_problems);
        self.m.roots.push(v1::CacheRoot {
            path,
            kind: kind as i32,
            ..v1::CacheRoot::default()
        });
        self
    }

    /// Adds a fully specified cache root.
    pub fn root_entry(mut self, root: v1::CacheRoot) -> Self {
        self.m.roots.push(root);
        self
    }

    /// The host the manifest describes.
    pub fn host(mut self, host: v1::HostIdentity) -> Self {
        self.m.host = Some(host);
        self
    }

    /// The operation in progress.
    pub fn current_operation(mut self, operation: v1::Operation) -> Self {
        self.m.current_operation = Some(operation);
        self
    }

    /// The daemon serving the cache.
    pub fn current_daemon(mut self, daemon: v1::DaemonProcess) -> Self {
        self.m.current_daemon = Some(daemon);
        self
    }

    /// How long the manifest stays valid.
    pub fn valid_until_unix_ms(mut self, ms: u64) -> Self {
        self.m.valid_until_unix_ms = ms;
        self
    }

    /// Creation time (default: now).
    pub fn created_at_unix_ms(mut self, ms: u64) -> Self {
        self.m.created_at_unix_ms = ms;
        self
    }

    /// Last activity time (default: the creation time).
    pub fn last_active_unix_ms(mut self, ms: u64) -> Self {
        self.m.last_active_unix_ms = ms;
        self
    }

    /// The cleanup policy.
    pub fn cleanup_policy(mut self, policy: v1::CleanupPolicy) -> Self {
        self.m.cleanup_policy = Some(policy);
        self
    }

    /// The broker instance id (§7.1).
    pub fn broker_instance(mut self, instance: &str) -> Self {
        instance.clone_into(&mut self.m.broker_instance);
        self
    }

    /// Adds a dependency on `service` (at least `min_version`, empty for
    /// any).
    pub fn depends_on(mut self, service: &str, min_version: &str, optional: bool) -> Self {
        self.m.depends_on.push(v1::ManifestRef {
            service_name: service.to_owned(),
            min_version: min_version.to_owned(),
            optional,
        });
        self
    }

    /// Adds a provided capability.
    pub fn provides(mut self, capability: &str) -> Self {
        self.m.provides.push(capability.to_owned());
        self
    }

    /// Observability endpoints.
    pub fn observability(mut self, info: v1::ObservabilityInfo) -> Self {
        self.m.observability = Some(info);
        self
    }

    /// The bundle id.
    pub fn bundle_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.m.bundle_id);
        self
    }

    /// The checked, sealed manifest.
    pub fn build(self) -> Result<v1::CacheManifest, ManifestError> {
        let mut m = self.m;
        default_times(&mut m.created_at_unix_ms, &mut m.last_active_unix_ms);
        all_problems(self.encoding_problems, validate_manifest(&m))?;
        seal_manifest(&mut m);
        Ok(m)
    }
}

/// Builds a v2 cache manifest (§11): `broker_envelope_version` is `v2`,
/// times default as for [`CacheManifestBuilder`], every problem reported.
#[derive(Debug, Clone)]
pub struct CacheManifestV2Builder {
    m: v2::CacheManifest,
    encoding_problems: Vec<ManifestProblem>,
}

impl CacheManifestV2Builder {
    /// A manifest for `service` at `version`.
    pub fn new(service: &str, version: &str) -> Self {
        Self {
            m: v2::CacheManifest {
                service_name: service.to_owned(),
                service_version: version.to_owned(),
                broker_envelope_version: "v2".to_owned(),
                ..v2::CacheManifest::default()
            },
            encoding_problems: Vec::new(),
        }
    }

    /// Adds a cache root of `kind` at the absolute `path`; the first one
    /// receives the root copy.
    pub fn root(mut self, path: impl AsRef<Path>, kind: v2::CacheRootKind) -> Self {
        let field = format!("roots[{}].path", self.m.roots.len());
        let path = path_text(field, path.as_ref(), &mut self.encoding_problems);
        self.m.roots.push(v2::CacheRoot {
            kind: kind as i32,
            path,
        });
        self
    }

    /// The broker instance id (§7.1).
    pub fn broker_instance(mut self, instance: &str) -> Self {
        instance.clone_into(&mut self.m.broker_instance);
        self
    }

    /// The bundle id.
    pub fn bundle_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.m.bundle_id);
        self
    }

    /// Creation time (default: now).
    pub fn created_at_unix_ms(mut self, ms: u64) -> Self {
        self.m.created_at_unix_ms = ms;
        self
    }

    /// Last activity time (default: the creation time).
    pub fn last_active_unix_ms(mut self, ms: u64) -> Self {
        self.m.last_active_unix_ms = ms;
        self
    }

    /// The checked manifest.
    pub fn build(self) -> Result<v2::CacheManifest, ManifestError> {
        let mut m = self.m;
        default_times(&mut m.created_at_unix_ms, &mut m.last_active_unix_ms);
        all_problems(self.encoding_problems, validate_manifest_v2(&m))?;
        Ok(m)
    }
}

/// A builder's time defaults: created now, last active when created.
fn default_times(created_at_unix_ms: &mut u64, last_active_unix_ms: &mut u64) {
    if *created_at_unix_ms == 0 {
        *created_at_unix_ms = now_unix_ms();
    }
    if *last_active_unix_ms == 0 {
        *last_active_unix_ms = *created_at_unix_ms;
    }
}

/// Every problem a builder found: those met while encoding its inputs,
/// then the validator's.
fn all_problems(
    mut problems: Vec<ManifestProblem>,
    validated: Result<(), ManifestError>,
) -> Result<(), ManifestError> {
    if let Err(ManifestError::Invalid { problems: more }) = validated {
        problems.extend(more);
    }
    verdict(problems)
}

// ------------------------------------------------------------------ paths

/// The central registry (MAN-2): `$RUNNING_PROCESS_MANIFEST_DIR`, else
/// `$XDG_DATA_HOME/running-process/manifests`, else
/// `$HOME/.local/share/running-process/manifests`; `None` when none is set.
pub fn manifest_registry_dir(env: &dyn EnvSource) -> Option<PathBuf> {
    manifest_registry_dir_with_source(env).map(|(dir, _)| dir)
}

/// [`manifest_registry_dir`] together with the variable that chose it.
pub fn manifest_registry_dir_with_source(env: &dyn EnvSource) -> Option<(PathBuf, DirSource)> {
    if let Some(dir) = env.var(env_vars::MANIFEST_DIR) {
        return Some((
            PathBuf::from(dir),
            DirSource::Variable(env_vars::MANIFEST_DIR),
        ));
    }
    if let Some(data) = env.var("XDG_DATA_HOME") {
        return Some((
            Path::new(&data).join("running-process").join("manifests"),
            DirSource::Variable("XDG_DATA_HOME"),
        ));
    }
    env.var("HOME").map(|home| {
        (
            Path::new(&home)
                .join(".local")
                .join("share")
                .join("running-process")
                .join("manifests"),
            DirSource::Variable("HOME"),
        )
    })
}

/// `<cache_root>/.running-process-manifest.pb` (v1) or `.v2.pb` (v2) (MAN-2,
/// §11).
pub fn root_manifest_path(cache_root: &Path, generation: Generation) -> PathBuf {
    cache_root.join(match generation {
        Generation::V1 => ROOT_MANIFEST_FILE_V1,
        Generation::V2 => ROOT_MANIFEST_FILE_V2,
    })
}

/// `<registry>/<service>-<version>.pb` (v1) or `.v2.pb` (v2) (MAN-2, §11).
/// The names are used as given: validate them first (the writers do).
pub fn central_manifest_path(
    registry: &Path,
    service: &str,
    version: &str,
    generation: Generation,
) -> PathBuf {
    let extension = match generation {
        Generation::V1 => "pb",
        Generation::V2 => "v2.pb",
    };
    registry.join(format!("{service}-{version}.{extension}"))
}

// ----------------------------------------------------------------- writing

/// Seals `m` and writes its root copy into `cache_root` atomically (MAN-1,
/// MAN-3). `cache_root` is created with mode 0700 if missing; an existing
/// root keeps its mode (it belongs to the service).
#[cfg(unix)]
pub fn write_root_manifest(
    cache_root: &Path,
    m: &v1::CacheManifest,
) -> Result<PathBuf, ManifestError> {
    validate_manifest(m)?;
    write_root_copy(cache_root, Generation::V1, &encode_sealed(m))
}

/// Seals `m` and writes its central copy into `registry` atomically (MAN-1,
/// MAN-2, MAN-3). The registry is created with mode 0700 if missing; an
/// existing registry that grants group or other permissions is refused.
#[cfg(unix)]
pub fn write_central_manifest(
    m: &v1::CacheManifest,
    registry: &Path,
) -> Result<PathBuf, ManifestError> {
    validate_manifest(m)?;
    write_central_copy(
        registry,
        &m.service_name,
        &m.service_version,
        Generation::V1,
        &encode_sealed(m),
    )
}

/// Validates and seals `m`, then writes the root copy into its **first**
/// cache root (if it has any) and the central copy into `registry`, each
/// atomically (MAN-1, MAN-2, MAN-3). Other roots get no copy: the first root
/// is the manifest's designated home; use [`write_root_manifest`] for more.
#[cfg(unix)]
pub fn write_manifest(
    m: &v1::CacheManifest,
    registry: &Path,
) -> Result<ManifestPaths, ManifestError> {
    validate_manifest(m)?;
    let bytes = encode_sealed(m);
    write_both(
        registry,
        &m.service_name,
        &m.service_version,
        m.roots.first().map(|r| r.path.as_str()),
        Generation::V1,
        &bytes,
    )
}

/// [`write_manifest`] for a v2 manifest: validated (no digest exists in v2),
/// root copy `.running-process-manifest.v2.pb` in the first root, central
/// copy `<service>-<version>.v2.pb` (§11).
#[cfg(unix)]
pub fn write_manifest_v2(
    m: &v2::CacheManifest,
    registry: &Path,
) -> Result<ManifestPaths, ManifestError> {
    validate_manifest_v2(m)?;
    write_both(
        registry,
        &m.service_name,
        &m.service_version,
        m.roots.first().map(|r| r.path.as_str()),
        Generation::V2,
        &m.encode_to_vec(),
    )
}

#[cfg(unix)]
fn write_both(
    registry: &Path,
    service: &str,
    version: &str,
    first_root: Option<&str>,
    generation: Generation,
    bytes: &[u8],
) -> Result<ManifestPaths, ManifestError> {
    let root = first_root
        .map(|root| write_root_copy(Path::new(root), generation, bytes))
        .transpose()?;
    let central = write_central_copy(registry, service, version, generation, bytes)?;
    Ok(ManifestPaths { central, root })
}

#[cfg(unix)]
fn write_root_copy(
    cache_root: &Path,
    generation: Generation,
    bytes: &[u8],
) -> Result<PathBuf, ManifestError> {
    super::files::create_private_dir(cache_root).map_err(|source| ManifestError::Io {
        path: cache_root.to_path_buf(),
        source,
    })?;
    let path = root_manifest_path(cache_root, generation);
    write_file(&path, bytes)?;
    Ok(path)
}

#[cfg(unix)]
fn write_central_copy(
    registry: &Path,
    service: &str,
    version: &str,
    generation: Generation,
    bytes: &[u8],
) -> Result<PathBuf, ManifestError> {
    use std::os::unix::fs::PermissionsExt;

    let io_error = |source| ManifestError::Io {
        path: registry.to_path_buf(),
        source,
    };
    super::files::create_private_dir(registry).map_err(io_error)?;
    let mode = std::fs::metadata(registry)
        .map_err(io_error)?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ManifestError::InsecureDirectory {
            path: registry.to_path_buf(),
            mode,
        });
    }
    let path = central_manifest_path(registry, service, version, generation);
    write_file(&path, bytes)?;
    Ok(path)
}

#[cfg(unix)]
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    super::atomic::write_atomic(path, bytes, MANIFEST_FILE_MODE).map_err(|source| {
        ManifestError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn registry_dir_follows_man_2_order() {
        let all = MapEnv::from_pairs([
            (env_vars::MANIFEST_DIR, "/env/m"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(manifest_registry_dir(&all), Some(PathBuf::from("/env/m")));
        let xdg = MapEnv::from_pairs([("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(
            manifest_registry_dir(&xdg),
            Some(PathBuf::from("/xdg/running-process/manifests"))
        );
        let home = MapEnv::from_pairs([("XDG_DATA_HOME", ""), ("HOME", "/home/u")]);
        assert_eq!(
            manifest_registry_dir(&home),
            Some(PathBuf::from(
                "/home/u/.local/share/running-process/manifests"
            ))
        );
        assert_eq!(manifest_registry_dir(&MapEnv::default()), None);
    }

    #[test]
    fn manifest_paths_carry_the_generation() {
        let root = Path::new("/c");
        assert_eq!(
            root_manifest_path(root, Generation::V1),
            Path::new("/c/.running-process-manifest.pb")
        );
        assert_eq!(
            root_manifest_path(root, Generation::V2),
            Path::new("/c/.running-process-manifest.v2.pb")
        );
        let reg = Path::new("/r");
        assert_eq!(
            central_manifest_path(reg, "zccache", "1.2.3", Generation::V1),
            Path::new("/r/zccache-1.2.3.pb")
        );
        assert_eq!(
            central_manifest_path(reg, "zccache", "1.2.3", Generation::V2),
            Path::new("/r/zccache-1.2.3.v2.pb")
        );
    }

    #[test]
    fn sealing_is_idempotent_and_verifiable() {
        let m = CacheManifestBuilder::new("zccache", "1.2.3")
            .root("/c", v1::CacheRootKind::CacheData)
            .created_at_unix_ms(5)
            .build()
            .unwrap();
        let bytes = m.encode_to_vec();
        assert_eq!(encode_sealed(&m), bytes);
        assert_eq!(read_verified_manifest(&bytes).unwrap(), m);
        assert_eq!(m.last_active_unix_ms, 5);
        assert_eq!(m.media_type, CACHE_MANIFEST_MEDIA_TYPE);
    }
}
