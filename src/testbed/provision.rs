//! Provisioning what cases need: a `fake-backend` installation per service
//! (its own per-version directory, so records and rebuilds stay apart) and
//! the service definitions of `conformance/services.toml`, broken ones
//! included.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::services::ServiceSpec;
use crate::fake_backend::{Behavior, Record, read_records, records_dir_for};
use crate::inspect::parse_hex;
use crate::proto::{v1, v2};

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// A service entry is unusable.
    #[error("service {service}: {problem}")]
    Spec {
        /// The service.
        service: String,
        /// What is wrong.
        problem: String,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ProvisionError {
    let path = path.to_path_buf();
    move |source| ProvisionError::Io { what, path, source }
}

/// Creates `dir` (and parents) with mode 0700.
pub fn private_dir(dir: &Path) -> Result<(), ProvisionError> {
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err("chmod", dir))
}

/// Installs fake backends and writes definitions under one root.
#[derive(Debug, Clone)]
pub struct Provisioner {
    root: PathBuf,
    source: PathBuf,
    definitions: PathBuf,
}

impl Provisioner {
    /// `root` holds installations; `source` is the `fake-backend`
    /// executable to install; `definitions` is the broker's definition directory.
    pub fn new(root: &Path, source: &Path, definitions: &Path) -> Result<Self, ProvisionError> {
        if !source.is_file() {
            return Err(ProvisionError::Io {
                what: "finding the fake-backend executable",
                path: source.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    "build `broker-conformance` (it is the fake backend when so named) or pass --fake-backend",
                ),
            });
        }
        private_dir(root)?;
        private_dir(definitions)?;
        Ok(Self {
            root: root.to_path_buf(),
            source: source.to_path_buf(),
            definitions: definitions.to_path_buf(),
        })
    }

    /// The definition directory.
    pub fn definitions(&self) -> &Path {
        &self.definitions
    }

    /// The per-version directory of `service`'s installation.
    pub fn install_dir(&self, service: &str) -> PathBuf {
        self.root.join("bin").join(service)
    }

    /// The installed executable of `service`.
    pub fn binary(&self, service: &str) -> PathBuf {
        self.install_dir(service).join("fake-backend")
    }

    /// Installs the fake backend for `service` (idempotent).
    pub fn install(&self, service: &str) -> Result<PathBuf, ProvisionError> {
        let dir = self.install_dir(service);
        let binary = self.binary(service);
        if binary.is_file() {
            return Ok(binary);
        }
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        if fs::hard_link(&self.source, &binary).is_err() {
            fs::copy(&self.source, &binary)
                .map_err(io_err("copying the fake backend to", &binary))?;
        }
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", &binary))?;
        Ok(binary)
    }

    /// Replaces `service`'s executable with a rebuilt one: the same program
    /// with different bytes, at the same path but a new inode (REG-1).
    pub fn rebuild(&self, service: &str) -> Result<(), ProvisionError> {
        let binary = self.install(service)?;
        let mut bytes = fs::read(&self.source).map_err(io_err("reading", &self.source))?;
        let generation = fs::read(&binary).map(|b| b.len()).unwrap_or(0);
        bytes.extend_from_slice(format!("\nrebuilt {generation}\n").as_bytes());
        let staged = binary.with_extension("rebuilt");
        fs::write(&staged, &bytes).map_err(io_err("writing", &staged))?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", &staged))?;
        fs::rename(&staged, &binary).map_err(io_err("renaming over", &binary))
    }

    /// Writes the definition files of one service entry.
    pub fn write(&self, spec: &ServiceSpec) -> Result<Vec<PathBuf>, ProvisionError> {
        let bad = |problem: String| ProvisionError::Spec {
            service: spec.service.clone(),
            problem,
        };
        if let Some(behavior) = &spec.behavior {
            behavior
                .parse::<Behavior>()
                .map_err(|e| bad(e.to_string()))?;
        }
        let binary = self.install(&spec.service)?;
        let dir = self.install_dir(&spec.service);
        let (binary_path, version_dir) = match spec.binary.as_deref().unwrap_or("installed") {
            "installed" => (binary.display().to_string(), dir.display().to_string()),
            "relative" => ("bin/fake-backend".to_owned(), dir.display().to_string()),
            "empty" => (String::new(), dir.display().to_string()),
            "relative-dir" => (binary.display().to_string(), "bin".to_owned()),
            // Inside the directory, absolute, and never created (LCH-1).
            "missing" => (
                dir.join("missing-backend").display().to_string(),
                dir.display().to_string(),
            ),
            "outside" => {
                let outside = self.root.join("outside");
                private_dir(&outside)?;
                (binary.display().to_string(), outside.display().to_string())
            }
            other => {
                return Err(bad(format!(
                    "binary = {other:?}: use installed, relative, empty, relative-dir, missing or outside"
                )));
            }
        };
        let isolation = match spec.isolation.as_deref().unwrap_or("private") {
            "private" => v1::BrokerIsolation::PrivateBroker,
            "shared" => v1::BrokerIsolation::SharedBroker,
            "explicit" => v1::BrokerIsolation::ExplicitInstance,
            other => {
                return Err(bad(format!(
                    "isolation = {other:?}: use private, shared or explicit"
                )));
            }
        };
        let definition = v1::ServiceDefinition {
            service_name: spec
                .name_in_file
                .clone()
                .unwrap_or_else(|| spec.service.clone()),
            binary_path,
            isolation: isolation as i32,
            explicit_instance: spec.explicit_instance.clone().unwrap_or_default(),
            per_version_binary_dir: version_dir,
            min_version: spec.min_version.clone().unwrap_or_default(),
            version_allow_list: spec.allow.clone(),
            labels: spec.labels.clone(),
        };
        let files = spec.files.clone().unwrap_or_else(|| vec!["v1".into()]);
        if spec.http_server && !files.iter().any(|f| f == "v2") {
            return Err(bad("http_server = true needs files = [\"v2\"]".into()));
        }
        let mut written = Vec::new();
        for generation in files {
            let (name, bytes) = match generation.as_str() {
                "v1" => (
                    format!("{}.servicedef", spec.service),
                    definition.encode_to_vec(),
                ),
                "v2" => {
                    let v2 = v2::ServiceDefinition {
                        service_name: definition.service_name.clone(),
                        binary_path: definition.binary_path.clone(),
                        isolation: definition.isolation,
                        explicit_instance: definition.explicit_instance.clone(),
                        per_version_binary_dir: definition.per_version_binary_dir.clone(),
                        min_version: definition.min_version.clone(),
                        version_allow_list: definition.version_allow_list.clone(),
                        labels: definition.labels.clone(),
                        http_server: spec.http_server.then(v2::HttpServerCapability::default),
                    };
                    (
                        format!("{}.servicedef.v2", spec.service),
                        v2.encode_to_vec(),
                    )
                }
                other => return Err(bad(format!("files: {other:?} is not v1 or v2"))),
            };
            let bytes = match &spec.raw_hex {
                Some(hex) => parse_hex(hex).map_err(|e| bad(format!("raw_hex: {e}")))?,
                None => bytes,
            };
            let path = self.definitions.join(name);
            let staged = path.with_extension("staged");
            fs::write(&staged, &bytes).map_err(io_err("writing", &staged))?;
            fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))
                .map_err(io_err("chmod", &staged))?;
            fs::rename(&staged, &path).map_err(io_err("renaming over", &path))?;
            written.push(path);
        }
        Ok(written)
    }

    /// Writes every entry.
    pub fn write_all(&self, services: &[ServiceSpec]) -> Result<(), ProvisionError> {
        services.iter().try_for_each(|s| self.write(s).map(drop))
    }

    /// What `service`'s backends recorded, by pid.
    pub fn records(&self, service: &str) -> Vec<(u32, Vec<Record>)> {
        read_records(&records_dir_for(&self.binary(service))).unwrap_or_default()
    }

    /// Every backend process started from any installation, with its records.
    pub fn all_records(&self) -> Vec<(u32, Vec<Record>)> {
        let Ok(entries) = fs::read_dir(self.root.join("bin")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .flat_map(|e| read_records(&e.path().join("fake-backend-records")).unwrap_or_default())
            .collect()
    }

    /// Kills every fake backend still running from these installations
    /// (checked against `/proc/<pid>/exe`, so a reused pid is never hit).
    pub fn kill_all_backends(&self) -> usize {
        let root =
            fs::canonicalize(self.root.join("bin")).unwrap_or_else(|_| self.root.join("bin"));
        let mut killed = 0;
        for (pid, _) in self.all_records() {
            // A rebuilt installation's old backends run a deleted file: still ours.
            let ours =
                crate::sys::process_exe_as_started(pid).is_ok_and(|exe| exe.starts_with(&root));
            if ours && crate::sys::kill(pid).is_ok() {
                killed += 1;
            }
        }
        killed
    }
}
