//! The service-definition loader a broker consults on every Hello (SVC-1,
//! SVC-2, SVC-3, SEC-3, V2-1, HEL-13, HEL-14), with a decode cache keyed by
//! file identity.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::content::{
    DefinitionContent, DefinitionFileError, MAX_DEFINITION_BYTES, check_definition_bytes,
    decode_definition,
};
use super::files::{DirProblem, Generation, check_definition_dir, service_def_file_name};
use crate::proto::{v1, v2};
use crate::sys::FileStamp;
use crate::wire::grammar::validate_service_name;

/// A cached file whose last change (ctime) was less than this long before
/// its bytes were read is "racy": its stamp alone is not trusted, and the
/// next load re-reads it and compares bytes (decoding only on a difference).
/// Two seconds covers the coarsest common file-system time stamps.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How a successful load relates to the previous successful load of the same
/// service by the same loader, for SERVICE_DEF_LOADED / SERVICE_DEF_CHANGED
/// events (EVT-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionChange {
    /// This loader never served the service before.
    FirstLoad,
    /// Same generation and same content as last time (a rewritten file with
    /// identical content is re-decoded but counts as unchanged).
    Unchanged,
    /// The generation or the content differs from last time.
    Changed,
}

/// A definition that passed every SVC-3 check.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDefinition {
    /// The definition; a v2 file is converted by copying fields 1-8 (§11).
    pub definition: v1::ServiceDefinition,
    /// Which file it came from.
    pub generation: Generation,
    /// The file path (in the definition directory; a symlink is not
    /// resolved).
    pub path: PathBuf,
    /// The v2 `http_server` capability (always `None` for v1 files).
    pub http_server: Option<v2::HttpServerCapability>,
    /// Whether it differs from the previous load.
    pub change: DefinitionChange,
}

/// Why no definition could be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// No definition: the directory or both files are missing, or the name
    /// is not a valid service name (HEL-13).
    #[error("service definition was not found: no {service:?} definition in {}", .dir.display())]
    NotFound {
        /// The requested service.
        service: String,
        /// The definition directory.
        dir: PathBuf,
    },
    /// A definition exists but cannot be used (HEL-14).
    #[error("service definition could not be loaded: {detail}")]
    Unloadable {
        /// The file (or the directory, for SEC-3 failures).
        path: PathBuf,
        /// What is wrong, starting with the path; fit to follow
        /// `service definition could not be loaded: `.
        detail: String,
    },
}

impl LoadError {
    /// The reason text of the refusal (HEL-13 / HEL-14): `service definition
    /// was not found` or `service definition could not be loaded: <detail>`.
    pub fn refusal_reason(&self) -> String {
        match self {
            Self::NotFound { .. } => "service definition was not found".to_owned(),
            Self::Unloadable { .. } => self.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct CachedFile {
    stamp: FileStamp,
    /// The bytes checked, to recognise a same-stamp rewrite while racy.
    bytes: Vec<u8>,
    /// The outcome of [`check_definition_bytes`] on them.
    content: Result<DefinitionContent, DefinitionFileError>,
    /// When the bytes were last read and known to match the stamp.
    verified_at: SystemTime,
}

impl CachedFile {
    /// True while the file's last change is too close to the moment its
    /// bytes were read for the stamp alone to prove a later change would
    /// show: time stamps are coarse, so a rewrite in the same tick may keep
    /// ctime (the "racy git" problem).
    fn is_racy(&self) -> bool {
        self.stamp
            .changed_at()
            .is_some_and(|changed| changed + RACY_WINDOW > self.verified_at)
    }
}

#[derive(Debug, Default)]
struct LoaderState {
    files: HashMap<PathBuf, CachedFile>,
    served: HashMap<String, (Generation, DefinitionContent)>,
    decodes: u64,
    disk_loads: u64,
    /// Whole answers, valid while the directory watch stays quiet.
    #[cfg(target_os = "linux")]
    memo: Memo,
}

/// Answers kept while an inotify watch shows the directory unchanged.
#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
struct Memo {
    watch: Option<super::watch::DirWatch>,
    /// When a watch was last tried (one a second at most).
    tried: Option<std::time::Instant>,
    answers: HashMap<String, Result<LoadedDefinition, LoadError>>,
}

#[cfg(target_os = "linux")]
impl Memo {
    /// Brings the memo up to date with the directory: drops every answer
    /// if anything changed, the watch too if it ended; (re)creates a
    /// missing watch. True when a watch is in place and answers may be used.
    fn refresh(&mut self, dir: &Path) -> bool {
        use super::watch::{DirState, DirWatch};
        match self.watch.as_ref().map(DirWatch::poll) {
            Some(DirState::Quiet) => return true,
            Some(DirState::Changed) => {
                self.answers.clear();
                return true;
            }
            Some(DirState::Lost) => {
                self.answers.clear();
                self.watch = None;
            }
            None => {}
        }
        let now = std::time::Instant::now();
        if self
            .tried
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return false;
        }
        self.tried = Some(now);
        self.watch = super::watch::DirWatch::new(dir).ok();
        self.watch.is_some()
    }
}

/// Loads definitions from one directory, re-reading on every call (SVC-2).
///
/// Each [`load`](Self::load) checks the directory (SEC-3, never cached),
/// then `<svc>.servicedef.v2`, falling back to `<svc>.servicedef` only when
/// the v2 file does not exist (V2-1), then the SVC-3 content checks.
///
/// Decodes are cached per file, keyed by (device, inode, size, mtime, ctime
/// with nanoseconds): an unchanged file is not decoded again, and any change
/// (a rename over, an in-place rewrite keeping size and mtime) is seen on
/// the next load. While a file's ctime is within [`RACY_WINDOW`] of when it
/// was read, an unchanged stamp is double-checked by comparing bytes, so
/// even a rewrite inside one time-stamp tick is seen. Safe to share across
/// threads.
#[derive(Debug)]
pub struct ServiceDefinitionLoader {
    dir: PathBuf,
    /// The files consulted, in order: v2 then v1 (V2-1), or v2 only (v2 V2H-5).
    generations: &'static [Generation],
    state: Mutex<LoaderState>,
}

enum Opened {
    Missing,
    File(File, Metadata),
}

impl ServiceDefinitionLoader {
    /// A loader for the definitions in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            generations: &[Generation::V2, Generation::V1],
            state: Mutex::new(LoaderState::default()),
        }
    }

    /// A loader that reads only `<service>.servicedef.v2` and never a v1
    /// file, as a v2 front door does (v2 spec V2H-5).
    pub fn v2_only(dir: PathBuf) -> Self {
        Self {
            generations: &[Generation::V2],
            ..Self::new(dir)
        }
    }

    /// The definition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many files this loader has decoded (cache misses), for tests and
    /// diagnostics.
    pub fn decode_count(&self) -> u64 {
        self.lock().decodes
    }

    /// How many loads looked at the files (the rest were answered while the
    /// directory watch showed nothing changed), for tests and diagnostics.
    pub fn disk_load_count(&self) -> u64 {
        self.lock().disk_loads
    }

    /// Loads the definition of `service`, checks in SVC-3 order, first
    /// failure wins: directory permissions (SEC-3, for v1 and v2 files),
    /// decode, `service_name`, `binary_path`, `per_version_binary_dir`,
    /// versions, isolation. A name outside `[a-z0-9-]{1,64}` is `NotFound`
    /// and never touches the file system. Because the directory is checked
    /// first, an insecure directory makes every name `Unloadable`, even one
    /// with no file (as upstream's v1 path does). A dangling symlink counts
    /// as a missing file.
    pub fn load(&self, service: &str) -> Result<LoadedDefinition, LoadError> {
        let not_found = || LoadError::NotFound {
            service: service.to_owned(),
            dir: self.dir.clone(),
        };
        if validate_service_name(service).is_err() {
            return Err(not_found());
        }
        #[cfg(target_os = "linux")]
        {
            let mut state = self.lock();
            if state.memo.refresh(&self.dir)
                && let Some(answer) = state.memo.answers.get(service)
            {
                return answer.clone().map(|loaded| LoadedDefinition {
                    change: DefinitionChange::Unchanged,
                    ..loaded
                });
            }
        }
        let answer = self.load_from_disk(service);
        #[cfg(target_os = "linux")]
        if self.is_memoizable(service) {
            let mut state = self.lock();
            if state.memo.watch.is_some() {
                state
                    .memo
                    .answers
                    .insert(service.to_owned(), answer.clone());
            }
        }
        answer
    }

    /// An answer may be kept only when every file it depends on is seen by
    /// the watch: each of the two names is absent or a regular file with one
    /// link (a symlink's target, or a hard link's other name, can change
    /// without an event in this directory).
    #[cfg(target_os = "linux")]
    fn is_memoizable(&self, service: &str) -> bool {
        self.generations.iter().all(|&generation| {
            let path = self.dir.join(service_def_file_name(service, generation));
            match std::fs::symlink_metadata(&path) {
                Err(e) => e.kind() == io::ErrorKind::NotFound,
                Ok(meta) => meta.is_file() && meta.nlink() == 1,
            }
        })
    }

    /// The answer from the files themselves.
    fn load_from_disk(&self, service: &str) -> Result<LoadedDefinition, LoadError> {
        self.lock().disk_loads += 1;
        let not_found = || LoadError::NotFound {
            service: service.to_owned(),
            dir: self.dir.clone(),
        };
        match check_definition_dir(&self.dir) {
            Ok(()) => {}
            Err(DirProblem::Missing { .. }) => return Err(not_found()),
            Err(problem) => {
                return Err(LoadError::Unloadable {
                    path: self.dir.clone(),
                    detail: problem.to_string(),
                });
            }
        }
        for &generation in self.generations {
            let path = self.dir.join(service_def_file_name(service, generation));
            match open_definition(&path) {
                Ok(Opened::Missing) => continue,
                Ok(Opened::File(file, meta)) => {
                    return self.load_opened(service, generation, path, file, &meta);
                }
                Err(detail) => return Err(LoadError::Unloadable { path, detail }),
            }
        }
        Err(not_found())
    }

    fn load_opened(
        &self,
        service: &str,
        generation: Generation,
        path: PathBuf,
        file: File,
        meta: &Metadata,
    ) -> Result<LoadedDefinition, LoadError> {
        let unloadable = |detail: String| LoadError::Unloadable {
            path: path.clone(),
            detail,
        };
        let content = self
            .checked(&path, service, generation, file, meta)
            .map_err(&unloadable)?
            .map_err(|e| unloadable(e.to_string()))?;
        let change = {
            let mut state = self.lock();
            let change = match state.served.get(service) {
                None => DefinitionChange::FirstLoad,
                Some((g, previous)) if *g == generation && *previous == content => {
                    DefinitionChange::Unchanged
                }
                Some(_) => DefinitionChange::Changed,
            };
            state
                .served
                .insert(service.to_owned(), (generation, content.clone()));
            change
        };
        Ok(LoadedDefinition {
            definition: content.definition,
            generation,
            path,
            http_server: content.http_server,
            change,
        })
    }

    /// The SVC-3 outcome of the open file ([`check_definition_bytes`]), from
    /// the cache when its stamp is unchanged (re-reading and comparing the
    /// bytes when the stamp is too recent to trust). The outer `Err` is an
    /// I/O problem.
    fn checked(
        &self,
        path: &Path,
        service: &str,
        generation: Generation,
        mut file: File,
        meta: &Metadata,
    ) -> Result<Result<DefinitionContent, DefinitionFileError>, String> {
        let stamp = FileStamp::of(meta);
        let previous = match self.lock().files.get(path) {
            Some(cached) if cached.stamp == stamp && !cached.is_racy() => {
                return Ok(cached.content.clone());
            }
            Some(cached) if cached.stamp == stamp => Some(cached.clone()),
            _ => None,
        };
        let read_at = SystemTime::now();
        let bytes = read_limited(&mut file, path)?;
        // Cache only when the file did not change while it was read, so the
        // stamp describes exactly these bytes.
        let stable = file
            .metadata()
            .is_ok_and(|after| FileStamp::of(&after) == stamp);
        let mut state = self.lock();
        let content = match previous {
            Some(previous) if previous.bytes == bytes => previous.content,
            _ => {
                state.decodes += 1;
                check_definition_bytes(path, service, generation, &bytes)
            }
        };
        if stable {
            state.files.insert(
                path.to_path_buf(),
                CachedFile {
                    stamp,
                    bytes,
                    content: content.clone(),
                    verified_at: read_at,
                },
            );
        } else {
            state.files.remove(path);
        }
        Ok(content)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LoaderState> {
        // The state is a cache that is consistent after every statement, so
        // a panic elsewhere while holding the lock leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads and decodes one definition file as the loader does, without its
/// cache and without the directory (SEC-3) and content checks: opened without
/// blocking, a regular file of at most [`MAX_DEFINITION_BYTES`], decoded as
/// `generation` (a v2 file is converted to its v1 view). A missing file is
/// `Ok(None)`; `Err` holds the detail a HEL-14 refusal would carry, starting
/// with the path.
pub fn read_definition_file(
    path: &Path,
    generation: Generation,
) -> Result<Option<v1::ServiceDefinition>, String> {
    let mut file = match open_definition(path)? {
        Opened::Missing => return Ok(None),
        Opened::File(file, _) => file,
    };
    let bytes = read_limited(&mut file, path)?;
    decode_definition(path, generation, &bytes)
        .map(|decoded| Some(decoded.definition))
        .map_err(|e| e.to_string())
}

/// Reads a whole definition file, at most one byte over the size limit (so
/// [`decode_definition`] can tell it is too large).
fn read_limited(file: &mut File, path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(MAX_DEFINITION_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: could not be read: {e}", path.display()))?;
    Ok(bytes)
}

/// Opens a definition file, following symlinks, without blocking (a FIFO
/// must not hang the Hello path). Only "does not exist" is `Missing`.
fn open_definition(path: &Path) -> Result<Opened, String> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
        Err(e) => return Err(format!("{}: could not be opened: {e}", path.display())),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: could not be examined: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: is not a regular file", path.display()));
    }
    if meta.len() > MAX_DEFINITION_BYTES {
        return Err(DefinitionFileError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
        }
        .to_string());
    }
    Ok(Opened::File(file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_loader_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ServiceDefinitionLoader>();
    }

    #[cfg(target_os = "linux")]
    mod memo {
        use super::*;
        use crate::definitions::{ServiceDefinitionBuilder, write_service_definition};
        use std::os::unix::fs::PermissionsExt;

        fn definition(dir: &Path, service: &str, min_version: &str) -> v1::ServiceDefinition {
            ServiceDefinitionBuilder::new(service)
                .binary_path(dir.join("bin"))
                .per_version_binary_dir(dir)
                .min_version(min_version)
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn setup() -> (tempfile::TempDir, PathBuf, ServiceDefinitionLoader) {
            let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let dir = root.path().join("defs");
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .unwrap_or_else(|e| panic!("{e}"));
            let loader = ServiceDefinitionLoader::new(dir.clone());
            (root, dir, loader)
        }

        fn min_version(loader: &ServiceDefinitionLoader, service: &str) -> Option<String> {
            loader.load(service).ok().map(|l| l.definition.min_version)
        }

        #[test]
        fn a_quiet_directory_answers_from_memory_and_any_change_is_seen_next() {
            let (_root, dir, loader) = setup();
            write_service_definition(&dir, &definition(&dir, "svc", "1.0.0"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "svc").as_deref(), Some("1.0.0"));
            let first = loader.load("svc").map(|l| l.change);
            assert_eq!(first, Ok(DefinitionChange::Unchanged));
            assert!(matches!(
                loader.load("nobody"),
                Err(LoadError::NotFound { .. })
            ));
            assert!(matches!(
                loader.load("nobody"),
                Err(LoadError::NotFound { .. })
            ));
            assert_eq!(loader.disk_load_count(), 2, "one look per name");
            // The same size, in place, at once: no time stamp would show it.
            let path = dir.join(service_def_file_name("svc", Generation::V1));
            std::fs::write(&path, definition(&dir, "svc", "2.0.0").encode_to_vec())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "svc").as_deref(), Some("2.0.0"));
            // A new file for a name answered "not found" before (SVC-1).
            write_service_definition(&dir, &definition(&dir, "nobody", "3.0.0"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "nobody").as_deref(), Some("3.0.0"));
            // The directory's own mode (SEC-3).
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(
                loader.load("svc"),
                Err(LoadError::Unloadable { .. })
            ));
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "svc").as_deref(), Some("2.0.0"));
        }

        #[test]
        fn answers_through_links_are_never_kept() {
            let (root, dir, loader) = setup();
            let elsewhere = root.path().join("elsewhere.servicedef");
            std::fs::write(&elsewhere, definition(&dir, "svc", "1.0.0").encode_to_vec())
                .unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink(
                &elsewhere,
                dir.join(service_def_file_name("svc", Generation::V1)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "svc").as_deref(), Some("1.0.0"));
            // The target changes with no event in the watched directory.
            std::fs::write(&elsewhere, definition(&dir, "svc", "4.0.0").encode_to_vec())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(min_version(&loader, "svc").as_deref(), Some("4.0.0"));
            assert_eq!(loader.disk_load_count(), 2);
        }
    }

    #[test]
    fn invalid_names_are_not_found_without_touching_the_disk() {
        let loader = ServiceDefinitionLoader::new(PathBuf::from("/nonexistent-dir"));
        for name in ["../etc/passwd", "", "Foo", "a/b"] {
            assert!(matches!(loader.load(name), Err(LoadError::NotFound { .. })));
        }
    }

    #[test]
    fn reading_one_file_decodes_it_or_names_the_problem() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("x.servicedef");
        assert_eq!(read_definition_file(&path, Generation::V1), Ok(None));
        let def = v1::ServiceDefinition {
            service_name: "x".into(),
            ..Default::default()
        };
        std::fs::write(&path, def.encode_to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_definition_file(&path, Generation::V1), Ok(Some(def)));
        std::fs::write(&path, [0xff, 0xff]).unwrap_or_else(|e| panic!("{e}"));
        let err = read_definition_file(&path, Generation::V1).unwrap_err();
        assert!(err.contains("not a valid v1 ServiceDefinition"), "{err}");
    }

    #[test]
    fn refusal_reasons_match_hel_13_and_hel_14() {
        let not_found = LoadError::NotFound {
            service: "x".into(),
            dir: PathBuf::from("/d"),
        };
        assert_eq!(
            not_found.refusal_reason(),
            "service definition was not found"
        );
        let unloadable = LoadError::Unloadable {
            path: PathBuf::from("/d/x.servicedef"),
            detail: "/d/x.servicedef: boom".into(),
        };
        assert_eq!(
            unloadable.refusal_reason(),
            "service definition could not be loaded: /d/x.servicedef: boom"
        );
    }
}
