//! Judging: pure functions from [`Facts`] to [`Finding`]s. Nothing here
//! touches the machine, so every verdict is testable with made-up facts.

use std::collections::BTreeSet;
use std::path::Path;

use super::facts::{
    BinaryFacts, DefinitionDirFacts, DefinitionFileFacts, Entry, EntryKind, EntryStat, EnvVarFacts,
    EventLogFacts, EventLogUnread, Facts, FdFacts, FilesystemFacts, ManifestRegistryFacts,
    SocketFacts, SocketSource,
};
use super::{Check, Finding, Severity};
use crate::definitions::{
    DirProblem, DirSource, Generation, Isolation, definition_problems, instance_id,
    service_def_file_name,
};
use crate::events::LogVerdict;
use crate::inspect::hex::to_hex;
use crate::paths::check_socket_path_len;
use crate::policy::{SocketDirProblem, SocketDirStat, SocketPathState, socket_dir_problems};
use crate::wire::env_vars;

/// Descriptors 10 000 idle connections need, with room for the broker's own
/// files, backends' sockets and the listen socket.
pub const FDS_FOR_10K_CONNECTIONS: u64 = 10_240;

/// Below this share of free inodes or blocks, the file system gets a warning.
pub const LOW_FREE_PERCENT: u64 = 5;

/// How many hex digits of a BLAKE3 hash are shown.
const HASH_PREFIX_DIGITS: usize = 16;

/// Every finding about `facts`, area by area.
pub fn judge(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    judge_socket(&facts.socket, facts.euid, &mut out);
    judge_privilege(facts.euid, facts.allow_privileged.as_deref(), &mut out);
    judge_definitions(&facts.definitions, &mut out);
    for var in &facts.env {
        out.push(judge_env_var(var));
    }
    judge_manifest_registry(facts.manifest_registry.as_ref(), facts.euid, &mut out);
    judge_fds(&facts.fds, &mut out);
    judge_filesystem(&facts.filesystem, &mut out);
    if let Some(log) = &facts.event_log {
        out.push(judge_event_log(log));
    }
    out
}

fn finding(
    check: Check,
    severity: Severity,
    subject: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        check,
        severity,
        subject: subject.into(),
        message: message.into(),
        hint: None,
    }
}

impl Finding {
    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Quotes a path for a shell command when it needs it.
fn sh(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

// ------------------------------------------------------------------ socket

fn judge_socket(socket: &SocketFacts, euid: u32, out: &mut Vec<Finding>) {
    match &socket.path {
        Ok(path) => {
            let origin = match socket.source {
                SocketSource::Flag => "--socket",
                SocketSource::Default => "default, spec §13",
            };
            out.push(match check_socket_path_len(path) {
                Ok(()) => finding(
                    Check::SocketPath,
                    Severity::Ok,
                    shown(path),
                    format!("{} ({origin})", path.display()),
                ),
                Err(e) => finding(Check::SocketPath, Severity::Error, shown(path), e.to_string())
                    .with_hint("use a shorter directory, e.g. set XDG_RUNTIME_DIR=/run/user/$(id -u) or pass a short --socket"),
            });
        }
        Err(why) => out.push(
            finding(
                Check::SocketPath,
                Severity::Error,
                shown(&socket.dir),
                format!("{why}; a broker needs --socket"),
            )
            .with_hint("create /etc/machine-id (systemd-machine-id-setup) or pass --socket PATH"),
        ),
    }
    judge_socket_dir(&socket.dir, &socket.dir_entry, euid, out);
    if let (Ok(path), Some(state)) = (&socket.path, &socket.state) {
        judge_socket_file(path, socket.source, &socket.entry, state, out);
    }
}

fn judge_socket_dir(dir: &Path, entry: &Entry, euid: u32, out: &mut Vec<Finding>) {
    let subject = shown(dir);
    let stat = match entry {
        Entry::Missing => {
            out.push(
                finding(
                    Check::SocketDirExists,
                    Severity::Warning,
                    &subject,
                    format!(
                        "{subject} does not exist; a broker creates it with mode 0700 when it starts (SEC-2)"
                    ),
                )
                .with_hint(format!(
                    "nothing to do before starting a broker; to create it now: mkdir -p {0} && chmod 700 {0}",
                    sh(dir)
                )),
            );
            return;
        }
        Entry::Unreadable(e) => {
            out.push(finding(
                Check::SocketDirExists,
                Severity::Error,
                &subject,
                format!("{subject} cannot be examined: {e}"),
            ));
            return;
        }
        Entry::Present(stat) => stat,
    };
    out.push(finding(
        Check::SocketDirExists,
        Severity::Ok,
        &subject,
        format!("{subject} exists"),
    ));
    let problems = socket_dir_problems(&socket_dir_stat(stat), euid);
    let kind_problem = problems.iter().find(|p| {
        matches!(
            p,
            SocketDirProblem::Symlink | SocketDirProblem::NotADirectory
        )
    });
    if let Some(problem) = kind_problem {
        let hint = if *problem == SocketDirProblem::Symlink {
            format!(
                "replace the link with a real directory: rm {0} && mkdir -m 700 {0}",
                sh(dir)
            )
        } else {
            format!(
                "move it away (mv {0} {0}.bak); a broker then creates the directory",
                sh(dir)
            )
        };
        out.push(
            finding(
                Check::SocketDirType,
                Severity::Error,
                &subject,
                format!("{subject} {problem}; a broker refuses it (SEC-2)"),
            )
            .with_hint(hint),
        );
        return;
    }
    out.push(finding(
        Check::SocketDirType,
        Severity::Ok,
        &subject,
        format!("{subject} is a real directory"),
    ));
    let owner = problems
        .iter()
        .find(|p| matches!(p, SocketDirProblem::WrongOwner { .. }));
    out.push(match owner {
        Some(problem) => finding(
            Check::SocketDirOwner,
            Severity::Error,
            &subject,
            format!("{subject} {problem}; a broker refuses it (SEC-2)"),
        )
        .with_hint(format!(
            "chown {euid} {} (as its owner or root), or use a directory of your own",
            sh(dir)
        )),
        None => finding(
            Check::SocketDirOwner,
            Severity::Ok,
            &subject,
            format!("{subject} is owned by uid {euid}"),
        ),
    });
    out.push(if stat.mode == 0o700 {
        finding(
            Check::SocketDirMode,
            Severity::Ok,
            &subject,
            format!("{subject} has mode 0700"),
        )
    } else {
        finding(
            Check::SocketDirMode,
            Severity::Error,
            &subject,
            format!(
                "{subject} has mode {:04o}; SEC-2 needs exactly 0700, a broker refuses it",
                stat.mode
            ),
        )
        .with_hint(format!("chmod 700 {}", sh(dir)))
    });
}

fn socket_dir_stat(stat: &EntryStat) -> SocketDirStat {
    SocketDirStat {
        is_symlink: stat.kind == EntryKind::Symlink,
        is_dir: stat.kind == EntryKind::Directory,
        uid: stat.uid,
        mode: stat.mode,
    }
}

fn judge_socket_file(
    path: &Path,
    source: SocketSource,
    entry: &Entry,
    state: &Result<SocketPathState, String>,
    out: &mut Vec<Finding>,
) {
    let subject = shown(path);
    let state = match state {
        Ok(state) => *state,
        Err(e) => {
            out.push(finding(
                Check::SocketState,
                Severity::Warning,
                &subject,
                format!("could not tell whether a broker listens on {subject}: {e}"),
            ));
            return;
        }
    };
    out.push(match state {
        SocketPathState::Absent => finding(
            Check::SocketState,
            Severity::Info,
            &subject,
            format!("no socket at {subject}: no broker is listening there"),
        )
        .with_hint(match source {
            SocketSource::Flag => {
                format!("start one: broker-conformance serve --socket {}", sh(path))
            }
            SocketSource::Default => "start one: broker-conformance serve".to_owned(),
        }),
        SocketPathState::Live => finding(
            Check::SocketState,
            Severity::Info,
            &subject,
            format!("a broker is listening on {subject}"),
        ),
        SocketPathState::Stale => finding(
            Check::SocketState,
            Severity::Warning,
            &subject,
            format!(
                "{subject} is a stale socket: nothing accepts on it (SEC-6); the reference broker \
                 replaces it when it starts, upstream refuses any existing file"
            ),
        )
        .with_hint(format!("rm {}", sh(path))),
        SocketPathState::NotASocket => {
            let kind = match entry {
                Entry::Present(stat) => stat.kind.describe(),
                Entry::Missing | Entry::Unreadable(_) => "something",
            };
            finding(
                Check::SocketState,
                Severity::Error,
                &subject,
                format!("{subject} is {kind}, not a socket; a broker refuses to replace it"),
            )
            .with_hint(format!(
                "move it away if nothing needs it: mv {0} {0}.bak",
                sh(path)
            ))
        }
    });
    if let (SocketPathState::Live, Entry::Present(stat)) = (state, entry)
        && stat.mode & 0o077 != 0
    {
        out.push(
            finding(
                Check::SocketMode,
                Severity::Warning,
                &subject,
                format!(
                    "{subject} has mode {:04o}; SEC-2 says 0600 (the directory's 0700 still keeps others out)",
                    stat.mode
                ),
            )
            .with_hint(format!("chmod 600 {}", sh(path))),
        );
    }
}

// --------------------------------------------------------------- privilege

fn judge_privilege(euid: u32, allow: Option<&str>, out: &mut Vec<Finding>) {
    let var = env_vars::ALLOW_PRIVILEGED;
    let subject = format!("euid {euid}");
    out.push(match (euid, allow) {
        (_, Some(other)) if other != "0" && other != "1" => finding(
            Check::PrivilegeRoot,
            Severity::Error,
            var,
            format!("{var}={other:?} must be 1 or 0; a broker refuses this configuration"),
        )
        .with_hint(format!("export {var}=1 to allow root, or unset {var}")),
        (0, Some("1")) => finding(
            Check::PrivilegeRoot,
            Severity::Info,
            subject,
            format!(
                "running as root, allowed by {var}=1 (SEC-4); backends a broker launches run as root too"
            ),
        ),
        (0, _) => finding(
            Check::PrivilegeRoot,
            Severity::Warning,
            subject,
            "running as root: a broker started like this refuses to run (SEC-4)",
        )
        .with_hint(format!(
            "run the broker as a normal user, or export {var}=1 to allow root"
        )),
        (_, Some("1")) => finding(
            Check::PrivilegeRoot,
            Severity::Info,
            subject,
            format!("not root (euid {euid}); {var}=1 has no effect"),
        ),
        _ => finding(
            Check::PrivilegeRoot,
            Severity::Ok,
            subject,
            format!("not root (euid {euid})"),
        ),
    });
}

// ------------------------------------------------------------- definitions

fn judge_definitions(facts: &DefinitionDirFacts, out: &mut Vec<Finding>) {
    let DefinitionDirFacts::Resolved {
        dir,
        source,
        check,
        files,
    } = facts
    else {
        out.push(
            finding(
                Check::DefinitionDirLocation,
                Severity::Error,
                "service definition directory",
                format!(
                    "no service definition directory: none of --service-def-dir, {}, \
                     XDG_CONFIG_HOME or HOME is set (SVC-1); a broker refuses to start",
                    env_vars::SERVICE_DEF_DIR
                ),
            )
            .with_hint(format!(
                "pass --service-def-dir DIR or export {}=DIR",
                env_vars::SERVICE_DEF_DIR
            )),
        );
        return;
    };
    let subject = shown(dir);
    out.push(finding(
        Check::DefinitionDirLocation,
        Severity::Info,
        &subject,
        format!(
            "{subject} (from {}, SVC-1)",
            match source {
                DirSource::Flag => "--service-def-dir".to_owned(),
                DirSource::Variable(_) => source.to_string(),
            }
        ),
    ));
    match check {
        Ok(()) => {
            out.push(finding(
                Check::DefinitionDirExists,
                Severity::Ok,
                &subject,
                format!("{subject} exists"),
            ));
            out.push(finding(
                Check::DefinitionDirMode,
                Severity::Ok,
                &subject,
                format!("{subject} grants no group or other permission (SEC-3)"),
            ));
        }
        Err(DirProblem::Missing { .. }) => {
            out.push(
                finding(
                    Check::DefinitionDirExists,
                    Severity::Warning,
                    &subject,
                    format!(
                        "{subject} does not exist: every Hello is refused with \
                         \"service definition was not found\" (HEL-13)"
                    ),
                )
                .with_hint(format!(
                    "install a definition: broker-conformance servicedef install --service-def-dir {} \
                     --service NAME --binary-path BIN --per-version-binary-dir DIR",
                    sh(dir)
                )),
            );
            return;
        }
        Err(problem @ DirProblem::Insecure { .. }) => {
            out.push(finding(
                Check::DefinitionDirExists,
                Severity::Ok,
                &subject,
                format!("{subject} exists"),
            ));
            out.push(
                finding(
                    Check::DefinitionDirMode,
                    Severity::Error,
                    &subject,
                    format!("{problem}; every Hello is refused (HEL-14)"),
                )
                .with_hint(format!("chmod 700 {}", sh(dir))),
            );
        }
        Err(problem @ DirProblem::NotADirectory { .. }) => {
            out.push(
                finding(
                    Check::DefinitionDirExists,
                    Severity::Error,
                    &subject,
                    problem.to_string(),
                )
                .with_hint(format!(
                    "move it away (mv {0} {0}.bak) and create the directory: mkdir -m 700 {0}",
                    sh(dir)
                )),
            );
            return;
        }
        Err(problem @ DirProblem::Unreadable { .. }) => {
            out.push(finding(
                Check::DefinitionDirExists,
                Severity::Error,
                &subject,
                problem.to_string(),
            ));
            return;
        }
    }
    match files {
        Err(e) => out.push(finding(
            Check::DefinitionDirListing,
            Severity::Error,
            &subject,
            format!("{subject} cannot be listed: {e}"),
        )),
        Ok(files) if files.is_empty() => out.push(
            finding(
                Check::DefinitionDirListing,
                Severity::Info,
                &subject,
                format!("{subject} holds no *.servicedef or *.servicedef.v2 file"),
            )
            .with_hint(format!(
                "install one: broker-conformance servicedef install --service-def-dir {} \
                 --service NAME --binary-path BIN --per-version-binary-dir DIR",
                sh(dir)
            )),
        ),
        Ok(files) => {
            out.push(finding(
                Check::DefinitionDirListing,
                Severity::Info,
                &subject,
                format!("{subject} holds {} definition file(s)", files.len()),
            ));
            // Only a v2 file that exists hides its v1 file: a dangling
            // symlink counts as missing (SVC-2).
            let v2_services: BTreeSet<&str> = files
                .iter()
                .filter(|f| f.generation == Generation::V2 && !matches!(f.content, Ok(None)))
                .map(|f| f.service.as_str())
                .collect();
            for file in files {
                let shadowed = file.generation == Generation::V1
                    && v2_services.contains(file.service.as_str());
                judge_definition_file(file, shadowed, out);
            }
        }
    }
}

/// The findings about one definition file. The problems of a v1 file that a
/// v2 file shadows are warnings, not errors: no broker reads it (SVC-2).
fn judge_definition_file(file: &DefinitionFileFacts, shadowed: bool, out: &mut Vec<Finding>) {
    let subject = shown(&file.path);
    let failure = if shadowed {
        Severity::Warning
    } else {
        Severity::Error
    };
    let show_hint = format!(
        "check it with: broker-conformance servicedef show {}",
        sh(&file.path)
    );
    if shadowed {
        let v2 = file
            .path
            .with_file_name(service_def_file_name(&file.service, Generation::V2));
        out.push(
            finding(
                Check::DefinitionShadowed,
                Severity::Info,
                &subject,
                format!(
                    "{subject} is shadowed: a broker reads {} first and never this file (SVC-2, V2-1)",
                    v2.display()
                ),
            )
            .with_hint(format!("remove it if it is no longer needed: rm {}", sh(&file.path))),
        );
    }
    let def = match &file.content {
        Ok(Some(def)) => def,
        Ok(None) => {
            out.push(
                finding(
                    Check::DefinitionLoad,
                    Severity::Warning,
                    &subject,
                    format!(
                        "{subject} cannot be opened (a dangling symlink?); a broker treats it as missing"
                    ),
                )
                .with_hint(format!("remove it or fix its target: ls -l {}", sh(&file.path))),
            );
            return;
        }
        Err(detail) => {
            out.push(
                finding(
                    Check::DefinitionLoad,
                    failure,
                    &subject,
                    format!(
                        "{detail}; a Hello for {:?} is refused (HEL-14)",
                        file.service
                    ),
                )
                .with_hint(show_hint),
            );
            return;
        }
    };
    let problems = definition_problems(def, &file.service);
    if problems.is_empty() {
        let isolation = Isolation::of(def).map_or_else(|_| "?".to_owned(), |i| i.to_string());
        out.push(finding(
            Check::DefinitionLoad,
            Severity::Ok,
            &subject,
            format!(
                "{subject} loads ({}, service {:?}, isolation {isolation}, instance {})",
                file.generation,
                def.service_name,
                instance_id(def)
            ),
        ));
    }
    for problem in &problems {
        out.push(
            finding(
                Check::DefinitionLoad,
                failure,
                &subject,
                format!("{subject}: {problem}"),
            )
            .with_hint(show_hint.clone()),
        );
    }
    if let Some(binary) = &file.binary {
        judge_binary(&subject, def, binary, failure, out);
    }
}

fn judge_binary(
    subject: &str,
    def: &crate::proto::v1::ServiceDefinition,
    binary: &BinaryFacts,
    failure: Severity,
    out: &mut Vec<Finding>,
) {
    let path = Path::new(&def.binary_path);
    let bin = sh(path);
    let missing = matches!(binary.entry, Entry::Missing);
    out.push(match &binary.entry {
        Entry::Missing => finding(
            Check::DefinitionBinary,
            failure,
            subject,
            format!("{subject}: binary {bin} does not exist; every launch fails (LCH-1)"),
        )
        .with_hint(format!("install the backend at {bin}, or fix binary_path")),
        Entry::Unreadable(e) => finding(
            Check::DefinitionBinary,
            failure,
            subject,
            format!("{subject}: binary {bin} cannot be examined: {e}"),
        ),
        Entry::Present(stat) if stat.kind != EntryKind::RegularFile => finding(
            Check::DefinitionBinary,
            failure,
            subject,
            format!(
                "{subject}: binary {bin} is {}, not a regular file",
                stat.kind.describe()
            ),
        )
        .with_hint("point binary_path at the backend executable"),
        Entry::Present(stat) if stat.mode & 0o111 == 0 => finding(
            Check::DefinitionBinary,
            failure,
            subject,
            format!(
                "{subject}: binary {bin} is not executable (mode {:04o})",
                stat.mode
            ),
        )
        .with_hint(format!("chmod +x {bin}")),
        Entry::Present(stat) => finding(
            Check::DefinitionBinary,
            Severity::Ok,
            subject,
            format!(
                "{subject}: binary {bin} is an executable file (mode {:04o})",
                stat.mode
            ),
        ),
    });
    // A missing binary already explains why canonicalization fails; only an
    // unset directory is worth a second line then.
    if !missing || def.per_version_binary_dir.is_empty() {
        out.push(match &binary.resolved {
            Ok(canonical) => finding(
                Check::DefinitionContainment,
                Severity::Ok,
                subject,
                format!(
                    "{subject}: binary {} lies inside per_version_binary_dir {} (LCH-1)",
                    canonical.display(),
                    def.per_version_binary_dir
                ),
            ),
            Err(why) => {
                let hint = if def.per_version_binary_dir.is_empty() {
                    "set per_version_binary_dir to the directory holding the binary \
                     (servicedef install --per-version-binary-dir DIR)"
                        .to_owned()
                } else {
                    format!(
                        "move the binary into {} or set per_version_binary_dir to a directory \
                         that holds it",
                        def.per_version_binary_dir
                    )
                };
                finding(
                    Check::DefinitionContainment,
                    failure,
                    subject,
                    format!("{subject}: {why}; a launch fails with BACKEND_SPAWN_FAILED"),
                )
                .with_hint(hint)
            }
        });
    }
    if let Some(hash) = &binary.blake3 {
        out.push(match hash {
            Ok(hash) => finding(
                Check::DefinitionHash,
                Severity::Info,
                subject,
                format!(
                    "{subject}: BLAKE3 of {bin} starts {}… (part of the registry key: a rebuilt \
                     binary gets a new backend, REG-1)",
                    &to_hex(hash)[..HASH_PREFIX_DIGITS]
                ),
            ),
            Err(e) => finding(
                Check::DefinitionHash,
                failure,
                subject,
                format!("{subject}: binary {bin} cannot be read to hash it: {e}"),
            ),
        });
    }
}

// ------------------------------------------------------------------ paths

fn judge_env_var(var: &EnvVarFacts) -> Finding {
    let name = var.name;
    let Some(value) = &var.value else {
        let consequence = match name {
            "XDG_RUNTIME_DIR" => {
                "; the socket directory falls back to /tmp/running-process-<uid>/broker (§13)"
            }
            "XDG_CONFIG_HOME" => "; definitions default under $HOME/.config (SVC-1)",
            "XDG_DATA_HOME" => "; manifests default under $HOME/.local/share (MAN-2)",
            "HOME" => "; the HOME-based defaults of SVC-1 and MAN-2 are unavailable",
            _ => "",
        };
        return finding(
            Check::EnvVariable,
            Severity::Info,
            name,
            format!("{name} is unset{consequence}"),
        );
    };
    if !Path::new(value).is_absolute() {
        return finding(
            Check::EnvVariable,
            Severity::Warning,
            name,
            format!("{name}={value} is not an absolute path; paths under it depend on the working directory"),
        )
        .with_hint(format!("export {name}=/an/absolute/path"));
    }
    match &var.entry {
        Some(Entry::Present(EntryStat {
            kind: EntryKind::Directory,
            ..
        })) => finding(
            Check::EnvVariable,
            Severity::Info,
            name,
            format!("{name}={value}"),
        ),
        Some(Entry::Present(stat)) => finding(
            Check::EnvVariable,
            Severity::Warning,
            name,
            format!(
                "{name}={value} is {}, not a directory",
                stat.kind.describe()
            ),
        ),
        Some(Entry::Unreadable(e)) => finding(
            Check::EnvVariable,
            Severity::Warning,
            name,
            format!("{name}={value} cannot be examined: {e}"),
        ),
        Some(Entry::Missing) | None => finding(
            Check::EnvVariable,
            Severity::Info,
            name,
            format!("{name}={value} (does not exist yet)"),
        ),
    }
}

fn judge_manifest_registry(
    registry: Option<&ManifestRegistryFacts>,
    euid: u32,
    out: &mut Vec<Finding>,
) {
    let Some(registry) = registry else {
        out.push(
            finding(
                Check::ManifestRegistryLocation,
                Severity::Warning,
                "manifest registry",
                format!(
                    "no manifest registry: none of {}, XDG_DATA_HOME or HOME is set (MAN-2); \
                     central manifests cannot be written",
                    env_vars::MANIFEST_DIR
                ),
            )
            .with_hint(format!("export {}=DIR", env_vars::MANIFEST_DIR)),
        );
        return;
    };
    let dir = &registry.dir;
    let subject = shown(dir);
    out.push(finding(
        Check::ManifestRegistryLocation,
        Severity::Info,
        &subject,
        format!("{subject} (from {}, MAN-2)", registry.source),
    ));
    let stat = match &registry.entry {
        Entry::Missing => {
            out.push(finding(
                Check::ManifestRegistryExists,
                Severity::Info,
                &subject,
                format!("{subject} does not exist yet; writers create it with mode 0700 (MAN-2)"),
            ));
            return;
        }
        Entry::Unreadable(e) => {
            out.push(finding(
                Check::ManifestRegistryExists,
                Severity::Error,
                &subject,
                format!("{subject} cannot be examined: {e}"),
            ));
            return;
        }
        Entry::Present(stat) if stat.kind != EntryKind::Directory => {
            out.push(
                finding(
                    Check::ManifestRegistryExists,
                    Severity::Error,
                    &subject,
                    format!(
                        "{subject} is {}, not a directory; manifests cannot be written",
                        stat.kind.describe()
                    ),
                )
                .with_hint(format!("move it away: mv {0} {0}.bak", sh(dir))),
            );
            return;
        }
        Entry::Present(stat) => stat,
    };
    out.push(finding(
        Check::ManifestRegistryExists,
        Severity::Ok,
        &subject,
        format!("{subject} exists"),
    ));
    out.push(if stat.uid != euid {
        finding(
            Check::ManifestRegistryMode,
            Severity::Warning,
            &subject,
            format!("{subject} is owned by uid {}, not uid {euid}", stat.uid),
        )
        .with_hint(format!("chown {euid} {}", sh(dir)))
    } else if stat.mode != 0o700 {
        finding(
            Check::ManifestRegistryMode,
            Severity::Warning,
            &subject,
            format!("{subject} has mode {:04o}; MAN-2 says 0700", stat.mode),
        )
        .with_hint(format!("chmod 700 {}", sh(dir)))
    } else {
        finding(
            Check::ManifestRegistryMode,
            Severity::Ok,
            &subject,
            format!("{subject} has mode 0700 and is owned by uid {euid}"),
        )
    });
}

// ------------------------------------------------------------------ limits

fn limit_text(limit: u64) -> String {
    if limit == u64::MAX {
        "unlimited".to_owned()
    } else {
        limit.to_string()
    }
}

fn judge_fds(fds: &FdFacts, out: &mut Vec<Finding>) {
    let subject = "RLIMIT_NOFILE";
    let (soft, hard) = (limit_text(fds.soft), limit_text(fds.hard));
    out.push(if fds.soft >= FDS_FOR_10K_CONNECTIONS {
        finding(
            Check::FdLimit,
            Severity::Ok,
            subject,
            format!("descriptor limit: soft {soft}, hard {hard}; enough for 10 000 connections"),
        )
    } else if fds.hard >= FDS_FOR_10K_CONNECTIONS {
        finding(
            Check::FdLimit,
            Severity::Warning,
            subject,
            format!(
                "descriptor soft limit {soft} is below the ~{FDS_FOR_10K_CONNECTIONS} that 10 000 \
                 connections need; the reference broker raises it to the hard limit ({hard}) when \
                 it starts, other brokers may not"
            ),
        )
        .with_hint(format!("ulimit -n {hard} before starting the broker"))
    } else {
        finding(
            Check::FdLimit,
            Severity::Warning,
            subject,
            format!(
                "descriptor limits soft {soft}, hard {hard}: even the hard limit is below the \
                 ~{FDS_FOR_10K_CONNECTIONS} that 10 000 connections need (a broker raises soft to \
                 hard, no further)"
            ),
        )
        .with_hint(
            "raise the hard limit (LimitNOFILE=65536 in the service unit, or nofile in \
             /etc/security/limits.conf), then ulimit -n 65536",
        )
    });
    out.push(match &fds.open {
        Ok(open) => finding(
            Check::FdUsage,
            Severity::Info,
            subject,
            format!("doctor itself has {open} descriptors open (soft limit {soft})"),
        ),
        Err(e) => finding(
            Check::FdUsage,
            Severity::Info,
            subject,
            format!("open descriptors cannot be counted: {e}"),
        ),
    });
}

// -------------------------------------------------------------- filesystem

/// `part` as a whole percentage of `whole` (rounded down; `whole` > 0).
fn percent(part: u64, whole: u64) -> u64 {
    (u128::from(part) * 100 / u128::from(whole)) as u64
}

fn judge_filesystem(fs: &FilesystemFacts, out: &mut Vec<Finding>) {
    let subject = shown(&fs.probed);
    let stats = match &fs.stats {
        Ok(stats) => stats,
        Err(e) => {
            out.push(finding(
                Check::FilesystemInodes,
                Severity::Warning,
                &subject,
                format!("the file system holding {subject} cannot be examined: {e}"),
            ));
            return;
        }
    };
    let elsewhere = "or point XDG_RUNTIME_DIR (or --socket) at another file system";
    out.push(if stats.read_only {
        finding(
            Check::FilesystemWritable,
            Severity::Error,
            &subject,
            format!(
                "the file system holding {subject} is mounted read-only; no socket can be created"
            ),
        )
        .with_hint(format!("remount it read-write, {elsewhere}"))
    } else {
        finding(
            Check::FilesystemWritable,
            Severity::Ok,
            &subject,
            format!("the file system holding {subject} is writable"),
        )
    });
    out.push(level_finding(
        Check::FilesystemInodes,
        &subject,
        "inode counts",
        (stats.files_available, stats.files),
        |available, total| format!("{available} of {total} inodes"),
        format!("delete unneeded files there, {elsewhere}"),
    ));
    let mib = |blocks: u64| u128::from(blocks) * u128::from(stats.fragment_size) / (1 << 20);
    out.push(level_finding(
        Check::FilesystemSpace,
        &subject,
        "block counts",
        (stats.blocks_available, stats.blocks),
        |available, total| format!("{} MiB of {} MiB", mib(available), mib(total)),
        format!("free space there, {elsewhere}"),
    ));
}

/// Free inodes or blocks: error at none, warning under
/// [`LOW_FREE_PERCENT`], else ok; info when the file system does not count
/// them. `amount` renders "available of total" for people.
fn level_finding(
    check: Check,
    subject: &str,
    what: &str,
    (available, total): (u64, u64),
    amount: impl Fn(u64, u64) -> String,
    hint: String,
) -> Finding {
    if total == 0 {
        return finding(
            check,
            Severity::Info,
            subject,
            format!("the file system holding {subject} does not report {what}"),
        );
    }
    let pct = percent(available, total);
    let text = format!(
        "{} free ({pct}%) on the file system holding {subject}",
        amount(available, total)
    );
    if available == 0 {
        finding(
            check,
            Severity::Error,
            subject,
            format!("{text}; a broker cannot create its socket"),
        )
        .with_hint(hint)
    } else if pct < LOW_FREE_PERCENT {
        finding(
            check,
            Severity::Warning,
            subject,
            format!("{text}; under {LOW_FREE_PERCENT}%"),
        )
        .with_hint(hint)
    } else {
        finding(check, Severity::Ok, subject, text)
    }
}

// --------------------------------------------------------------- event log

fn judge_event_log(log: &EventLogFacts) -> Finding {
    let subject = shown(&log.path);
    match &log.verdict {
        Ok(verdict @ LogVerdict::Intact { .. }) => finding(
            Check::EventLogVerify,
            Severity::Ok,
            &subject,
            format!("{subject}: {verdict} (EVT-3)"),
        ),
        Ok(verdict @ LogVerdict::Broken { .. }) => finding(
            Check::EventLogVerify,
            Severity::Error,
            &subject,
            format!("{subject}: {verdict} (EVT-3)"),
        )
        .with_hint(format!(
            "see the records before the break: broker-conformance events tail {}; keep the file \
             as evidence and start a new log",
            sh(&log.path)
        )),
        Err(EventLogUnread::Missing) => finding(
            Check::EventLogVerify,
            Severity::Info,
            &subject,
            format!("{subject} does not exist yet; a broker creates it (mode 0600)"),
        ),
        Err(EventLogUnread::Unreadable(e)) => finding(
            Check::EventLogVerify,
            Severity::Error,
            &subject,
            format!("{subject} cannot be read: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::definitions::DirSource;
    use crate::doctor::Report;
    use crate::doctor::facts::{FsStats, PATH_VARIABLES};
    use crate::proto::v1;

    const UID: u32 = 1000;

    fn dir_stat(mode: u32) -> Entry {
        Entry::Present(EntryStat {
            kind: EntryKind::Directory,
            uid: UID,
            mode,
        })
    }

    fn definition(service: &str) -> v1::ServiceDefinition {
        v1::ServiceDefinition {
            service_name: service.into(),
            binary_path: format!("/opt/{service}/1.0.0/bin/{service}"),
            per_version_binary_dir: format!("/opt/{service}/1.0.0"),
            ..Default::default()
        }
    }

    fn good_binary(def: &v1::ServiceDefinition) -> BinaryFacts {
        BinaryFacts {
            entry: Entry::Present(EntryStat {
                kind: EntryKind::RegularFile,
                uid: UID,
                mode: 0o755,
            }),
            resolved: Ok(PathBuf::from(&def.binary_path)),
            blake3: Some(Ok([0xab; 32])),
        }
    }

    fn file(
        service: &str,
        generation: Generation,
        def: v1::ServiceDefinition,
    ) -> DefinitionFileFacts {
        let binary = Some(good_binary(&def));
        DefinitionFileFacts {
            path: PathBuf::from("/defs").join(service_def_file_name(service, generation)),
            service: service.into(),
            generation,
            content: Ok(Some(def)),
            binary,
        }
    }

    /// A setup with nothing to complain about.
    fn healthy() -> Facts {
        let sock = PathBuf::from("/run/user/1000/running-process/broker/b.sock");
        Facts {
            euid: UID,
            allow_privileged: None,
            socket: SocketFacts {
                dir: PathBuf::from("/run/user/1000/running-process/broker"),
                path: Ok(sock),
                source: SocketSource::Flag,
                dir_entry: dir_stat(0o700),
                entry: Entry::Missing,
                state: Some(Ok(SocketPathState::Absent)),
            },
            definitions: DefinitionDirFacts::Resolved {
                dir: PathBuf::from("/defs"),
                source: DirSource::Flag,
                check: Ok(()),
                files: Ok(vec![file("svc", Generation::V1, definition("svc"))]),
            },
            env: PATH_VARIABLES
                .iter()
                .map(|&name| EnvVarFacts {
                    name,
                    value: None,
                    entry: None,
                })
                .collect(),
            manifest_registry: Some(ManifestRegistryFacts {
                dir: PathBuf::from("/data/manifests"),
                source: DirSource::Variable("XDG_DATA_HOME"),
                entry: dir_stat(0o700),
            }),
            fds: FdFacts {
                soft: 65_536,
                hard: 65_536,
                open: Ok(4),
            },
            filesystem: FilesystemFacts {
                probed: PathBuf::from("/run/user/1000"),
                stats: Ok(FsStats {
                    fragment_size: 4096,
                    blocks: 1000,
                    blocks_available: 500,
                    files: 1000,
                    files_available: 500,
                    read_only: false,
                }),
            },
            event_log: None,
        }
    }

    fn report(facts: &Facts) -> Report {
        Report {
            findings: judge(facts),
        }
    }

    /// The severities of `check`'s findings.
    fn severities(facts: &Facts, check: Check) -> Vec<Severity> {
        report(facts).of(check).map(|f| f.severity).collect()
    }

    fn only(facts: &Facts, check: Check) -> Finding {
        let found: Vec<Finding> = report(facts).of(check).cloned().collect();
        assert_eq!(found.len(), 1, "{check:?}: {found:#?}");
        found[0].clone()
    }

    #[test]
    fn a_healthy_setup_has_no_warning_or_error() {
        let r = report(&healthy());
        let bad: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(r.healthy());
        for check in [
            Check::SocketDirMode,
            Check::SocketDirOwner,
            Check::DefinitionDirMode,
            Check::DefinitionLoad,
            Check::DefinitionBinary,
            Check::DefinitionContainment,
        ] {
            assert_eq!(severities(&healthy(), check), [Severity::Ok], "{check:?}");
        }
        let hash = only(&healthy(), Check::DefinitionHash);
        assert_eq!(hash.severity, Severity::Info);
        assert!(hash.message.contains(&"ab".repeat(8)), "{}", hash.message);
    }

    #[test]
    fn a_wide_socket_dir_is_an_error_with_a_chmod_hint() {
        let mut facts = healthy();
        facts.socket.dir_entry = dir_stat(0o755);
        let f = only(&facts, Check::SocketDirMode);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("0755"), "{}", f.message);
        assert_eq!(
            f.hint.as_deref(),
            Some("chmod 700 /run/user/1000/running-process/broker")
        );
        assert!(!report(&facts).healthy());
    }

    #[test]
    fn a_missing_socket_dir_is_only_a_warning() {
        let mut facts = healthy();
        facts.socket.dir_entry = Entry::Missing;
        assert_eq!(
            severities(&facts, Check::SocketDirExists),
            [Severity::Warning]
        );
        assert!(severities(&facts, Check::SocketDirMode).is_empty());
        assert!(report(&facts).healthy());
    }

    #[test]
    fn a_symlinked_or_foreign_socket_dir_is_refused() {
        let mut facts = healthy();
        facts.socket.dir_entry = Entry::Present(EntryStat {
            kind: EntryKind::Symlink,
            uid: UID,
            mode: 0o777,
        });
        let f = only(&facts, Check::SocketDirType);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("symlink"), "{}", f.message);
        assert!(severities(&facts, Check::SocketDirMode).is_empty());

        facts.socket.dir_entry = Entry::Present(EntryStat {
            kind: EntryKind::Directory,
            uid: UID + 1,
            mode: 0o700,
        });
        let f = only(&facts, Check::SocketDirOwner);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("uid 1001"), "{}", f.message);
        assert_eq!(severities(&facts, Check::SocketDirMode), [Severity::Ok]);
    }

    #[test]
    fn socket_states_map_to_their_severities() {
        let cases = [
            (SocketPathState::Absent, Severity::Info, "no broker"),
            (SocketPathState::Live, Severity::Info, "is listening"),
            (SocketPathState::Stale, Severity::Warning, "stale"),
            (
                SocketPathState::NotASocket,
                Severity::Error,
                "a regular file",
            ),
        ];
        for (state, severity, text) in cases {
            let mut facts = healthy();
            facts.socket.state = Some(Ok(state));
            facts.socket.entry = Entry::Present(EntryStat {
                kind: if state == SocketPathState::NotASocket {
                    EntryKind::RegularFile
                } else {
                    EntryKind::Socket
                },
                uid: UID,
                mode: 0o600,
            });
            let f = only(&facts, Check::SocketState);
            assert_eq!(f.severity, severity, "{state:?}");
            assert!(f.message.contains(text), "{state:?}: {}", f.message);
        }
    }

    #[test]
    fn an_overlong_socket_path_is_an_error() {
        let mut facts = healthy();
        facts.socket.path = Ok(PathBuf::from(format!("/{}", "s".repeat(120))));
        assert_eq!(severities(&facts, Check::SocketPath), [Severity::Error]);
    }

    #[test]
    fn root_is_a_warning_unless_allowed_and_a_bad_opt_in_is_an_error() {
        let mut facts = healthy();
        facts.euid = 0;
        assert_eq!(
            severities(&facts, Check::PrivilegeRoot),
            [Severity::Warning]
        );
        let hint = only(&facts, Check::PrivilegeRoot).hint.unwrap_or_default();
        assert!(hint.contains(env_vars::ALLOW_PRIVILEGED), "{hint}");
        facts.allow_privileged = Some("1".into());
        assert_eq!(severities(&facts, Check::PrivilegeRoot), [Severity::Info]);
        facts.allow_privileged = Some("yes".into());
        assert_eq!(severities(&facts, Check::PrivilegeRoot), [Severity::Error]);
    }

    fn with_definition_dir(check: Result<(), DirProblem>) -> Facts {
        let mut facts = healthy();
        if let DefinitionDirFacts::Resolved { check: c, .. } = &mut facts.definitions {
            *c = check;
        }
        facts
    }

    #[test]
    fn an_insecure_definition_dir_is_an_error_and_a_missing_one_a_warning() {
        let facts = with_definition_dir(Err(DirProblem::Insecure {
            path: PathBuf::from("/defs"),
            mode: 0o755,
        }));
        let f = only(&facts, Check::DefinitionDirMode);
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.hint.as_deref(), Some("chmod 700 /defs"));
        let facts = with_definition_dir(Err(DirProblem::Missing {
            path: PathBuf::from("/defs"),
        }));
        assert_eq!(
            severities(&facts, Check::DefinitionDirExists),
            [Severity::Warning]
        );
        assert!(report(&facts).healthy());
    }

    #[test]
    fn no_definition_dir_at_all_is_an_error() {
        let mut facts = healthy();
        facts.definitions = DefinitionDirFacts::Unresolved;
        assert_eq!(
            severities(&facts, Check::DefinitionDirLocation),
            [Severity::Error]
        );
    }

    fn with_files(files: Vec<DefinitionFileFacts>) -> Facts {
        let mut facts = healthy();
        if let DefinitionDirFacts::Resolved { files: f, .. } = &mut facts.definitions {
            *f = Ok(files);
        }
        facts
    }

    #[test]
    fn every_svc_3_problem_of_a_file_is_reported() {
        let mut def = definition("svc");
        def.binary_path = "bin/svc".into();
        def.min_version = "1.0".into();
        let mut f = file("svc", Generation::V1, def);
        f.binary = None;
        let facts = with_files(vec![f]);
        let load = severities(&facts, Check::DefinitionLoad);
        assert_eq!(load, [Severity::Error, Severity::Error]);
        assert!(severities(&facts, Check::DefinitionBinary).is_empty());
    }

    #[test]
    fn a_binary_outside_its_dir_fails_containment() {
        let def = definition("svc");
        let mut f = file("svc", Generation::V1, def);
        if let Some(b) = &mut f.binary {
            b.resolved =
                Err("binary /x/svc is not inside per_version_binary_dir /opt (LCH-1)".into());
        }
        let facts = with_files(vec![f]);
        let found = only(&facts, Check::DefinitionContainment);
        assert_eq!(found.severity, Severity::Error);
        assert!(found.message.contains("not inside"), "{}", found.message);
    }

    #[test]
    fn a_missing_or_non_executable_binary_is_an_error() {
        let mut f = file("svc", Generation::V1, definition("svc"));
        if let Some(b) = &mut f.binary {
            b.entry = Entry::Missing;
            b.resolved = Err("binary_path: No such file".into());
            b.blake3 = None;
        }
        let facts = with_files(vec![f.clone()]);
        assert_eq!(
            severities(&facts, Check::DefinitionBinary),
            [Severity::Error]
        );
        assert!(
            severities(&facts, Check::DefinitionContainment).is_empty(),
            "a missing binary is reported once"
        );
        if let Some(b) = &mut f.binary {
            b.entry = Entry::Present(EntryStat {
                kind: EntryKind::RegularFile,
                uid: UID,
                mode: 0o644,
            });
        }
        let found = only(&with_files(vec![f]), Check::DefinitionBinary);
        assert_eq!(found.severity, Severity::Error);
        assert_eq!(
            found.hint.as_deref(),
            Some("chmod +x /opt/svc/1.0.0/bin/svc")
        );
    }

    #[test]
    fn a_v2_file_shadows_the_v1_file_whose_problems_become_warnings() {
        let mut broken = definition("svc");
        broken.binary_path = "rel".into();
        let mut v1_file = file("svc", Generation::V1, broken);
        v1_file.binary = None;
        let facts = with_files(vec![
            v1_file,
            file("svc", Generation::V2, definition("svc")),
        ]);
        let shadowed = only(&facts, Check::DefinitionShadowed);
        assert_eq!(shadowed.severity, Severity::Info);
        assert!(
            shadowed.message.contains("svc.servicedef.v2"),
            "{}",
            shadowed.message
        );
        assert_eq!(
            severities(&facts, Check::DefinitionLoad),
            [Severity::Warning, Severity::Ok]
        );
        assert!(report(&facts).healthy());
    }

    #[test]
    fn a_dangling_v2_file_shadows_nothing() {
        let mut dangling = file("svc", Generation::V2, definition("svc"));
        dangling.content = Ok(None);
        dangling.binary = None;
        let facts = with_files(vec![
            file("svc", Generation::V1, definition("svc")),
            dangling,
        ]);
        assert!(severities(&facts, Check::DefinitionShadowed).is_empty());
        assert_eq!(
            severities(&facts, Check::DefinitionLoad),
            [Severity::Ok, Severity::Warning]
        );
    }

    #[test]
    fn an_undecodable_file_is_an_error() {
        let mut f = file("svc", Generation::V2, definition("svc"));
        f.content = Err("/defs/svc.servicedef.v2: not a valid v2 ServiceDefinition".into());
        f.binary = None;
        assert_eq!(
            severities(&with_files(vec![f]), Check::DefinitionLoad),
            [Severity::Error]
        );
    }

    #[test]
    fn a_low_soft_descriptor_limit_warns_with_ulimit() {
        let mut facts = healthy();
        facts.fds.soft = 1024;
        let f = only(&facts, Check::FdLimit);
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.message.contains("raises it to the hard limit"),
            "{}",
            f.message
        );
        assert_eq!(
            f.hint.as_deref(),
            Some("ulimit -n 65536 before starting the broker")
        );
        facts.fds.hard = 4096;
        let f = only(&facts, Check::FdLimit);
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.message.contains("hard 4096"), "{}", f.message);
    }

    fn with_inodes(files_available: u64, files: u64) -> Facts {
        let mut facts = healthy();
        if let Ok(stats) = &mut facts.filesystem.stats {
            stats.files = files;
            stats.files_available = files_available;
        }
        facts
    }

    #[test]
    fn free_inodes_warn_under_five_percent_and_fail_at_zero() {
        assert_eq!(
            severities(&with_inodes(500, 1000), Check::FilesystemInodes),
            [Severity::Ok]
        );
        assert_eq!(
            severities(&with_inodes(49, 1000), Check::FilesystemInodes),
            [Severity::Warning]
        );
        assert_eq!(
            severities(&with_inodes(0, 1000), Check::FilesystemInodes),
            [Severity::Error]
        );
        assert_eq!(
            severities(&with_inodes(0, 0), Check::FilesystemInodes),
            [Severity::Info]
        );
    }

    #[test]
    fn a_read_only_file_system_is_an_error() {
        let mut facts = healthy();
        if let Ok(stats) = &mut facts.filesystem.stats {
            stats.read_only = true;
        }
        assert_eq!(
            severities(&facts, Check::FilesystemWritable),
            [Severity::Error]
        );
    }

    #[test]
    fn a_broken_event_log_names_the_record() {
        let mut facts = healthy();
        facts.event_log = Some(EventLogFacts {
            path: PathBuf::from("/log"),
            verdict: Ok(LogVerdict::Broken {
                record: 3,
                offset: 120,
                problem: "chain".into(),
            }),
        });
        let f = only(&facts, Check::EventLogVerify);
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("record 3"), "{}", f.message);
        facts.event_log = Some(EventLogFacts {
            path: PathBuf::from("/log"),
            verdict: Err(EventLogUnread::Missing),
        });
        assert_eq!(severities(&facts, Check::EventLogVerify), [Severity::Info]);
    }

    #[test]
    fn manifest_registry_mode_other_than_0700_warns() {
        let mut facts = healthy();
        if let Some(r) = &mut facts.manifest_registry {
            r.entry = dir_stat(0o755);
        }
        let f = only(&facts, Check::ManifestRegistryMode);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.hint.as_deref(), Some("chmod 700 /data/manifests"));
    }

    #[test]
    fn relative_path_variables_warn() {
        let mut facts = healthy();
        facts.env[0].value = Some("run".into());
        assert_eq!(
            report(&facts)
                .of(Check::EnvVariable)
                .map(|f| f.severity)
                .max(),
            Some(Severity::Warning)
        );
    }

    #[test]
    fn shell_hints_quote_awkward_paths() {
        assert_eq!(sh(Path::new("/a/b-c.d")), "/a/b-c.d");
        assert_eq!(sh(Path::new("/a b")), "'/a b'");
        assert_eq!(sh(Path::new("/it's")), r"'/it'\''s'");
    }
}
