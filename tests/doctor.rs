//! `doctor` against real directories, files and sockets: each broken setup
//! gives its check id, severity and exit code; `--json` says what the text
//! says; and doctor changes nothing it looks at.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use broker_conformance::definitions::{
    DirSource, Generation, ServiceDefinitionBuilder, service_def_file_name,
    write_service_definition, write_service_definition_v2,
};
use broker_conformance::doctor::{
    Check, DoctorOptions, Report, Severity, diagnose, render_json, render_text,
};
use broker_conformance::env::MapEnv;
use broker_conformance::events::{EventKind, EventLog, encode_record, new_event};
use broker_conformance::proto::v1;
use broker_conformance::wire::env_vars;
use prost::Message;
use serde_json::Value;
use tempfile::TempDir;

// ------------------------------------------------------------------ helpers

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A complete, healthy setup in a short temp directory:
/// `sock/` (0700) for the broker socket, `defs/` (0700) holding
/// `svc.servicedef` whose binary `bin/1.0.0/svc` is inside its
/// `per_version_binary_dir`, and `home/` as HOME.
struct Setup {
    root: TempDir,
}

impl Setup {
    fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("dr")
            .tempdir_in("/tmp")
            .unwrap();
        let setup = Self { root };
        fs::create_dir(setup.sock_dir()).unwrap();
        chmod(&setup.sock_dir(), 0o700);
        fs::create_dir(setup.home()).unwrap();
        fs::create_dir_all(setup.version_dir()).unwrap();
        fs::write(setup.binary(), b"#!/bin/sh\nexit 0\n").unwrap();
        chmod(&setup.binary(), 0o755);
        let def = ServiceDefinitionBuilder::new("svc")
            .binary_path(setup.binary())
            .per_version_binary_dir(setup.version_dir())
            .build()
            .unwrap();
        write_service_definition(&setup.defs(), &def).unwrap();
        chmod(&setup.defs(), 0o700);
        setup
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
    fn sock_dir(&self) -> PathBuf {
        self.path("sock")
    }
    fn socket(&self) -> PathBuf {
        self.path("sock/b.sock")
    }
    fn defs(&self) -> PathBuf {
        self.path("defs")
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }
    fn version_dir(&self) -> PathBuf {
        self.path("bin/1.0.0")
    }
    fn binary(&self) -> PathBuf {
        self.path("bin/1.0.0/svc")
    }
    fn def_file(&self, generation: Generation) -> PathBuf {
        self.defs().join(service_def_file_name("svc", generation))
    }

    /// Writes `def` as raw bytes, bypassing the builder's checks.
    fn write_raw_definition(&self, def: &v1::ServiceDefinition) {
        fs::write(self.def_file(Generation::V1), def.encode_to_vec()).unwrap();
    }

    fn env(&self) -> MapEnv {
        MapEnv::from_pairs([("HOME", self.home().to_str().unwrap())])
    }

    fn options(&self) -> DoctorOptions {
        DoctorOptions {
            socket: Some(self.socket()),
            service_def_dir: Some(self.defs()),
            event_log: None,
        }
    }

    fn diagnose(&self) -> Report {
        diagnose(&self.options(), &self.env()).unwrap()
    }

    /// `broker-conformance doctor` with only HOME set and the setup's
    /// socket and definition directory.
    fn cli(&self, extra: &[&str]) -> std::process::Output {
        Command::cargo_bin("broker-conformance")
            .unwrap()
            .env_clear()
            .env("HOME", self.home())
            .arg("doctor")
            .arg("--socket")
            .arg(self.socket())
            .arg("--service-def-dir")
            .arg(self.defs())
            .args(extra)
            .output()
            .unwrap()
    }
}

/// The severities of `check`'s findings.
fn severities(report: &Report, check: Check) -> Vec<Severity> {
    report.of(check).map(|f| f.severity).collect()
}

fn message(report: &Report, check: Check) -> String {
    report
        .of(check)
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn exit_code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The JSON findings whose id is `id`, as (severity, message).
fn json_findings(value: &Value, id: &str) -> Vec<(String, String)> {
    value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// ------------------------------------------------------------ healthy setup

#[test]
fn a_healthy_setup_has_no_error_and_exits_0() {
    let setup = Setup::new();
    let report = setup.diagnose();
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for check in [
        Check::SocketDirExists,
        Check::SocketDirType,
        Check::SocketDirOwner,
        Check::SocketDirMode,
        Check::DefinitionDirMode,
        Check::DefinitionLoad,
        Check::DefinitionBinary,
        Check::DefinitionContainment,
    ] {
        assert_eq!(severities(&report, check), [Severity::Ok], "{check:?}");
    }
    assert_eq!(severities(&report, Check::SocketState), [Severity::Info]);
    let hash = broker_conformance::inspect::to_hex(
        &broker_conformance::sys::blake3_file(&setup.binary()).unwrap(),
    );
    assert!(
        message(&report, Check::DefinitionHash).contains(&hash[..16]),
        "{}",
        message(&report, Check::DefinitionHash)
    );

    let output = setup.cli(&[]);
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("healthy: 0 errors"), "{text}");
}

#[test]
fn the_directories_come_from_the_environment_when_no_flag_is_given() {
    let setup = Setup::new();
    let runtime = setup.path("rt");
    let env = MapEnv::from_pairs([
        ("XDG_RUNTIME_DIR", runtime.to_str().unwrap()),
        (env_vars::SERVICE_DEF_DIR, setup.defs().to_str().unwrap()),
        ("HOME", setup.home().to_str().unwrap()),
    ]);
    let report = diagnose(&DoctorOptions::default(), &env).unwrap();
    let broker_dir = runtime.join("running-process/broker");
    let path = report.of(Check::SocketPath).next().unwrap();
    assert!(
        Path::new(&path.subject).starts_with(&broker_dir),
        "{}",
        path.subject
    );
    assert_eq!(
        severities(&report, Check::SocketDirExists),
        [Severity::Warning]
    );
    let location = message(&report, Check::DefinitionDirLocation);
    assert!(
        location.contains(&DirSource::Variable(env_vars::SERVICE_DEF_DIR).to_string()),
        "{location}"
    );
    assert_eq!(severities(&report, Check::DefinitionLoad), [Severity::Ok]);
    let registry = message(&report, Check::ManifestRegistryLocation);
    assert!(registry.contains("(from $HOME"), "{registry}");
}

// ----------------------------------------------------------- broken setups

#[test]
fn a_0755_socket_dir_is_a_socket_dir_mode_error_and_exits_1() {
    let setup = Setup::new();
    chmod(&setup.sock_dir(), 0o755);
    let report = setup.diagnose();
    assert_eq!(severities(&report, Check::SocketDirMode), [Severity::Error]);
    let finding = report.of(Check::SocketDirMode).next().unwrap();
    assert_eq!(
        finding.hint.as_deref(),
        Some(format!("chmod 700 {}", setup.sock_dir().display()).as_str())
    );
    assert_eq!(exit_code(&setup.cli(&[])), 1);
}

#[test]
fn a_symlinked_socket_dir_is_a_socket_dir_type_error() {
    let setup = Setup::new();
    let link = setup.path("link");
    std::os::unix::fs::symlink(setup.sock_dir(), &link).unwrap();
    let options = DoctorOptions {
        socket: Some(link.join("b.sock")),
        ..setup.options()
    };
    let report = diagnose(&options, &setup.env()).unwrap();
    assert_eq!(severities(&report, Check::SocketDirType), [Severity::Error]);
    assert!(severities(&report, Check::SocketDirMode).is_empty());
}

#[test]
fn a_0755_definition_dir_is_a_definition_dir_mode_error_and_exits_1() {
    let setup = Setup::new();
    chmod(&setup.defs(), 0o755);
    let report = setup.diagnose();
    assert_eq!(
        severities(&report, Check::DefinitionDirMode),
        [Severity::Error]
    );
    assert!(
        message(&report, Check::DefinitionDirMode).contains("0755"),
        "{}",
        message(&report, Check::DefinitionDirMode)
    );
    assert_eq!(exit_code(&setup.cli(&[])), 1);
}

#[test]
fn a_relative_binary_path_is_a_definition_load_error_and_exits_1() {
    let setup = Setup::new();
    setup.write_raw_definition(&v1::ServiceDefinition {
        service_name: "svc".into(),
        binary_path: "bin/svc".into(),
        per_version_binary_dir: setup.version_dir().to_str().unwrap().into(),
        min_version: "1".into(),
        ..Default::default()
    });
    let report = setup.diagnose();
    assert_eq!(
        severities(&report, Check::DefinitionLoad),
        [Severity::Error, Severity::Error],
        "every SVC-3 problem is reported"
    );
    let text = message(&report, Check::DefinitionLoad);
    assert!(text.contains("\"bin/svc\" is not absolute"), "{text}");
    assert!(text.contains("min_version"), "{text}");
    assert!(
        severities(&report, Check::DefinitionBinary).is_empty(),
        "a relative binary is not looked up relative to doctor's directory"
    );
    assert_eq!(exit_code(&setup.cli(&[])), 1);
}

#[test]
fn a_binary_outside_its_dir_is_a_containment_error_and_exits_1() {
    let setup = Setup::new();
    let other = setup.path("bin/2.0.0");
    fs::create_dir_all(&other).unwrap();
    setup.write_raw_definition(&v1::ServiceDefinition {
        service_name: "svc".into(),
        binary_path: setup.binary().to_str().unwrap().into(),
        per_version_binary_dir: other.to_str().unwrap().into(),
        ..Default::default()
    });
    let report = setup.diagnose();
    assert_eq!(
        severities(&report, Check::DefinitionContainment),
        [Severity::Error]
    );
    assert!(
        message(&report, Check::DefinitionContainment).contains("not inside"),
        "{}",
        message(&report, Check::DefinitionContainment)
    );
    assert_eq!(severities(&report, Check::DefinitionBinary), [Severity::Ok]);
    assert_eq!(exit_code(&setup.cli(&[])), 1);
}

#[test]
fn a_non_executable_binary_is_a_definition_binary_error() {
    let setup = Setup::new();
    chmod(&setup.binary(), 0o644);
    let report = setup.diagnose();
    assert_eq!(
        severities(&report, Check::DefinitionBinary),
        [Severity::Error]
    );
}

#[test]
fn a_stale_socket_is_a_warning_exits_0_and_is_left_in_place() {
    let setup = Setup::new();
    drop(UnixListener::bind(setup.socket()).unwrap());
    let report = setup.diagnose();
    assert_eq!(severities(&report, Check::SocketState), [Severity::Warning]);
    assert!(
        message(&report, Check::SocketState).contains("stale"),
        "{}",
        message(&report, Check::SocketState)
    );
    assert_eq!(exit_code(&setup.cli(&[])), 0);
    assert!(
        fs::symlink_metadata(setup.socket()).is_ok(),
        "doctor must not remove a stale socket"
    );
}

#[test]
fn a_live_socket_is_reported_as_a_listening_broker() {
    let setup = Setup::new();
    let _listener = UnixListener::bind(setup.socket()).unwrap();
    let report = setup.diagnose();
    assert_eq!(severities(&report, Check::SocketState), [Severity::Info]);
    assert!(
        message(&report, Check::SocketState).contains("a broker is listening"),
        "{}",
        message(&report, Check::SocketState)
    );
}

#[test]
fn a_regular_file_at_the_socket_path_is_a_socket_state_error_and_exits_1() {
    let setup = Setup::new();
    fs::write(setup.socket(), b"not a socket").unwrap();
    let report = setup.diagnose();
    assert_eq!(severities(&report, Check::SocketState), [Severity::Error]);
    assert!(
        message(&report, Check::SocketState).contains("a regular file"),
        "{}",
        message(&report, Check::SocketState)
    );
    assert_eq!(exit_code(&setup.cli(&[])), 1);
}

#[test]
fn a_v2_file_shadows_its_v1_file() {
    let setup = Setup::new();
    let def = ServiceDefinitionBuilder::new("svc")
        .binary_path(setup.binary())
        .per_version_binary_dir(setup.version_dir())
        .build_v2(None)
        .unwrap();
    write_service_definition_v2(&setup.defs(), &def).unwrap();
    let report = setup.diagnose();
    let shadowed: Vec<_> = report.of(Check::DefinitionShadowed).collect();
    assert_eq!(shadowed.len(), 1, "{shadowed:#?}");
    assert_eq!(shadowed[0].severity, Severity::Info);
    assert_eq!(
        Path::new(&shadowed[0].subject),
        setup.def_file(Generation::V1)
    );
    assert_eq!(
        severities(&report, Check::DefinitionLoad),
        [Severity::Ok, Severity::Ok]
    );
}

#[test]
fn an_event_log_is_verified_and_a_break_names_the_record() {
    let setup = Setup::new();
    let path = setup.path("events.log");
    let log = EventLog::open(&path).unwrap();
    for _ in 0..3 {
        log.append(new_event(EventKind::HelloAccepted, "svc", "ok"))
            .unwrap();
    }
    drop(log);
    let options = DoctorOptions {
        event_log: Some(path.clone()),
        ..setup.options()
    };
    let report = diagnose(&options, &setup.env()).unwrap();
    assert_eq!(severities(&report, Check::EventLogVerify), [Severity::Ok]);

    // A record without its chain entry breaks the log at index 3.
    let unchained = encode_record(&new_event(EventKind::HelloAccepted, "svc", "forged"));
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&unchained)
        .unwrap();
    let report = diagnose(&options, &setup.env()).unwrap();
    assert_eq!(
        severities(&report, Check::EventLogVerify),
        [Severity::Error]
    );
    assert!(
        message(&report, Check::EventLogVerify).contains("record 3"),
        "{}",
        message(&report, Check::EventLogVerify)
    );
    let output = setup.cli(&["--event-log", path.to_str().unwrap()]);
    assert_eq!(exit_code(&output), 1);
}

// ----------------------------------------------------------- output, usage

/// Checks that every text line is the JSON finding at the same position:
/// severity, id and (unless `volatile` says the value changes between runs)
/// message and hint.
fn assert_text_matches_json(text: &str, value: &Value, volatile: impl Fn(&str) -> bool) {
    let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
    let finding_lines: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('['))
        .collect();
    let findings = value["findings"].as_array().unwrap();
    assert_eq!(findings.len(), finding_lines.len(), "{text}");
    for (finding, line) in findings.iter().zip(&finding_lines) {
        let id = finding["id"].as_str().unwrap();
        let head = format!("[{}]", finding["severity"].as_str().unwrap());
        assert!(line.starts_with(&head), "{line} vs {finding}");
        let tail = if volatile(id) {
            format!(" {id}: ")
        } else {
            format!(" {id}: {}", finding["message"].as_str().unwrap())
        };
        assert!(
            if volatile(id) {
                line.contains(&tail)
            } else {
                line.ends_with(&tail)
            },
            "{line} vs {finding}"
        );
        if let Some(hint) = finding["hint"].as_str().filter(|_| !volatile(id)) {
            assert!(lines.contains(&format!("fix: {hint}").as_str()), "{hint}");
        }
    }
    let errors = findings.iter().filter(|f| f["severity"] == "error").count();
    assert_eq!(value["counts"]["error"], errors);
    assert_eq!(value["healthy"], errors == 0);
}

#[test]
fn json_parses_and_says_what_the_text_says() {
    let setup = Setup::new();
    chmod(&setup.sock_dir(), 0o750);
    drop(UnixListener::bind(setup.socket()).unwrap());

    // One report, both renderings: identical findings.
    let report = setup.diagnose();
    let value = render_json(&report);
    assert_text_matches_json(&render_text(&report), &value, |_| false);

    // Two runs of the command: free inodes, space and descriptors may move
    // between them; everything else must agree.
    let text_output = setup.cli(&[]);
    let json_output = setup.cli(&["--json"]);
    assert_eq!(exit_code(&text_output), 1);
    assert_eq!(exit_code(&json_output), 1);
    let value = json_of(&json_output);
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["command"], "doctor");
    assert_eq!(value["healthy"], false);
    let text = String::from_utf8(text_output.stdout).unwrap();
    assert_text_matches_json(&text, &value, |id| {
        id.starts_with("filesystem.") || id == "fds.usage"
    });
    assert_eq!(json_findings(&value, "socket-dir.mode")[0].0, "error");
    assert_eq!(json_findings(&value, "socket.state")[0].0, "warning");
}

#[test]
fn bad_flags_exit_2() {
    let setup = Setup::new();
    let relative = Command::cargo_bin("broker-conformance")
        .unwrap()
        .env_clear()
        .args(["doctor", "--socket", "relative.sock"])
        .output()
        .unwrap();
    assert_eq!(exit_code(&relative), 2);
    assert!(
        String::from_utf8_lossy(&relative.stderr).contains("absolute"),
        "{}",
        String::from_utf8_lossy(&relative.stderr)
    );
    assert_eq!(exit_code(&setup.cli(&["--no-such-flag"])), 2);
}

// ---------------------------------------------------------------- read-only

/// Everything about a tree that doctor could change: kind, mode, owner,
/// size, modification time and content of every entry.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let content = if meta.is_file() {
            broker_conformance::inspect::to_hex(blake3::hash(&fs::read(&path).unwrap()).as_bytes())
        } else if meta.file_type().is_symlink() {
            fs::read_link(&path).unwrap().display().to_string()
        } else {
            String::new()
        };
        out.insert(
            path.clone(),
            format!(
                "{:?} {:o} {} {} {}.{} {content}",
                meta.file_type(),
                meta.mode(),
                meta.uid(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec()
            ),
        );
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    out
}

#[test]
fn doctor_changes_nothing_it_examines() {
    let setup = Setup::new();
    // Everything doctor would like fixed: wide modes, a stale socket, a
    // foreign binary directory, a definition directory that is fine, a
    // missing socket directory for the default path, a missing event log.
    chmod(&setup.sock_dir(), 0o755);
    chmod(&setup.defs(), 0o755);
    drop(UnixListener::bind(setup.socket()).unwrap());
    let registry = setup.path("manifests");
    fs::create_dir(&registry).unwrap();
    chmod(&registry, 0o755);
    let runtime = setup.path("rt");
    let before = snapshot(setup.root.path());

    let output = Command::cargo_bin("broker-conformance")
        .unwrap()
        .env_clear()
        .env("HOME", setup.home())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env(env_vars::MANIFEST_DIR, &registry)
        .env(env_vars::SERVICE_DEF_DIR, setup.defs())
        .args(["doctor", "--event-log"])
        .arg(setup.path("events.log"))
        .output()
        .unwrap();
    assert_eq!(
        exit_code(&output),
        1,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    setup.cli(&["--json"]);
    setup.diagnose();

    assert_eq!(snapshot(setup.root.path()), before);
    assert!(
        !runtime.exists(),
        "the default socket directory is not created"
    );
}

#[test]
fn a_dangling_v2_symlink_does_not_shadow_the_v1_file() {
    let setup = Setup::new();
    std::os::unix::fs::symlink(setup.path("nowhere"), setup.def_file(Generation::V2)).unwrap();
    let report = setup.diagnose();
    assert!(report.of(Check::DefinitionShadowed).next().is_none());
    assert_eq!(
        severities(&report, Check::DefinitionLoad),
        [Severity::Ok, Severity::Warning]
    );
    assert!(report.healthy());
}
